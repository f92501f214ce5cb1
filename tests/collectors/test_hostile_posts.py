"""One hostile post in a page (a NUL byte, a key longer than the store's column) never stops its
account's collection, on SQLite or PostgreSQL: it is stored cleaned, or kept aside with the reason."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, select

from monitor.accounts import sync_accounts
from monitor.collection.rounds import collect_round
from monitor.compose import build_collectors
from monitor.config import Settings
from monitor.schema import collection_state, posts, rejected_posts
from tests.collectors.payloads import post_view
from tests.collectors.servers import FakeBluesky
from tests.collectors.test_pipeline import DID, HANDLE
from tests.collectors.test_stop import ONE_ACCOUNT
from tests.conftest import NOW


def test_a_nul_byte_and_an_overlong_uri_do_not_stop_the_account(
    make_settings: Callable[..., Settings], engine: Engine, bsky: FakeBluesky
) -> None:
    settings = make_settings(ONE_ACCOUNT)
    with engine.begin() as conn:
        sync_accounts(conn, settings.accounts, NOW)
    bsky.add_account(DID, HANDLE)
    long_rkey = "k" * 600
    bsky.feeds[DID] = [
        {"post": post_view(DID, HANDLE, "p2", "fine", NOW)},
        {"post": post_view(DID, HANDLE, "p1", "Embassy\x00 closed\x07 today", NOW)},
        {"post": post_view(DID, HANDLE, long_rkey, "too long a key", NOW)},
        {"post": post_view(DID, HANDLE, "p0", "fine too", NOW)},
    ]
    collectors = build_collectors(settings)
    try:
        report = collect_round(engine, settings.collect, collectors, now=NOW)
    finally:
        for c in collectors.values():
            c.close()
    assert [(r.outcome, r.new_posts, r.rejected_posts) for r in report.results] == [("ok", 3, 1)]
    with engine.connect() as conn:
        texts = sorted(conn.execute(select(posts.c.text)).scalars())
        (rejected,) = conn.execute(select(rejected_posts.c.uri, rejected_posts.c.reason)).all()
        failures = conn.execute(select(collection_state.c.consecutive_failures)).scalar_one()
    assert texts == ["Embassy closed today", "fine", "fine too"]
    assert rejected.uri.endswith(long_rkey) and rejected.reason.startswith("uri is 6")
    assert failures == 0
