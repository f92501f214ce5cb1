"""The outbox: a channel down then up, restarts, quiet hours, failures, concurrent senders."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import Engine, select

from alerts.compose import probe_message
from alerts.settings import ChannelSettings
from monitor.alerting.evaluate import evaluate_rules
from monitor.alerting.outbox import backoff, claim, deliver_pending, enqueue
from monitor.compose import build_channels
from monitor.db import make_engine
from monitor.schema import deliveries
from tests.alerts.conftest import H, Receiver, rule, settings
from tests.conftest import NOW

S = timedelta(seconds=1)
HOOK = ChannelSettings(name="hook", kind="webhook", url_env="HOOK_URL")


def setup(receiver: Receiver, **rule_fields: object):  # type: ignore[no-untyped-def]
    s = settings((rule(name="busy", threshold=5, channels=("hook",), **rule_fields),), (HOOK,),
                 {"HOOK_URL": receiver.url})  # fmt: skip
    return s, build_channels(s)


def delivery(engine: Engine):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        (row,) = conn.execute(select(deliveries))
    return row


def test_channel_down_then_up_delivers_once_late(world: Engine, receiver: Receiver) -> None:
    s, channels = setup(receiver)
    evaluate_rules(world, s.alerts, now=NOW)
    receiver.status = 503
    down = deliver_pending(world, s.alerts, channels, now=NOW)
    assert (down.sent, down.failed, down.pending) == (0, 1, 1)
    row = delivery(world)
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, NOW + 60 * S)
    assert row.last_error.startswith("HTTP 503")
    assert deliver_pending(world, s.alerts, channels, now=NOW + 30 * S).sent == 0  # not due yet: no request
    assert len(receiver.requests) == 1
    deliver_pending(world, s.alerts, channels, now=NOW + 61 * S)  # still down: the delay doubles
    assert delivery(world).next_attempt_at == NOW + 61 * S + 120 * S
    receiver.status = 200
    up = deliver_pending(world, s.alerts, channels, now=NOW + 200 * S)
    assert (up.sent, up.failed, up.pending) == (1, 0, 0)
    assert deliver_pending(world, s.alerts, channels, now=NOW + 2 * H).sent == 0  # never twice
    row = delivery(world)
    assert (row.status, row.attempts, row.sent_at, row.last_error) == ("sent", 3, NOW + 200 * S, None)
    assert [r["headers"]["Idempotency-Key"] for r in receiver.requests] == [f"fire:{row.event_id}"] * 3


def test_restart_between_evaluation_and_delivery(world: Engine, db_url: str, receiver: Receiver) -> None:
    s, _ = setup(receiver)
    evaluate_rules(world, s.alerts, now=NOW)
    world.dispose()  # the process stops before delivering
    fresh = make_engine(db_url)
    report = deliver_pending(fresh, s.alerts, build_channels(s), now=NOW + 10 * S)
    fresh.dispose()
    assert (report.sent, len(receiver.requests)) == (1, 1)
    assert receiver.json()["data"]["rule"] == "busy"


def test_a_sender_dying_mid_send_is_retried_after_its_lease(world: Engine, receiver: Receiver) -> None:
    s, channels = setup(receiver)
    evaluate_rules(world, s.alerts, now=NOW)
    (_claimed,) = claim(world, s.alerts, NOW, 10)  # then the process dies
    assert delivery(world).status == "sending"
    assert deliver_pending(world, s.alerts, channels, now=NOW + 299 * S).sent == 0  # leased for 300 s
    assert deliver_pending(world, s.alerts, channels, now=NOW + 301 * S).sent == 1
    assert len(receiver.requests) == 1 and delivery(world).attempts == 2


def test_quiet_hours_delay_delivery_rather_than_drop_it(world: Engine, receiver: Receiver) -> None:
    """NOW is 14:00 in Paris (CEST): inside 13:00-15:00, which ends at 13:00 UTC."""
    s, channels = setup(receiver, quiet_hours="13:00-15:00", timezone="Europe/Paris")
    evaluate_rules(world, s.alerts, now=NOW)
    assert delivery(world).next_attempt_at == NOW + H
    assert deliver_pending(world, s.alerts, channels, now=NOW + 59 * 60 * S).sent == 0
    assert deliver_pending(world, s.alerts, channels, now=NOW + H).sent == 1


def test_a_retry_falling_in_quiet_hours_waits_for_their_end(world: Engine, receiver: Receiver) -> None:
    """Quiet 14:30-16:00 Paris: the first try at 14:00 fails, the retry due at 14:45 waits to 16:00."""
    s, channels = setup(receiver, quiet_hours="14:30-16:00", timezone="Europe/Paris")
    evaluate_rules(world, s.alerts, now=NOW)
    receiver.status = 500
    deliver_pending(world, s.alerts, channels, now=NOW)
    with world.begin() as conn:  # the retry was due before the quiet hours began
        conn.execute(deliveries.update().values(next_attempt_at=NOW + 10 * 60 * S))
    receiver.status = 200
    assert deliver_pending(world, s.alerts, channels, now=NOW + 45 * 60 * S).sent == 0
    row = delivery(world)
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, NOW + 2 * H)
    assert deliver_pending(world, s.alerts, channels, now=NOW + 2 * H).sent == 1


def test_rejected_or_exhausted_deliveries_are_marked_failed(world: Engine, receiver: Receiver) -> None:
    s, channels = setup(receiver)
    evaluate_rules(world, s.alerts, now=NOW)
    receiver.status = 404
    assert deliver_pending(world, s.alerts, channels, now=NOW).failed == 1
    row = delivery(world)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "HTTP 404: ok")
    s2 = settings(s.alerts.rules, (HOOK,), {"HOOK_URL": receiver.url}, max_attempts=2)
    with world.begin() as conn:
        enqueue(conn, "hook", probe_message("hook", NOW), event_id=None, now=NOW)
    receiver.status = 503
    deliver_pending(world, s2.alerts, channels, now=NOW)
    deliver_pending(world, s2.alerts, channels, now=NOW + H)
    with world.connect() as conn:
        statuses = [r.status for r in conn.execute(select(deliveries).order_by(deliveries.c.id))]
    assert statuses == ["failed", "failed"]


def test_a_channel_missing_from_the_config_keeps_its_deliveries(world: Engine, receiver: Receiver) -> None:
    s, _ = setup(receiver)
    evaluate_rules(world, s.alerts, now=NOW)
    report = deliver_pending(world, s.alerts, {}, now=NOW)
    assert (report.sent, report.pending) == (0, 1)
    assert delivery(world).last_error == "channel 'hook' is not configured"


def test_backoff_doubles_up_to_the_cap() -> None:
    alerts = settings(retry_seconds=10, max_retry_seconds=60).alerts
    assert [backoff(alerts, n).total_seconds() for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]


def test_concurrent_senders_send_each_delivery_once(world: Engine, db_url: str, receiver: Receiver) -> None:
    """Four senders with their own engines (SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite)."""
    s, _ = setup(receiver)
    with world.begin() as conn:
        for i in range(40):
            enqueue(conn, "hook", probe_message("hook", NOW + i * S), event_id=None, now=NOW)
    barrier = threading.Barrier(4)

    def run() -> None:
        engine = make_engine(db_url)
        barrier.wait()
        deliver_pending(engine, s.alerts, build_channels(s), now=NOW, batch=3)
        engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    keys = [r["headers"]["Idempotency-Key"] for r in receiver.requests]
    assert len(keys) == 40 and len(set(keys)) == 40
