"""Fixtures for the collectors: local Bluesky and Mastodon servers, fast settings, a fake clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collectors.http import Clock, HostRegistry
from collectors.settings import BlueskySettings, CollectSettings, MastodonSettings
from monitor.config import Settings, load_settings
from tests.collectors.servers import FakeBluesky, FakeMastodon

FAST = {
    "timeout_seconds": 0.5,
    "retry_base_seconds": 0.001,
    "retry_max_seconds": 0.005,
    "max_retries": 2,
    "max_wait_seconds": 30.0,
    "host_cooldown_seconds": 0.05,
}
MASTO_DOMAIN = "social.example.gov"


class FakeClock(Clock):
    """Monotonic time that moves only when someone sleeps; sleeps are recorded, not slept."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def monotonic(self) -> float:
        with self.lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.t += max(0.0, seconds)

    def wall(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.t - 1000.0)


@pytest.fixture
def bsky() -> Iterator[FakeBluesky]:
    server = FakeBluesky().start()
    yield server
    server.stop()


@pytest.fixture
def masto() -> Iterator[FakeMastodon]:
    server = FakeMastodon(MASTO_DOMAIN).start()
    yield server
    server.stop()


@pytest.fixture
def fast() -> CollectSettings:
    return CollectSettings(**FAST)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry(fast: CollectSettings, clock: FakeClock) -> HostRegistry:
    return HostRegistry(fast, clock)


def bluesky_settings(server: FakeBluesky, **kw: object) -> BlueskySettings:
    return BlueskySettings(appview_url=server.url, login_url=server.url, **kw)  # type: ignore[arg-type]


def mastodon_settings(server: FakeMastodon, **kw: object) -> MastodonSettings:
    return MastodonSettings(instance_urls={MASTO_DOMAIN: server.url}, **kw)  # type: ignore[arg-type]


@pytest.fixture
def make_settings(
    tmp_path: Path, bsky: FakeBluesky, masto: FakeMastodon, db_url: str
) -> Callable[..., Settings]:
    """Settings from a real config file pointing at the local servers and the test database."""

    def make(accounts: str, extra: str = "", environ: dict[str, str] | None = None) -> Settings:
        fast = "\n".join(f"{k} = {v}" for k, v in FAST.items())
        body = (
            f'[database]\nurl = "{db_url}"\n\n[collect]\n{fast}\nbackfill_days = 30\n{extra}\n'
            f'[bluesky]\nappview_url = "{bsky.url}"\nlogin_url = "{bsky.url}"\nrequests_per_5min = 30000\n\n'
            f"[mastodon]\nrequests_per_5min = 30000\n\n"
            f'[mastodon.instance_urls]\n"{MASTO_DOMAIN}" = "{masto.url}"\n\n{accounts}'
        )
        path = tmp_path / "diplomonitor.toml"
        path.write_text(body, encoding="utf-8")
        return load_settings(path, environ or {})

    return make
