from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from collectors.records import Engagement, Identity, Post, Profile
from monitor.accounts import sync_accounts
from monitor.collection.store import (
    record_failure,
    record_success,
    save_identity,
    save_posts,
    save_profile,
)
from monitor.config import Account
from monitor.schema import (
    account_handles,
    accounts,
    collection_state,
    engagement_snapshots,
    post_versions,
    posts,
    profile_snapshots,
)
from tests.conftest import NOW

EC = Account(platform="bluesky", handle="ec.europa.eu", country="EU", kind="ministry", groups=("eu",))
BMI = Account(platform="mastodon", handle="bmi@social.bund.de", country="DE", kind="ministry")


def _post(uri: str, text: str = "hello", likes: int = 1, **kw) -> Post:
    return Post(
        platform="bluesky",
        uri=uri,
        author_id="did:plc:ec",
        author_handle="ec.europa.eu",
        text=text,
        created_at=NOW - timedelta(hours=1),
        languages=("en",),
        engagement=Engagement(likes=likes, reposts=0, replies=0, quotes=0),
        **kw,
    )


def _account_id(engine: Engine) -> int:
    with engine.begin() as conn:
        sync_accounts(conn, [EC], NOW)
        return conn.execute(select(accounts.c.id).where(accounts.c.handle == EC.handle)).scalar_one()


def test_sync_adds_updates_deactivates_and_reactivates(engine: Engine) -> None:
    with engine.begin() as conn:
        r1 = sync_accounts(conn, [EC, BMI], NOW)
    assert (r1.added, r1.deactivated) == (("bluesky:ec.europa.eu", "mastodon:bmi@social.bund.de"), ())
    with engine.begin() as conn:
        changed = Account(platform="bluesky", handle="ec.europa.eu", country="EU", kind="embassy")
        r2 = sync_accounts(conn, [changed], NOW)
    assert (r2.updated, r2.deactivated) == (("bluesky:ec.europa.eu",), ("mastodon:bmi@social.bund.de",))
    with engine.begin() as conn:
        r3 = sync_accounts(conn, [EC, BMI], NOW + timedelta(days=1))
        rows = {r.handle: r for r in conn.execute(select(accounts))}
    assert r3.reactivated == ("mastodon:bmi@social.bund.de",)
    assert rows["bmi@social.bund.de"].active and rows["bmi@social.bund.de"].deactivated_at is None
    assert rows["ec.europa.eu"].kind == "ministry" and rows["ec.europa.eu"].groups == ["eu"]
    assert rows["bmi@social.bund.de"].instance == "social.bund.de"


def test_save_posts_is_idempotent_and_keeps_utc(engine: Engine) -> None:
    aid = _account_id(engine)
    batch = [_post("at://did:plc:ec/app.bsky.feed.post/1"), _post("at://did:plc:ec/app.bsky.feed.post/2")]
    with engine.begin() as conn:
        first = save_posts(conn, aid, batch + batch[:1], NOW)  # a repeated (pinned) post
    with engine.begin() as conn:
        again = save_posts(conn, aid, batch, NOW + timedelta(minutes=5))
        rows = conn.execute(select(posts).order_by(posts.c.uri)).all()
        snaps = conn.execute(select(engagement_snapshots)).all()
    assert (first.inserted, first.updated, first.snapshots) == (2, 0, 2)
    assert (again.inserted, again.updated, again.snapshots) == (0, 2, 0)
    assert len(rows) == 2 and len(snaps) == 2
    assert rows[0].created_at == NOW - timedelta(hours=1)
    assert rows[0].created_at.tzinfo is not None
    assert rows[0].declared_language == "en" and rows[0].languages == ["en"]


def test_edit_keeps_previous_text_and_asks_for_rescoring(engine: Engine) -> None:
    aid = _account_id(engine)
    uri = "at://did:plc:ec/app.bsky.feed.post/1"
    with engine.begin() as conn:
        save_posts(conn, aid, [_post(uri, "first")], NOW)
        conn.execute(posts.update().values(scored_with="models-v1"))
    edited_at = NOW + timedelta(minutes=3)
    with engine.begin() as conn:
        result = save_posts(conn, aid, [_post(uri, "second", likes=4, edited_at=edited_at)], NOW)
        row = conn.execute(select(posts)).one()
        versions = conn.execute(select(post_versions.c.text, post_versions.c.valid_until)).all()
        snaps = conn.execute(select(engagement_snapshots.c.likes).order_by(engagement_snapshots.c.id)).all()
    assert result.edited == 1
    assert (row.text, row.edited_at, row.scored_with, row.likes) == ("second", edited_at, None, 4)
    assert versions == [("first", edited_at)]
    assert [s.likes for s in snaps] == [1, 4]


def test_identity_handle_history_and_profiles(engine: Engine) -> None:
    aid = _account_id(engine)
    with engine.begin() as conn:
        save_identity(conn, aid, Identity("bluesky", "ec.europa.eu", "did:plc:ec"), NOW)
        save_identity(conn, aid, Identity("bluesky", "commission.europa.eu", "did:plc:ec"), NOW)
        p = Profile("bluesky", "did:plc:ec", "ec.europa.eu", "EC", 100, 5, 40, NOW)
        assert save_profile(conn, aid, p) is True
        assert save_profile(conn, aid, p) is False
        handles = sorted(conn.execute(select(account_handles.c.handle)).scalars())
        row = conn.execute(select(accounts)).one()
        snaps = conn.execute(select(profile_snapshots)).all()
    assert handles == ["commission.europa.eu", "ec.europa.eu"]
    assert (row.platform_id, row.current_handle) == ("did:plc:ec", "commission.europa.eu")
    assert len(snaps) == 1


def test_collection_state_backs_off_and_recovers(engine: Engine) -> None:
    aid = _account_id(engine)
    with engine.begin() as conn:
        n1 = record_failure(conn, aid, "HTTP 503", NOW)
        n2 = record_failure(conn, aid, "HTTP 503", NOW)
        for _ in range(20):
            n_max = record_failure(conn, aid, "HTTP 503", NOW)
        state = conn.execute(select(collection_state)).one()
    delays = (n1 - NOW, n2 - NOW, n_max - NOW)
    assert delays == (timedelta(minutes=5), timedelta(minutes=10), timedelta(hours=24))
    assert (state.consecutive_failures, state.last_error) == (22, "HTTP 503")
    with engine.begin() as conn:
        record_success(conn, aid, NOW, cursor="2026-10-15T11:00:00Z")
        state = conn.execute(select(collection_state)).one()
    assert (state.consecutive_failures, state.cursor, state.last_error, state.next_attempt_at) == (
        0,
        "2026-10-15T11:00:00Z",
        None,
        None,
    )
