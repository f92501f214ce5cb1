"""A user's first rounds against the real peers: sync, collect, collect again, export.

Everything diplomonitor stored is compared, account by account and post by post, with what
the peers themselves report (tests/interop/truth.py), and the peers' reports with what the
seed did (tests/interop/world.py), so a disagreement anywhere in the chain shows.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.interop.conftest import User
from tests.interop.truth import bluesky_feed, created_times, mastodon_statuses
from tests.interop.world import PEOPLE, World, items_of

# The first test's setup may install the peers (minutes) when `make peers` has not run.
pytestmark = [pytest.mark.interop, pytest.mark.timeout(900)]
WATCHED = [k for k in PEOPLE if k != "gone"]


def peer_items(world: World, platform: str, key: str) -> list[Any]:
    account = world.seeded(platform).accounts[key]
    if platform == "bluesky":
        return bluesky_feed(world.bluesky.appview, account)
    return mastodon_statuses(world.mastodon.url, account)


def expected_items(world: World, platform: str, key: str) -> list[Any]:
    """What the seed made for this account, newest first, with the counts the script implies."""
    out = []
    for item in reversed(items_of(key)):
        uri = world.seeded(platform).uri(key, item)
        if item.startswith("repost:"):
            out.append((uri, True, None))
            continue
        c = world.counts[item]
        out.append((uri, False, (c.likes, c.reposts, c.replies, c.quotes if platform == "bluesky" else None)))
    return out


def stored_items(user: User, platform: str, key: str) -> list[Any]:
    rows = user.rows(
        "SELECT p.uri, p.is_repost, p.likes, p.reposts, p.replies, p.quotes FROM posts p "
        "JOIN accounts a ON a.id = p.account_id WHERE a.platform = :platform AND a.handle = :handle "
        "ORDER BY p.created_at DESC, p.id DESC",
        platform=platform,
        handle=PEOPLE[key].handle(platform),
    )
    return [
        (
            r["uri"],
            bool(r["is_repost"]),
            None if r["is_repost"] else (r["likes"], r["reposts"], r["replies"], r["quotes"]),
        )
        for r in rows
    ]


def utc(peer_time: str) -> str:
    """2026-12-02T05:25:33.159Z -> 2026-12-02T05:25:33.159000Z; +00:00 -> Z; no fraction: none."""
    found = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(?:Z|\+00:00)", peer_time)
    assert found, peer_time
    base, fraction = found.groups()
    return f"{base}.{fraction.ljust(6, '0')}Z" if fraction and int(fraction) else f"{base}Z"


@pytest.mark.parametrize("platform", ["bluesky", "mastodon"])
def test_the_peers_report_what_the_seed_made(world: World, platform: str) -> None:
    for key in WATCHED:
        assert peer_items(world, platform, key) == expected_items(world, platform, key), key


def test_sync_collect_collect_again_and_export(user: User) -> None:
    world = user.world
    user.configure()
    user.cli("db", "upgrade")
    sync = user.cli("accounts", "sync").stdout
    assert sync.splitlines()[-1] == "10 resolved, 2 unresolved"
    assert "unresolved   bluesky:gone-embassy.test: deactivated: " in sync
    assert "unresolved   mastodon:closedembassy@peer.localhost: not_found: " in sync  # the mock: 404
    listed = {(a["platform"], a["handle"]): (a["platform_id"], a["status"]) for a in user.accounts()}
    expected = {
        (p, PEOPLE[k].handle(p)): (world.seeded(p).accounts[k], "ok")
        for p in ("bluesky", "mastodon")
        for k in WATCHED
    }
    expected[("bluesky", "gone-embassy.test")] = (None, "deactivated")
    expected[("mastodon", "closedembassy@peer.localhost")] = (None, "not_found")
    assert listed == expected

    first = user.cli("collect").stdout
    total = sum(len(items_of(k)) for k in WATCHED) * 2
    assert first.splitlines()[-1].startswith(
        f"10 ok, 0 failed, 0 unavailable, 2 waiting; {total} new post(s)"
    )
    for platform in ("bluesky", "mastodon"):
        for key in WATCHED:
            # every own post, reply and repost, with the peer's counts (replies to others included)
            assert stored_items(user, platform, key) == peer_items(world, platform, key), (platform, key)
    pages = user.rows("SELECT count(*) AS n FROM posts")[0]["n"]
    assert pages == total

    before = user.rows("SELECT id, uri, text, likes, reposts, replies, quotes FROM posts ORDER BY id")
    second = user.cli("collect").stdout
    assert second.splitlines()[-1].startswith("10 ok, 0 failed, 0 unavailable, 2 waiting; 0 new post(s)")
    assert user.rows("SELECT id, uri, text, likes, reposts, replies, quotes FROM posts ORDER BY id") == before

    exported = {row["post_uri"]: row for row in user.export_posts()}
    assert len(exported) == total
    # created_at: UTC with microseconds when the peer's time has a fraction (README, export posts)
    seeded = (world.seeded("bluesky").accounts, world.seeded("mastodon").accounts)
    times = created_times(
        world.bluesky.appview, world.mastodon.url, seeded[0]["embassy"], seeded[1]["embassy"]
    )
    assert {uri: exported[uri]["created_at"] for uri in times} == {uri: utc(t) for uri, t in times.items()}
    for platform in ("bluesky", "mastodon"):
        for key in WATCHED:
            for uri, is_repost, counts in peer_items(world, platform, key):
                row = exported[uri]
                assert (row["platform"], row["account_handle"], row["is_repost"]) == (
                    platform, PEOPLE[key].handle(platform), str(int(is_repost))
                )  # fmt: skip
                if counts is not None:
                    cells = tuple(row[c] for c in ("likes", "reposts", "replies", "quotes"))
                    assert cells == tuple("" if n is None else str(n) for n in counts), uri
