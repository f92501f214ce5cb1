"""Reception against the local servers, on SQLite and PostgreSQL: threads and quotes collected,
re-read only when they grew, deletions and edits kept, authors pseudonymised, texts retained
only as long as configured, and the coverage the platform reports against what was collected."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from collectors.protocol import Collector
from monitor.accounts import sync_accounts
from monitor.collection.reception import Authors, ReceptionUnavailable, collect_reception, purge_reception
from monitor.collection.rounds import collect_round
from monitor.compose import build_collectors
from monitor.config import Settings
from monitor.schema import posts, reception_posts, reception_scores, reception_state
from tests.collectors.conftest import MASTO_DOMAIN
from tests.collectors.payloads import post_view, quote_embed, status
from tests.collectors.servers import FakeBluesky, FakeMastodon, Fault
from tests.collectors.test_pipeline import ACCOUNTS, DID, HANDLE
from tests.conftest import NOW

KEY = {"DIPLOMONITOR_PSEUDONYM_KEY": "a long random test key"}
ROOT = f"at://{DID}/app.bsky.feed.post/p0"
CITIZEN, OTHER = "did:plc:citizen", "did:plc:other"


def _reply(n: int, did: str, parent: str, text: str, minutes: int = 5) -> dict:  # type: ignore[type-arg]
    return post_view(did, f"{did[8:]}.bsky.social", f"r{n}", text, NOW + timedelta(minutes=minutes),
                     reply=(parent, ROOT), langs=("fr",))  # fmt: skip


@pytest.fixture
def world(
    make_settings: Callable[..., Settings], engine: Engine, bsky: FakeBluesky, masto: FakeMastodon
) -> Iterator[tuple[Settings, dict[str, Collector]]]:
    settings = make_settings(ACCOUNTS, "[reception]\nthread_depth = 3\nquote_pages = 2\n", KEY)
    with engine.begin() as conn:
        sync_accounts(conn, settings.accounts, NOW)
    bsky.add_account(DID, HANDLE)
    masto.add_account("42", "amb")
    collectors = build_collectors(settings)
    yield settings, collectors
    for c in collectors.values():
        c.close()


def _post(bsky: FakeBluesky, replies: int, quotes: int = 0, reposts: int = 2) -> None:
    view = post_view(DID, HANDLE, "p0", "Visa rules change on Monday", NOW, replies=replies, quotes=quotes,
                     reposts=reposts)  # fmt: skip
    bsky.feeds[DID] = [{"post": view}]


def _round(engine: Engine, settings: Settings, collectors: dict[str, Collector], hours: float = 1):  # type: ignore[no-untyped-def]
    authors = Authors(settings.reception, settings.secrets)
    return collect_reception(engine, settings.reception, collectors, authors, workers=4,
                             now=NOW + timedelta(hours=hours))  # fmt: skip


def _answers(engine: Engine) -> list[tuple[str, str | None, str | None, bool]]:
    r = reception_posts
    with engine.connect() as conn:
        rows = conn.execute(select(r.c.uri, r.c.parent_uri, r.c.text, r.c.deleted_at).order_by(r.c.uri))
        found = [(u.rsplit("/", 1)[1], p and p.rsplit("/", 1)[1], t, d is not None) for u, p, t, d in rows]
    return sorted(found)


def _state(engine: Engine):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(reception_state)).one()


def test_a_thread_with_nested_withheld_and_own_replies(world, engine: Engine, bsky: FakeBluesky) -> None:
    settings, collectors = world
    _post(bsky, replies=3, quotes=1)
    r1 = bsky.add_reply(ROOT, _reply(1, CITIZEN, ROOT, "Honteux <script>alert(1)</script>"))
    bsky.add_reply(ROOT, _reply(2, DID, ROOT, "Our answer: see the FAQ"))  # the embassy's own reply
    bsky.add_reply(ROOT, _reply(3, OTHER, r1["post"]["uri"], "D'accord avec vous"))
    bsky.add_reply(ROOT, _reply(4, CITIZEN, f"at://{DID}/app.bsky.feed.post/r2", "Merci"), parent=
                   f"at://{DID}/app.bsky.feed.post/r2")  # fmt: skip
    bsky.threads[ROOT].append(
        {"$type": "app.bsky.feed.defs#notFoundPost", "uri": "at://x/gone", "notFound": True}
    )
    bsky.threads[ROOT].append(
        {"$type": "app.bsky.feed.defs#blockedPost", "uri": "at://x/blocked", "blocked": True}
    )
    bsky.quoting[ROOT] = [post_view(OTHER, "other.bsky.social", "q1", "Good move", NOW + timedelta(hours=1),
                                    embed=quote_embed(ROOT))]  # fmt: skip
    collect_round(engine, settings.collect, collectors, now=NOW + timedelta(minutes=30))
    report = _round(engine, settings, collectors)
    assert (report.threads_read, report.new_answers) == (1, 4)
    assert _answers(engine) == [
        ("q1", "p0", "Good move", False),
        ("r1", "p0", "Honteux <script>alert(1)</script>", False),
        ("r3", "r1", "D'accord avec vous", False),
        ("r4", "r2", "Merci", False),  # a citizen answering the embassy's own reply
    ]
    state = _state(engine)
    assert (state.replies_seen, state.replies_collected, state.thread_collected, state.quotes_collected,
            state.withheld, state.quotes_listed) == (3, 1, 3, 1, 2, True)  # fmt: skip


def test_threads_are_read_again_only_when_they_grew(world, engine: Engine, bsky: FakeBluesky) -> None:
    settings, collectors = world
    _post(bsky, replies=1)
    bsky.add_reply(ROOT, _reply(1, CITIZEN, ROOT, "first"))
    collect_round(engine, settings.collect, collectors, now=NOW + timedelta(minutes=30))
    _round(engine, settings, collectors)
    reads = len(bsky.calls("/xrpc/app.bsky.feed.getPostThread"))
    assert _round(engine, settings, collectors, hours=2).threads_read == 0  # nothing changed: no thread read
    assert len(bsky.calls("/xrpc/app.bsky.feed.getPostThread")) == reads
    _post(bsky, replies=2)
    bsky.add_reply(ROOT, _reply(2, OTHER, ROOT, "second", minutes=90))
    grown = _round(engine, settings, collectors, hours=3)
    assert (grown.threads_read, grown.new_answers) == (1, 1)
    assert [a[0] for a in _answers(engine)] == ["r1", "r2"]


def test_a_deleted_reply_is_marked_and_an_edited_one_scored_again(
    world, engine: Engine, bsky: FakeBluesky
) -> None:
    settings, collectors = world
    _post(bsky, replies=2)
    bsky.add_reply(ROOT, _reply(1, CITIZEN, ROOT, "first"))
    bsky.add_reply(ROOT, _reply(2, OTHER, ROOT, "second"))
    collect_round(engine, settings.collect, collectors, now=NOW + timedelta(minutes=30))
    _round(engine, settings, collectors)
    with engine.begin() as conn:
        conn.execute(reception_posts.update().values(scored_with="models-v1"))
    bsky.threads[ROOT] = []
    bsky.add_reply(ROOT, _reply(1, CITIZEN, ROOT, "first, edited"))
    _post(bsky, replies=1)
    assert _round(engine, settings, collectors, hours=2).gone_answers == 1
    assert _answers(engine) == [("r1", "p0", "first, edited", False), ("r2", "p0", "second", True)]
    with engine.connect() as conn:
        scored = dict(conn.execute(select(reception_posts.c.text, reception_posts.c.scored_with)).all())
    assert scored == {"first, edited": None, "second": "models-v1"}  # the edit waits for scoring again
    assert _state(engine).thread_collected == 1


def test_a_500_reply_thread_is_collected_whole(world, engine: Engine, bsky: FakeBluesky) -> None:
    settings, collectors = world
    _post(bsky, replies=500)
    for n in range(500):
        bsky.add_reply(ROOT, _reply(n, f"did:plc:p{n % 37}", ROOT, f"reply {n}"))
    collect_round(engine, settings.collect, collectors, now=NOW + timedelta(minutes=30))
    _round(engine, settings, collectors)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(reception_posts)).scalar_one()
        authors = conn.execute(select(func.count(reception_posts.c.author_key.distinct()))).scalar_one()
    assert (count, authors) == (500, 37)  # 37 people answered, each always under the same key
    assert (_state(engine).replies_collected, _state(engine).replies_seen) == (500, 500)


def test_authors_are_pseudonymised_with_a_stable_key(world, engine: Engine, bsky: FakeBluesky) -> None:
    settings, collectors = world
    _post(bsky, replies=2)
    bsky.add_reply(ROOT, _reply(1, CITIZEN, ROOT, "a"))
    bsky.add_reply(ROOT, _reply(2, CITIZEN, ROOT, "b"))
    collect_round(engine, settings.collect, collectors, now=NOW + timedelta(minutes=30))
    _round(engine, settings, collectors)
    with engine.connect() as conn:
        stored = conn.execute(select(reception_posts.c.author_key, reception_posts.c.author_handle)).all()
    authors = Authors(settings.reception, settings.secrets)
    assert set(stored) == {(authors.key("bluesky", CITIZEN), None)}  # one person, no handle kept
    other = Authors(settings.reception, {"DIPLOMONITOR_PSEUDONYM_KEY": "another key"})
    assert other.key("bluesky", CITIZEN) != authors.key("bluesky", CITIZEN) and CITIZEN not in stored[0][0]
    with pytest.raises(ReceptionUnavailable, match="set DIPLOMONITOR_PSEUDONYM_KEY"):
        Authors(settings.reception, {})


def test_keep_authors_and_retention(
    make_settings, engine: Engine, bsky: FakeBluesky, masto: FakeMastodon
) -> None:
    settings = make_settings(ACCOUNTS, "[reception]\nkeep_authors = true\nretention_days = 30\n")
    with engine.begin() as conn:
        sync_accounts(conn, settings.accounts, NOW)
    bsky.add_account(DID, HANDLE)
    masto.add_account("42", "amb")
    _post(bsky, replies=1)
    bsky.add_reply(ROOT, _reply(1, CITIZEN, ROOT, "Je ne suis pas d'accord"))
    collectors = build_collectors(settings)
    try:
        collect_round(engine, settings.collect, collectors, now=NOW + timedelta(minutes=30))
        _round(engine, settings, collectors)
    finally:
        for c in collectors.values():
            c.close()
    with engine.begin() as conn:
        (rid,) = conn.execute(select(reception_posts.c.id)).scalars()
        scored = {"scored_with": "t", "sentiment_label": "negative", "sentiment_score": -0.7}
        conn.execute(reception_scores.insert().values(reception_id=rid, **scored))
        conn.execute(reception_state.update().values(reply_tone=-0.7, replies_scored=1))
        assert conn.execute(select(reception_posts.c.author_handle)).scalar_one() == "citizen.bsky.social"
    assert purge_reception(engine, settings.reception, NOW + timedelta(days=29)) == 0
    assert purge_reception(engine, settings.reception, NOW + timedelta(days=31)) == 1
    with engine.connect() as conn:
        row = conn.execute(select(reception_posts.c.text, reception_posts.c.author_handle)).one()
        tone = conn.execute(select(reception_scores.c.sentiment_score)).scalar_one()
    assert (tuple(row), tone, _state(engine).reply_tone) == ((None, None), -0.7, -0.7)  # figures kept


def test_mastodon_context_and_quotes_where_listed(world, engine: Engine, masto: FakeMastodon) -> None:
    settings, collectors = world
    account = masto.accounts["42"]
    citizen = masto.add_account("7", "citoyen")
    masto.statuses["42"] = [status("100", account, "<p>Neue Visaregeln</p>", NOW, replies=2, quotes=1)]
    masto.descendants["100"] = [
        status("101", citizen, "<p>Endlich!</p>", NOW + timedelta(minutes=3), reply_to="100"),
        status("102", account, "<p>Danke</p>", NOW + timedelta(minutes=4), reply_to="101"),  # own reply
        status("103", citizen, "<p>Bitte</p>", NOW + timedelta(minutes=5), reply_to="102"),
    ]
    masto.quoting["100"] = [status("104", citizen, "<p>Lest das</p>", NOW + timedelta(minutes=6))]
    collect_round(engine, settings.collect, collectors, now=NOW + timedelta(minutes=30))
    _round(engine, settings, collectors)
    assert [(u, p) for u, p, _t, _d in _answers(engine)] == [("101", "100"), ("103", "102"), ("104", "100")]
    assert (_state(engine).replies_collected, _state(engine).quotes_listed) == (1, True)


def test_a_server_without_a_quotes_list_is_asked_once(world, engine: Engine, masto: FakeMastodon) -> None:
    settings, collectors = world
    masto.quoting = None  # Mastodon before 4.5: 404
    masto.statuses["42"] = [status("100", masto.accounts["42"], "<p>Hallo</p>", NOW)]  # no quotes_count
    collect_round(engine, settings.collect, collectors, now=NOW + timedelta(minutes=30))
    _round(engine, settings, collectors)
    _round(engine, settings, collectors, hours=2)
    assert len(masto.calls("/api/v1/statuses/100/quotes")) == 1 and _state(engine).quotes_listed is False
    assert MASTO_DOMAIN in settings.mastodon.instance_urls


def test_only_recent_posts_are_followed_longer_for_some_groups(
    world, engine: Engine, bsky: FakeBluesky
) -> None:
    settings, collectors = world
    _post(bsky, replies=1)
    bsky.add_reply(ROOT, _reply(1, CITIZEN, ROOT, "late answer"))
    collect_round(engine, settings.collect, collectors, now=NOW + timedelta(minutes=30))
    assert _round(engine, settings, collectors, hours=24 * 8).threads_read == 0  # older than 7 days
    assert settings.reception.days_for(("eu",)) == 7
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(posts)).scalar_one() == 1


CHILD = """
import sys
from datetime import datetime
from monitor.config import load_settings
from monitor.db import make_engine
from monitor.collection.reception import Authors, collect_reception
from monitor.compose import build_collectors
s = load_settings(sys.argv[1], {"DIPLOMONITOR_PSEUDONYM_KEY": sys.argv[3]})
authors = Authors(s.reception, s.secrets)
collect_reception(make_engine(s.database_url), s.reception, build_collectors(s), authors, workers=1,
                  now=datetime.fromisoformat(sys.argv[2]))
"""


@pytest.mark.slow
def test_sigkill_while_a_thread_is_in_flight(world, engine: Engine, bsky: FakeBluesky) -> None:
    """Killed while the second post's thread is being read: the first post's answers and state are
    whole, nothing of the second; a new round finishes it, with nothing twice."""
    settings, collectors = world
    views = [
        post_view(DID, HANDLE, f"p{i}", f"post {i}", NOW - timedelta(minutes=i), replies=3) for i in range(2)
    ]
    bsky.feeds[DID] = [{"post": v} for v in views]
    for i, v in enumerate(views):
        for n in range(3):
            answer = post_view(CITIZEN, "citizen.bsky.social", f"a{i}{n}", f"answer {i}.{n}",
                               NOW + timedelta(minutes=n), reply=(v["uri"], v["uri"]))  # fmt: skip
            bsky.add_reply(v["uri"], answer)
    collect_round(engine, settings.collect, collectors, now=NOW + timedelta(minutes=30))
    release = threading.Event()
    bsky.fail("/xrpc/app.bsky.feed.getPostThread", Fault(), Fault(hang=release))
    when = (NOW + timedelta(hours=1)).isoformat()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(settings.path), when, KEY["DIPLOMONITOR_PSEUDONYM_KEY"]]
    )
    try:
        deadline = time.monotonic() + 30
        while len(bsky.calls("/xrpc/app.bsky.feed.getPostThread")) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(bsky.calls("/xrpc/app.bsky.feed.getPostThread")) == 2
        child.kill()
        child.wait(10)
    finally:
        release.set()
        if child.poll() is None:
            child.kill()
    with engine.connect() as conn:
        per_post = dict(
            conn.execute(
                select(reception_posts.c.post_id, func.count()).group_by(reception_posts.c.post_id)
            ).all()
        )
        states = conn.execute(select(func.count()).select_from(reception_state)).scalar_one()
    assert sorted(per_post.values()) == [3] and states == 1  # one post whole, the other untouched
    assert _round(engine, settings, collectors, hours=2).threads_read == 1  # only the one left
    with engine.connect() as conn:
        uris = list(conn.execute(select(reception_posts.c.uri)).scalars())
    assert len(uris) == len(set(uris)) == 6
