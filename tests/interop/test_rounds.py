"""Later rounds against the real peers: a new post, a like, a follower, an edit, a delete, an
account that leaves. Each test makes accounts of its own on the peers, so tests never depend on
one another's changes to the seeded world.
"""

from __future__ import annotations

import pytest

from tests.interop.conftest import User, fresh_name, new_bluesky_account, new_mastodon_account
from tests.interop.world import MASTODON_DOMAIN, client

# The first test's setup may install the peers (minutes) when `make peers` has not run.
pytestmark = [pytest.mark.interop, pytest.mark.timeout(900)]


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def snapshots(user: User, uri: str) -> list[tuple[int | None, ...]]:
    rows = user.rows(
        "SELECT s.likes, s.reposts, s.replies, s.quotes FROM engagement_snapshots s "
        "JOIN posts p ON p.id = s.post_id WHERE p.uri = :uri ORDER BY s.observed_at, s.id",
        uri=uri,
    )
    return [(r["likes"], r["reposts"], r["replies"], r["quotes"]) for r in rows]


def test_new_post_like_follower_edit_and_delete(user: User, models_config: str) -> None:
    world = user.world
    name = fresh_name("rounds")
    did = new_bluesky_account(world, name)
    account_id, api = new_mastodon_account(world, name)
    first_b, first_m = (
        world.bluesky.ops(
            {
                "op": "post",
                "as": f"{name}.test",
                "name": f"{name}-1",
                "text": "Erste Meldung",
                "langs": ["de"],
            }
        )[0],
        api.status_post("Erste Meldung", language="de"),
    )
    user.configure(
        [("bluesky", f"{name}.test"), ("mastodon", f"{name}@{MASTODON_DOMAIN}")], extra=models_config
    )
    user.cli("db", "upgrade")
    assert last_line(user.cli("accounts", "sync").stdout) == "2 resolved, 0 unresolved"
    assert last_line(user.cli("collect").stdout).startswith(
        "2 ok, 0 failed, 0 unavailable, 0 waiting; 2 new post(s)"
    )
    user.cli("classify")
    scored = {
        r["uri"]: r["scored_at"]
        for r in user.rows("SELECT p.uri, s.scored_at FROM posts p JOIN scores s ON s.post_id = p.id")
    }
    assert set(scored) == {first_b["uri"], first_m["uri"]}

    # A new post on each: the next round stores exactly that post.
    (second_b,) = world.bluesky.ops(
        {"op": "post", "as": f"{name}.test", "name": f"{name}-2", "text": "Zweite Meldung", "langs": ["de"]}
    )
    second_m = api.status_post("Zweite Meldung", language="de")
    assert last_line(user.cli("collect").stdout).startswith(
        "2 ok, 0 failed, 0 unavailable, 0 waiting; 2 new post(s)"
    )
    assert {r["uri"] for r in user.rows("SELECT uri FROM posts")} == {
        first_b["uri"], first_m["uri"], second_b["uri"], second_m["uri"]
    }  # fmt: skip

    # A like and a favourite: the engagement refresh writes a snapshot with the new count.
    world.bluesky.ops({"op": "like", "as": "citizen.test", "post": f"{name}-1"})
    world_citizen = new_mastodon_account(world, fresh_name("fan"))[1]
    world_citizen.status_favourite(first_m["id"])
    report = user.refresh_engagement()
    assert (report.accounts, report.checked, report.failed) == (2, 4, ())
    assert snapshots(user, first_b["uri"]) == [(0, 0, 0, 0), (1, 0, 0, 0)]
    assert snapshots(user, first_m["uri"]) == [(0, 0, 0, None), (1, 0, 0, None)]

    # A follower on each: the profile refresh records the new number.
    world.bluesky.ops({"op": "follow", "as": "citizen.test", "subject": did})
    world_citizen.account_follow(account_id)
    assert user.refresh_profiles().failed == ()
    followers = user.rows(
        "SELECT a.platform, s.followers FROM profile_snapshots s JOIN accounts a ON a.id = s.account_id "
        "ORDER BY a.platform, s.observed_at"
    )
    assert [(r["platform"], r["followers"]) for r in followers] == [("bluesky", 1), ("mastodon", 1)]

    # An edit (Mastodon): the previous text is kept, the post is scored again.
    api.status_update(first_m["id"], status="Erste Meldung (berichtigt)")
    user.refresh_engagement()
    edited = user.rows(
        "SELECT p.text, p.edited_at, p.scored_with, v.text AS before FROM posts p "
        "JOIN post_versions v ON v.post_id = p.id WHERE p.uri = :uri",
        uri=first_m["uri"],
    )
    assert [(r["text"], r["before"], r["edited_at"] is not None, r["scored_with"]) for r in edited] == [
        ("Erste Meldung (berichtigt)", "Erste Meldung", True, None)
    ]
    user.cli("classify")
    again = user.rows(
        "SELECT s.scored_at FROM posts p JOIN scores s ON s.post_id = p.id WHERE p.uri = :uri",
        uri=first_m["uri"],
    )
    assert again[0]["scored_at"] > scored[first_m["uri"]]

    # A delete on each: the post is marked deleted and kept.
    world.bluesky.ops({"op": "delete", "as": f"{name}.test", "post": f"{name}-2"})
    api.status_delete(second_m["id"])
    assert user.refresh_engagement().deleted == 2
    rows = user.rows("SELECT uri, deleted_at FROM posts ORDER BY uri")
    assert {r["uri"] for r in rows if r["deleted_at"] is not None} == {second_b["uri"], second_m["uri"]}
    exported = {r["post_uri"]: r for r in user.export_posts()}
    assert {u: (r["deleted"], r["edited"]) for u, r in exported.items()} == {
        first_b["uri"]: ("0", "0"), second_b["uri"]: ("1", "0"),
        first_m["uri"]: ("0", "1"), second_m["uri"]: ("1", "0"),
    }  # fmt: skip
    assert exported[first_m["uri"]]["text"] == "Erste Meldung (berichtigt)"


def test_a_bluesky_account_deactivated_between_rounds(user: User) -> None:
    world = user.world
    name = fresh_name("leaving")
    new_bluesky_account(world, name)
    (post,) = world.bluesky.ops(
        {"op": "post", "as": f"{name}.test", "name": f"{name}-1", "text": "Goodbye soon", "langs": ["en"]}
    )
    user.configure([("bluesky", f"{name}.test"), ("bluesky", "ministry_es")])
    user.cli("db", "upgrade")
    user.cli("accounts", "sync")
    assert last_line(user.cli("collect").stdout).startswith("2 ok, 0 failed, 0 unavailable, 0 waiting;")

    world.bluesky.ops({"op": "deactivate", "as": f"{name}.test"})
    out = user.cli("collect").stdout.splitlines()
    assert out[0].startswith(f"unavailable  bluesky:{name}.test: deactivated: ")
    assert out[-1].startswith("1 ok, 0 failed, 1 unavailable, 0 waiting; 0 new post(s)")
    statuses = {(a["handle"], a["status"]) for a in user.accounts()}
    assert statuses == {(f"{name}.test", "deactivated"), ("ministry-es.test", "ok")}
    kept = user.rows("SELECT p.uri FROM posts p JOIN accounts a ON a.id = p.account_id WHERE a.handle = :h",
                     h=f"{name}.test")  # fmt: skip
    assert [r["uri"] for r in kept] == [post["uri"]]
    # The next round leaves it alone until gone_recheck_hours have passed.
    assert last_line(user.cli("collect").stdout).startswith("1 ok, 0 failed, 0 unavailable, 1 waiting;")


def test_a_mastodon_account_suspended_between_rounds(user: User) -> None:
    world = user.world
    name = fresh_name("closing")
    account_id, api = new_mastodon_account(world, name)
    api.status_post("Bis bald", language="de")
    user.configure([("mastodon", f"{name}@{MASTODON_DOMAIN}")])
    user.cli("db", "upgrade")
    user.cli("accounts", "sync")
    assert last_line(user.cli("collect").stdout).startswith("1 ok, 0 failed, 0 unavailable, 0 waiting; 1 new")
    client(world.mastodon, "token-moderator").admin_account_moderate(account_id, action="suspend")
    # The walk sees an empty history; the profile refresh asks the account and flags it.
    assert last_line(user.cli("collect").stdout).startswith("1 ok, 0 failed, 0 unavailable, 0 waiting; 0 new")
    report = user.refresh_profiles()
    assert [(label, why.split(":")[0]) for label, why in report.failed] == [
        (f"mastodon:{name}@{MASTODON_DOMAIN}", "suspended")
    ]
    assert [(a["handle"], a["status"]) for a in user.accounts()] == [
        (f"{name}@{MASTODON_DOMAIN}", "suspended")
    ]
    assert len(user.rows("SELECT id FROM posts")) == 1  # its history stays
