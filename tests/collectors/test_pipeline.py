"""Collection rounds against the local servers, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError

from collectors.protocol import Collector
from monitor.accounts import sync_accounts
from monitor.collection.rounds import (
    collect_round,
    refresh_engagement,
    refresh_profiles,
    resolve_accounts,
)
from monitor.compose import build_collectors
from monitor.config import Settings
from monitor.schema import (
    account_handles,
    accounts,
    collection_state,
    engagement_snapshots,
    post_versions,
    posts,
    profile_snapshots,
)
from tests.collectors.conftest import MASTO_DOMAIN
from tests.collectors.payloads import post_view, status
from tests.collectors.servers import FakeBluesky, FakeMastodon, Fault
from tests.conftest import NOW

DID, HANDLE, MHANDLE = "did:plc:embassy", "embassy.example.org", f"amb@{MASTO_DOMAIN}"
ACCOUNTS = f"""
[[accounts]]
platform = "bluesky"
handle = "{HANDLE}"
country = "FR"
kind = "embassy"

[[accounts]]
platform = "mastodon"
handle = "{MHANDLE}"
country = "DE"
kind = "ministry"
"""


@pytest.fixture
def world(
    make_settings: Callable[..., Settings], engine: Engine, bsky: FakeBluesky, masto: FakeMastodon
) -> Iterator[tuple[Settings, dict[str, Collector]]]:
    """Both accounts configured and synced; 6 Bluesky posts and 5 Mastodon statuses, one too old."""
    settings = make_settings(ACCOUNTS)
    with engine.begin() as conn:
        sync_accounts(conn, settings.accounts, NOW)
    bsky.add_account(DID, HANDLE, followers=50)
    bsky.feeds[DID] = [
        {"post": post_view(DID, HANDLE, f"p{i}", f"post {i}", NOW - timedelta(hours=i), likes=i)}
        for i in range(5)
    ]
    bsky.feeds[DID].append({"post": post_view(DID, HANDLE, "old", "old", NOW - timedelta(days=40))})
    account = masto.add_account("42", "amb", followers=100)
    masto.statuses["42"] = [
        status(str(100 - i), account, f"<p>toot {i}</p>", NOW - timedelta(hours=i), favourites=i)
        for i in range(4)
    ]
    masto.statuses["42"].append(status("90", account, "<p>old</p>", NOW - timedelta(days=40)))
    collectors = build_collectors(settings)
    yield settings, collectors
    for c in collectors.values():
        c.close()


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(posts.c.platform, func.count()).group_by(posts.c.platform)).all()
    return dict(rows)  # type: ignore[arg-type]


def _state(engine: Engine, handle: str):
    with engine.connect() as conn:
        return conn.execute(
            select(collection_state, accounts.c.status, accounts.c.platform_id)
            .join(accounts, accounts.c.id == collection_state.c.account_id)
            .where(accounts.c.handle == handle)
        ).one()


def test_first_round_backfills_then_later_rounds_fetch_only_new_posts(world, engine, bsky, masto) -> None:
    settings, collectors = world
    seen: list[str] = []
    report = collect_round(
        engine, settings.collect, collectors, now=NOW, on_account=lambda r: seen.append(r.label)
    )
    assert (report.count("ok"), report.new_posts) == (2, 9) and len(seen) == 2
    assert _counts(engine) == {"bluesky": 5, "mastodon": 4}  # the 40-day-old posts are before the backfill
    b, m = _state(engine, HANDLE), _state(engine, MHANDLE)
    assert (b.platform_id, b.cursor, b.walk_cursor, b.backfilled_from) == (
        DID,
        NOW.isoformat(),
        None,
        NOW - timedelta(days=30),
    )
    assert (m.platform_id, m.cursor, m.consecutive_failures) == ("42", "100", 0)
    bsky.feeds[DID].insert(0, {"post": post_view(DID, HANDLE, "new", "new", NOW + timedelta(hours=1))})
    masto.statuses["42"].insert(
        0, status("101", masto.accounts["42"], "<p>new</p>", NOW + timedelta(hours=1))
    )
    before = len(bsky.seen) + len(masto.seen)
    report = collect_round(engine, settings.collect, collectors, now=NOW + timedelta(hours=2))
    assert report.new_posts == 2 and _counts(engine) == {"bluesky": 6, "mastodon": 5}
    assert len(bsky.seen) + len(masto.seen) - before == 2  # one page each (a short page is the last)
    assert masto.calls("/api/v1/accounts/42/statuses")[-1].query["since_id"] == ["100"]


def test_a_crash_mid_walk_resumes_without_gap_or_duplicate(world, engine, bsky, masto) -> None:
    settings, collectors = world
    bsky.page_size, masto.page_size = 2, 2
    bsky.fail("/xrpc/app.bsky.feed.getAuthorFeed", Fault(), Fault(body=b'{"feed": [{"post": {"uri":'))
    masto.fail("/api/v1/accounts/42/statuses", Fault(), *[Fault(status=500)] * 3)
    report = collect_round(engine, settings.collect, collectors, now=NOW)
    assert report.count("failed") == 2 and _counts(engine) == {"bluesky": 2, "mastodon": 2}
    b, m = _state(engine, HANDLE), _state(engine, MHANDLE)
    assert (b.walk_cursor, b.walk_top, b.cursor, b.consecutive_failures) == ("2", NOW.isoformat(), None, 1)
    assert (m.walk_cursor, m.walk_top, m.cursor) == ("99", "100", None)
    # Meanwhile a new post arrives; the restart finishes the old walk first, then catches up.
    bsky.feeds[DID].insert(0, {"post": post_view(DID, HANDLE, "new", "new", NOW + timedelta(minutes=30))})
    later = NOW + timedelta(hours=1)
    collect_round(engine, settings.collect, collectors, now=later)
    assert _counts(engine) == {"bluesky": 5, "mastodon": 4}
    assert _state(engine, HANDLE).cursor == NOW.isoformat() and _state(engine, MHANDLE).cursor == "100"
    collect_round(engine, settings.collect, collectors, now=later + timedelta(minutes=15))
    with engine.connect() as conn:
        uris = conn.execute(select(posts.c.uri)).scalars().all()
        snaps = conn.execute(select(func.count()).select_from(engagement_snapshots)).scalar()
    assert len(uris) == len(set(uris)) == 10
    assert _state(engine, HANDLE).cursor == (NOW + timedelta(minutes=30)).isoformat()
    assert snaps == 10  # one per post, none twice


def test_gone_accounts_are_flagged_then_left_alone_until_rechecked(world, engine, bsky, masto) -> None:
    settings, collectors = world
    bsky.errors[HANDLE] = (400, "AccountDeactivated", "Account is deactivated")
    masto.gone["42"] = 410
    masto.fail("/api/v1/accounts/lookup", Fault(status=410, body=b'{"error": "Gone"}'))
    report = collect_round(engine, settings.collect, collectors, now=NOW)
    assert report.count("unavailable") == 2
    b, m = _state(engine, HANDLE), _state(engine, MHANDLE)
    assert (b.status, m.status) == ("deactivated", "gone")
    assert b.next_attempt_at == NOW + timedelta(hours=24) and "AccountDeactivated" in b.last_error
    asked = len(bsky.seen) + len(masto.seen)
    report = collect_round(engine, settings.collect, collectors, now=NOW + timedelta(hours=1))
    assert (report.results, report.skipped) == ((), 2) and len(bsky.seen) + len(masto.seen) == asked
    del bsky.errors[HANDLE]
    report = collect_round(
        engine, settings.collect, collectors, platform="bluesky", now=NOW + timedelta(hours=25)
    )
    assert report.count("ok") == 1 and _state(engine, HANDLE).status == "ok"


def test_one_failing_host_never_stops_the_others(world, engine, bsky, masto) -> None:
    settings, collectors = world
    masto.fail("/api/v1/accounts/lookup", *[Fault(status=503)] * 3)
    report = collect_round(engine, settings.collect, collectors, now=NOW)
    assert {r.label: r.outcome for r in report.results} == {
        f"bluesky:{HANDLE}": "ok",
        f"mastodon:{MHANDLE}": "failed",
    }
    m = _state(engine, MHANDLE)
    assert (m.consecutive_failures, m.next_attempt_at, m.last_success_at) == (
        1,
        NOW + timedelta(minutes=5),
        None,
    )
    assert m.last_error.startswith("HostUnavailable")
    assert _counts(engine) == {"bluesky": 5}


def test_engagement_refresh_snapshots_changes_edits_and_deletions(world, engine, bsky, masto) -> None:
    settings, collectors = world
    collect_round(engine, settings.collect, collectors, now=NOW)
    with engine.begin() as conn:
        conn.execute(posts.update().values(scored_with="models-v1"))
    bsky.feeds[DID][0]["post"]["likeCount"] = 40
    del bsky.feeds[DID][1]
    masto.statuses["42"][0].update(
        content="<p>toot 0, corrected</p>", edited_at="2026-10-15T12:30:00.000Z", favourites_count=8
    )
    report = refresh_engagement(engine, settings.collect, collectors, now=NOW + timedelta(hours=1))
    assert (report.accounts, report.snapshots, report.deleted, report.failed) == (2, 2, 1, ())
    with engine.connect() as conn:
        deleted = conn.execute(select(posts.c.uri).where(posts.c.deleted_at.is_not(None))).scalars().all()
        versions = conn.execute(select(post_versions.c.text)).scalars().all()
        edited = conn.execute(
            select(posts.c.text, posts.c.scored_with, posts.c.likes).where(posts.c.native_id == "100")
        ).one()
        series = (
            conn.execute(
                select(engagement_snapshots.c.likes)
                .join(posts)
                .where(posts.c.uri == f"at://{DID}/app.bsky.feed.post/p0")
                .order_by(engagement_snapshots.c.observed_at)
            )
            .scalars()
            .all()
        )
    assert deleted == [f"at://{DID}/app.bsky.feed.post/p1"]
    assert versions == ["toot 0"] and tuple(edited) == ("toot 0, corrected", None, 8)
    assert series == [0, 40]  # collected with 0 likes, then the change
    again = refresh_engagement(engine, settings.collect, collectors, now=NOW + timedelta(hours=2))
    assert (again.snapshots, again.deleted) == (0, 0)


def test_resolve_and_profiles_record_handle_changes_and_followers(world, engine, bsky, masto) -> None:
    settings, collectors = world
    report = resolve_accounts(engine, settings.collect, collectors, now=NOW)
    assert report.resolved == (f"bluesky:{HANDLE}", f"mastodon:{MHANDLE}") and not report.failed
    first = refresh_profiles(engine, settings.collect, collectors, now=NOW)
    same = refresh_profiles(engine, settings.collect, collectors, now=NOW + timedelta(hours=6))
    bsky.profiles[DID].update(handle="ambassade.example.org", followersCount=51)
    changed = refresh_profiles(engine, settings.collect, collectors, now=NOW + timedelta(hours=12))
    assert (first.snapshots, same.snapshots, changed.snapshots) == (2, 0, 1)
    with engine.connect() as conn:
        handles = (
            conn.execute(select(account_handles.c.handle).order_by(account_handles.c.handle)).scalars().all()
        )
        followers = (
            conn.execute(select(profile_snapshots.c.followers).order_by(profile_snapshots.c.id))
            .scalars()
            .all()
        )
    assert handles == ["amb@social.example.gov", "ambassade.example.org", HANDLE]
    assert followers == [50, 100, 51]
    del bsky.handles[HANDLE]  # the old handle no longer resolves, the DID does
    assert collect_round(engine, settings.collect, collectors, now=NOW).count("ok") == 2


def test_since_fetches_older_history_once(world, engine, bsky) -> None:
    settings, collectors = world
    collect_round(engine, settings.collect, collectors, now=NOW)
    report = collect_round(
        engine, settings.collect, collectors, since=NOW - timedelta(days=60), now=NOW + timedelta(hours=1)
    )
    assert report.new_posts == 2 and _counts(engine) == {"bluesky": 6, "mastodon": 5}
    assert _state(engine, HANDLE).backfilled_from == NOW - timedelta(days=60)
    report = collect_round(
        engine, settings.collect, collectors, since=NOW - timedelta(days=60), now=NOW + timedelta(hours=2)
    )
    assert report.pages == 2  # history already there: back to one page per account


def test_a_database_failure_fails_the_round_without_backing_off_accounts(world, engine) -> None:
    settings, collectors = world
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE posts RENAME TO posts_away")
    with pytest.raises(DBAPIError):
        collect_round(engine, settings.collect, collectors, now=NOW)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE posts_away RENAME TO posts")
        failures = conn.execute(select(func.count()).where(collection_state.c.consecutive_failures > 0))
        assert failures.scalar_one() == 0
    report = collect_round(engine, settings.collect, collectors, now=NOW)
    assert report.count("ok") == 2 and _counts(engine) == {"bluesky": 5, "mastodon": 4}
