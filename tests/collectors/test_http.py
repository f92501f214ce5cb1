"""Politeness, the same for both collectors: budgets, 429, 5xx, timeouts, broken bodies."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from collectors.bluesky import BlueskyCollector
from collectors.errors import HostUnavailable, RateLimited
from collectors.http import HostRegistry, host_stats
from collectors.mastodon import MastodonCollector
from collectors.ratelimit import GUARD_SECONDS, WindowLimiter
from collectors.settings import CollectSettings
from tests.collectors.conftest import MASTO_DOMAIN, FakeClock, bluesky_settings, mastodon_settings
from tests.collectors.servers import FakeBluesky, FakeMastodon, FakeServer, Fault

Call = Callable[[], object]


@pytest.fixture(params=["bluesky", "mastodon"])
def target(
    request: pytest.FixtureRequest, fast: CollectSettings, clock: FakeClock
) -> Iterator[Callable[..., tuple[FakeServer, str, Call, HostRegistry]]]:
    """(server, path, one resolve call, registry) for either collector, with settings overrides."""
    made: list[BlueskyCollector | MastodonCollector] = []
    servers: list[FakeServer] = []

    def build(**overrides: object) -> tuple[FakeServer, str, Call, HostRegistry]:
        registry = HostRegistry(replace(fast, **overrides), clock)  # type: ignore[arg-type]
        if request.param == "bluesky":
            server: FakeServer = FakeBluesky().start()
            server.add_account("did:plc:a", "a.example.org")  # type: ignore[attr-defined]
            c: BlueskyCollector | MastodonCollector = BlueskyCollector(
                bluesky_settings(server), registry.settings, registry
            )  # type: ignore[arg-type]
            path, call = "/xrpc/app.bsky.actor.getProfile", lambda: c.resolve("a.example.org")
        else:
            server = FakeMastodon(MASTO_DOMAIN).start()
            server.add_account("1", "a")  # type: ignore[attr-defined]
            c = MastodonCollector(mastodon_settings(server), registry.settings, registry)  # type: ignore[arg-type]
            path, call = "/api/v1/accounts/lookup", lambda: c.resolve(f"a@{MASTO_DOMAIN}")
        made.append(c)
        servers.append(server)
        return server, path, call, registry

    yield build
    for c in made:
        c.close()
    for s in servers:
        s.stop()


def test_429_retry_after_pauses_the_host_then_retries(target, clock: FakeClock) -> None:
    server, path, call, registry = target()
    server.fail(path, Fault(status=429, headers={"Retry-After": "7"}))
    call()
    assert len(server.calls(path)) == 2 and any(s >= 7 for s in clock.sleeps)
    stats = registry.stats()[server.host]
    assert (stats.requests, stats.errors, stats.retries, stats.rate_limit_waits) == (2, 1, 1, 1)
    assert host_stats()[server.host].requests == 2


def test_429_asking_for_too_long_is_rate_limited(target) -> None:
    server, path, call, _ = target(max_wait_seconds=60)
    server.fail(path, Fault(status=429, headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimited):
        call()
    assert len(server.calls(path)) == 1


def test_5xx_and_broken_bodies_are_retried_with_backoff(target, clock: FakeClock) -> None:
    server, path, call, registry = target()
    server.fail(path, Fault(status=500), Fault(truncate=True))
    call()
    assert len(server.calls(path)) == 3
    assert registry.stats()[server.host].retries == 2 and len(clock.sleeps) == 2


def test_timeouts_then_the_host_is_left_alone(target) -> None:
    server, path, call, registry = target(
        timeout_seconds=0.05, max_retries=1, host_failure_threshold=2, host_cooldown_seconds=300
    )
    server.fail(path, *[Fault(delay=0.3)] * 4)
    for _ in range(2):
        with pytest.raises(HostUnavailable):
            call()
    assert len(server.calls(path)) == 4
    with pytest.raises(HostUnavailable, match="paused after repeated failures"):
        call()
    assert len(server.calls(path)) == 4  # failed fast, the host was not asked again
    assert registry.stats()[server.host].errors == 4


def test_a_spent_quota_waits_for_its_reset(target, clock: FakeClock) -> None:
    server, path, call, _ = target()
    reset = {
        "ratelimit-remaining": "0",
        "ratelimit-reset": str(int(time.time()) + 20),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 20)),
    }
    server.fail(path, Fault(headers=reset))
    call()
    call()
    assert any(15 <= s <= 21 for s in clock.sleeps)


def test_window_limiter_never_exceeds_its_budget() -> None:
    rng = random.Random(7)
    limiter = WindowLimiter(per_5min=300, window=2.0)  # 2 per 2 s
    now, sent = 0.0, []
    for _ in range(500):
        now += rng.choice([0.0, 0.0, 0.01, 0.5, 3.0])
        sent.append(limiter.reserve(now))
    assert limiter.limit == 2 and sent == sorted(sent)
    span = 2.0 + GUARD_SECONDS - 1e-9  # boundaries compare equal up to float rounding
    worst = max(sum(1 for t in sent if s <= t < s + span) for s in sent)
    assert worst <= 2


def test_budget_spreads_requests_under_real_threads(fast: CollectSettings) -> None:
    """Real clock: 12 requests at 6 per 0.3 s from 6 threads span at least one window."""
    from concurrent.futures import ThreadPoolExecutor

    server = FakeBluesky().start()
    server.add_account("did:plc:a", "a.example.org")
    settings = replace(fast, budget_window_seconds=0.3, per_host_concurrency=4)
    registry = HostRegistry(settings)
    c = BlueskyCollector(replace(bluesky_settings(server), requests_per_5min=6000), settings, registry)
    try:
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda _: c.resolve("a.example.org"), range(12)))
    finally:
        c.close()
        server.stop()
    times = sorted(s.at for s in server.seen)
    assert max(sum(1 for t in times if s <= t < s + 0.3) for s in times) <= 6
    # 12 requests at 6 per window cannot fit in one window, however fast or slow the machine is;
    # how many of them had to wait depends on timing, so only "some did" is asserted.
    assert times[-1] - times[0] >= 0.3 - 0.01
    assert registry.stats()[server.host].rate_limit_waits >= 1
