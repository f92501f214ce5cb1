"""Faults the peers make for real: mastodon-mock's fault endpoint on one account's statuses, while
another account on the same instance goes on; and replies as the real AppView filters them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.interop.conftest import User, fresh_name, new_mastodon_account
from tests.interop.test_collect import peer_items, stored_items
from tests.interop.truth import bluesky_feed
from tests.interop.world import MASTODON_DOMAIN, World

# The first test's setup may install the peers (minutes) when `make peers` has not run.
pytestmark = [pytest.mark.interop, pytest.mark.timeout(900)]


@pytest.fixture
def sqlite_user(tmp_path: Path, world: World) -> Iterator[User]:
    """Faults do not depend on the database: one backend is enough."""
    yield User(tmp_path, f"sqlite:///{tmp_path / 'diplomonitor.db'}", world)
    httpx.delete(f"{world.mastodon.url}/api/v1/_mock/faults", timeout=10).raise_for_status()


def fault(world: World, path: str, effect: dict[str, object], count: int) -> None:
    rule = {"match": {"methods": ["GET"], "path": path}, "effect": effect, "count": count}
    httpx.post(f"{world.mastodon.url}/api/v1/_mock/faults", json=rule, timeout=10).raise_for_status()


def lines(text: str) -> list[str]:
    return text.strip().splitlines()


def posts_of(user: User, handle: str) -> list[str]:
    sql = (
        "SELECT p.uri FROM posts p JOIN accounts a ON a.id = p.account_id WHERE a.handle = :h ORDER BY p.uri"
    )
    return [r["uri"] for r in user.rows(sql, h=handle)]


FAULTS = {  # account name prefix: (mastodon-mock fault effect, how many requests it hits, outcome)
    "ra1": ({"type": "ratelimit", "headers": {"Retry-After": "1"}}, 1, "ok"),  # waited out in-line
    "ra300": ({"type": "ratelimit"}, 1, "failed"),  # Retry-After: 300, longer than max_wait_seconds
    "gone": ({"type": "status", "status": 410}, 1, "unavailable"),
    "slow": ({"type": "timeout"}, 2, "failed"),  # max_retries = 1: both tries time out
    "junk": ({"type": "malformed"}, 1, "failed"),
}


def test_failing_accounts_never_stop_the_others_and_lose_nothing(sqlite_user: User) -> None:
    user, world = sqlite_user, sqlite_user.world
    made = {}
    for prefix in FAULTS:
        name = fresh_name(prefix)
        account_id, api = new_mastodon_account(world, name)
        made[prefix] = (
            f"{name}@{MASTODON_DOMAIN}",
            account_id,
            [api.status_post(f"Meldung {i}", language="de")["uri"] for i in range(3)],
        )
    accounts = [("mastodon", handle) for handle, _, _ in made.values()] + [("mastodon", "ministry_es")]
    user.configure(accounts, collect={"timeout_seconds": 1.0, "failure_backoff_minutes": 0.001})
    user.cli("db", "upgrade")
    user.cli("accounts", "sync")
    for prefix, (effect, count, _) in FAULTS.items():
        fault(world, f"/api/v1/accounts/{made[prefix][1]}/statuses", effect, count)

    out = lines(user.cli("collect").stdout)
    assert out[-1].startswith("2 ok, 3 failed, 1 unavailable, 0 waiting;"), out
    reported = sorted(line.split(":")[0] + ":" + line.split(":", 2)[1] for line in out[:-1])
    assert reported == sorted(f"{outcome:12} mastodon:{made[p][0]}" for p, (_, _, outcome) in FAULTS.items()
                              if outcome != "ok")  # fmt: skip
    assert "asks to wait 300 s" in next(line for line in out if made["ra300"][0] in line)
    assert stored_items(user, "mastodon", "ministry_es") == peer_items(world, "mastodon", "ministry_es")
    assert {a["handle"]: a["status"] for a in user.accounts()} == {
        **{handle: "gone" if p == "gone" else "ok" for p, (handle, _, _) in made.items()},
        "exteriores@peer.localhost": "ok",
    }

    # The next round (their backoff has passed) collects the accounts that failed for a while.
    out = lines(user.cli("collect").stdout)
    assert out[-1].startswith("5 ok, 0 failed, 0 unavailable, 1 waiting;"), out
    for prefix, (handle, _, uris) in made.items():
        assert posts_of(user, handle) == ([] if prefix == "gone" else sorted(uris)), prefix


def test_without_replies_the_appview_keeps_own_threads_only(sqlite_user: User) -> None:
    """Issue 10.1 against the real AppView: include_replies = false reads posts_and_author_threads."""
    user, world = sqlite_user, sqlite_user.world
    user.configure([("bluesky", "ministry_de"), ("bluesky", "citizen")], collect={"include_replies": False})
    user.cli("db", "upgrade")
    user.cli("accounts", "sync")
    user.cli("collect")
    seeded = world.seeded("bluesky")
    for key in ("ministry_de", "citizen"):
        did = seeded.accounts[key]
        served = [uri for uri, _, _ in bluesky_feed(world.bluesky.appview, did, "posts_and_author_threads")]
        assert [uri for uri, _, _ in stored_items(user, "bluesky", key)] == served, key
    stored = {uri for uri, _, _ in stored_items(user, "bluesky", "ministry_de")}
    assert seeded.uri("ministry_de", "de5") not in stored  # its reply to the citizen
    assert {seeded.uri("ministry_de", n) for n in ("de2", "de3", "de4")} <= stored  # its own thread
    citizen = {uri for uri, _, _ in stored_items(user, "bluesky", "citizen")}
    assert citizen == {seeded.uri("citizen", i) for i in ("ci1", "repost:de1", "repost:ar1")}  # no replies
