"""The outbox: one stored delivery per message x channel, sent at least once, never lost.

    pending --claim--> sending --sent--> sent
                          |  \\--transient error--> pending (next_attempt_at = backoff)
                          |   \\--permanent error or max_attempts--> failed
                          \\--sender died: the lease (next_attempt_at) expires--> claimed again

Claiming marks rows `sending` with a lease in their own short transaction (FOR UPDATE SKIP
LOCKED on PostgreSQL; SQLite serialises writers), then sends outside any transaction, so
several processes never send the same delivery, and a crash only delays it. A delivery is
unique per (channel, dedup_key): enqueuing the same alert twice stores it once. What sending
needs is stored with the delivery (the message, the quiet hours of its rule), so the one
`deliver` job sends alerts and digests alike without looking anything up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from alerts.channels import Channel
from alerts.errors import DeliveryError, DeliveryRejected
from alerts.messages import Message
from alerts.quiet import QuietHours
from monitor.config import AlertsSettings
from monitor.schema import deliveries
from monitor.sqlparts import insert

log = logging.getLogger(__name__)
OPEN = ("pending", "sending")


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int
    failed: int  # attempts that failed in this run (retried later or given up)
    pending: int  # deliveries still waiting after this run


def enqueue(
    conn: Connection,
    channel: str,
    message: Message,
    *,
    event_id: int | None,
    now: datetime,
    quiet: QuietHours | None = None,
) -> bool:
    """Store one delivery (once per channel and message key); False if it was already stored."""
    not_before = quiet.release(now) if quiet else now
    stmt = insert(conn, deliveries).values(
        event_id=event_id,
        channel=channel,
        kind=message.kind,
        dedup_key=message.key,
        payload=message.to_dict(),
        status="pending",
        attempts=0,
        next_attempt_at=not_before,
        quiet_hours=quiet.span if quiet else None,
        quiet_timezone=quiet.tz.key if quiet else None,
        created_at=now,
    )
    result = conn.execute(stmt.on_conflict_do_nothing(index_elements=["channel", "dedup_key"]))
    return bool(result.rowcount)


def quiet_of(row: Any) -> QuietHours | None:
    """The quiet hours stored with a delivery, or None."""
    return QuietHours.parse(row.quiet_hours, row.quiet_timezone or "UTC") if row.quiet_hours else None


def claim(engine: Engine, alerts: AlertsSettings, now: datetime, limit: int) -> list[Any]:
    """Take up to `limit` due deliveries for this process, leased for `lease_seconds`."""
    query = (
        select(
            deliveries.c.id,
            deliveries.c.channel,
            deliveries.c.payload,
            deliveries.c.attempts,
            deliveries.c.quiet_hours,
            deliveries.c.quiet_timezone,
        )
        .where(deliveries.c.status.in_(OPEN), deliveries.c.next_attempt_at <= now)
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
        .limit(limit)
    )
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(conn.execute(query))
        ready = []
        for r in rows:
            quiet = quiet_of(r)
            if quiet is not None and quiet.contains(now):  # quiet hours delay, never drop
                values: dict[str, Any] = {"status": "pending", "next_attempt_at": quiet.release(now)}
                conn.execute(update(deliveries).where(deliveries.c.id == r.id).values(**values))
            else:
                ready.append(r)
        if ready:
            lease = now + timedelta(seconds=alerts.lease_seconds)
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_([r.id for r in ready]))
                .values(status="sending", attempts=deliveries.c.attempts + 1, next_attempt_at=lease)
            )
    return ready


def _finish(engine: Engine, delivery_id: int, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id, deliveries.c.status == "sending")
            .values(**values)
        )


def backoff(alerts: AlertsSettings, attempts: int) -> timedelta:
    """Delay before the next try after `attempts` failed tries: doubling, capped."""
    seconds = min(alerts.retry_seconds * 2 ** max(attempts - 1, 0), alerts.max_retry_seconds)
    return timedelta(seconds=seconds)


def deliver_pending(
    engine: Engine,
    alerts: AlertsSettings,
    channels: Mapping[str, Channel],
    *,
    now: datetime | None = None,
    stop: threading.Event | None = None,
    batch: int = 20,
) -> DeliveryReport:
    """Send every due delivery once; failures are rescheduled with backoff or marked failed."""
    clock: Callable[[], datetime] = (lambda: now) if now else (lambda: datetime.now(UTC))  # type: ignore[return-value]
    sent = failed = 0
    while not (stop and stop.is_set()):
        claimed = claim(engine, alerts, clock(), batch)
        if not claimed:
            break
        for row in claimed:
            if stop and stop.is_set():
                break  # the rest stay leased and are retried when the lease ends
            if _send_one(engine, alerts, channels, row, clock(), quiet_of(row)):
                sent += 1
            else:
                failed += 1
    with engine.connect() as conn:
        pending = conn.execute(select(func.count()).where(deliveries.c.status.in_(OPEN))).scalar_one()
    return DeliveryReport(sent, failed, pending)


def _send_one(
    engine: Engine,
    alerts: AlertsSettings,
    channels: Mapping[str, Channel],
    row: Any,
    now: datetime,
    quiet: QuietHours | None,
) -> bool:
    channel = channels.get(row.channel)
    try:
        if channel is None:
            raise DeliveryError(f"channel '{row.channel}' is not configured")
        channel.send(Message.from_dict(row.payload))
    except DeliveryError as exc:
        attempts = row.attempts + 1
        give_up = isinstance(exc, DeliveryRejected) or attempts >= alerts.max_attempts
        retry_at = now + backoff(alerts, attempts)
        if getattr(exc, "retry_after", None):  # the server said how long to wait (HTTP 429)
            retry_at = max(retry_at, now + timedelta(seconds=exc.retry_after))  # type: ignore[attr-defined]
        retry_at = quiet.release(retry_at) if quiet else retry_at
        log.warning("delivery %s to %s failed (attempt %d): %s%s", row.id, row.channel, attempts, exc,
                    "; giving up" if give_up else f"; retrying at {retry_at:%H:%M:%S}")  # fmt: skip
        status = "failed" if give_up else "pending"
        _finish(engine, row.id, status=status, last_error=str(exc)[:2000], next_attempt_at=retry_at)
        return False
    _finish(engine, row.id, status="sent", sent_at=now, last_error=None)
    log.info("delivery %s sent to %s", row.id, row.channel)
    return True
