"""A collector process killed in the middle of a page: the restart has no gap and no duplicate."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from monitor.accounts import sync_accounts
from monitor.collection.rounds import collect_round
from monitor.compose import build_collectors
from monitor.schema import collection_state, posts
from tests.collectors.payloads import post_view
from tests.collectors.servers import Fault
from tests.collectors.test_pipeline import ACCOUNTS, DID, HANDLE
from tests.conftest import NOW

CHILD = """
import sys
from datetime import datetime
from monitor.config import load_settings
from monitor.db import make_engine
from monitor.collection.rounds import collect_round
from monitor.compose import build_collectors
s = load_settings(sys.argv[1], {})
collect_round(make_engine(s.database_url), s.collect, build_collectors(s), platform="bluesky",
              now=datetime.fromisoformat(sys.argv[2]))
"""


@pytest.mark.slow
def test_sigkill_while_a_page_is_in_flight(make_settings, engine, bsky) -> None:
    settings = make_settings(ACCOUNTS)
    with engine.begin() as conn:
        sync_accounts(conn, settings.accounts, NOW)
    bsky.add_account(DID, HANDLE)
    bsky.page_size = 2
    bsky.feeds[DID] = [
        {"post": post_view(DID, HANDLE, f"p{i}", f"post {i}", NOW - timedelta(hours=i))} for i in range(6)
    ]
    release = threading.Event()
    bsky.fail("/xrpc/app.bsky.feed.getAuthorFeed", Fault(), Fault(hang=release))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(settings.path), NOW.isoformat()])
    try:
        deadline = time.monotonic() + 30
        while len(bsky.calls("/xrpc/app.bsky.feed.getAuthorFeed")) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(bsky.calls("/xrpc/app.bsky.feed.getAuthorFeed")) == 2
        child.kill()  # SIGKILL: no cleanup, the page-2 request is still in flight
        child.wait(10)
    finally:
        release.set()
        if child.poll() is None:
            child.kill()
    with engine.connect() as conn:
        state = conn.execute(select(collection_state.c.walk_cursor, collection_state.c.cursor)).one()
        assert tuple(state) == ("2", None) and len(conn.execute(select(posts.c.uri)).all()) == 2
    collectors = build_collectors(settings)
    try:
        report = collect_round(
            engine,
            settings.collect,
            collectors,
            platform="bluesky",
            handle=HANDLE,
            now=NOW + timedelta(minutes=5),
        )
    finally:
        for c in collectors.values():
            c.close()
    with engine.connect() as conn:
        uris = conn.execute(select(posts.c.uri).order_by(posts.c.created_at.desc())).scalars().all()
        state = conn.execute(select(collection_state.c.walk_cursor, collection_state.c.cursor)).one()
    assert report.count("ok") == 1 and report.new_posts == 4
    assert uris == [f"at://{DID}/app.bsky.feed.post/p{i}" for i in range(6)]
    assert tuple(state) == (None, NOW.isoformat())
    assert bsky.calls("/xrpc/app.bsky.feed.getAuthorFeed")[-3].query.get("cursor") == [
        "2"
    ]  # resumed, not restarted
