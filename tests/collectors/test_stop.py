"""A stopping service never waits out a host's budget: the wait wakes, and nothing is blamed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, select

from collectors.errors import Stopped
from collectors.http import HostRegistry
from collectors.settings import CollectSettings
from monitor.accounts import sync_accounts
from monitor.collection.rounds import collect_round
from monitor.compose import build_collectors
from monitor.config import Settings
from monitor.schema import accounts, collection_state
from tests.collectors.payloads import post_view
from tests.collectors.servers import FakeBluesky
from tests.collectors.test_pipeline import DID, HANDLE
from tests.conftest import NOW

ONE_ACCOUNT = f'[[accounts]]\nplatform = "bluesky"\nhandle = "{HANDLE}"\ncountry = "FR"\nkind = "embassy"\n'


def test_a_wait_for_a_paused_host_wakes_when_stop_is_set(fast: CollectSettings) -> None:
    stop = threading.Event()
    gate = HostRegistry(fast, stop=stop).gate("api.example.org", per_5min=3000)
    gate.pause(25, "429 Too Many Requests")  # the budget says: nothing for 25 s
    threading.Timer(0.2, stop.set).start()
    begun = time.monotonic()
    with pytest.raises(Stopped):
        gate.wait_turn()
    assert time.monotonic() - begun < 5  # woke on stop, not after 25 s


def test_without_stop_the_wait_is_the_budget(fast: CollectSettings) -> None:
    gate = HostRegistry(fast, stop=threading.Event()).gate("api.example.org", per_5min=3000)
    gate.pause(0.3, "429 Too Many Requests")
    begun = time.monotonic()
    gate.wait_turn()
    assert time.monotonic() - begun >= 0.25


def test_a_round_cut_short_by_stop_records_no_failure(
    make_settings: Callable[..., Settings], engine: Engine, bsky: FakeBluesky
) -> None:
    settings = make_settings(ONE_ACCOUNT)
    with engine.begin() as conn:
        sync_accounts(conn, settings.accounts, NOW)
    bsky.add_account(DID, HANDLE)
    bsky.feeds[DID] = [{"post": post_view(DID, HANDLE, "p0", "post 0", NOW)}]
    stop = threading.Event()
    collectors = build_collectors(settings, stop=stop)
    try:
        host = bsky.url.split("//", 1)[1]
        gate = collectors["bluesky"].registry.gate(host, per_5min=3000)  # type: ignore[attr-defined]
        gate.pause(25, "429 Too Many Requests")
        threading.Timer(0.2, stop.set).start()
        report = collect_round(engine, settings.collect, collectors, now=NOW)
    finally:
        for c in collectors.values():
            c.close()
    assert [(r.outcome, r.message) for r in report.results] == [("stopped", "stopped; resumes next round")]
    with engine.connect() as conn:
        state = conn.execute(
            select(collection_state.c.consecutive_failures, collection_state.c.next_attempt_at)
            .join(accounts, accounts.c.id == collection_state.c.account_id)
            .where(accounts.c.handle == HANDLE)
        ).first()
    assert state is None or (state.consecutive_failures, state.next_attempt_at) == (0, None)
