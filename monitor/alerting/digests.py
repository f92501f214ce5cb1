"""Daily or weekly digests: top posts, notable shifts by sending country, alerts of the period.

A digest covers the period that ended most recently at `hour` local time; it goes into the
outbox under the key `digest:NAME:END`, so calling `enqueue_digests` every few minutes stores
each period once; the `deliver` job sends it, and a channel that is down gets it later.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, case, func, select

from alerts.compose import Shift, digest_message
from alerts.messages import Message, local_time
from alerts.quiet import QuietHours
from alerts.settings import WEEKDAYS, Digest
from monitor.alerting.evidence import COLUMNS, Authors, post_ref
from monitor.alerting.outbox import enqueue
from monitor.alerting.scope import in_scope, load_accounts, post_filters
from monitor.config import Account, AlertsSettings
from monitor.schema import accounts, alert_events, deliveries, posts, scores
from monitor.sqlparts import all_of, engagement

MAX_ALERT_LINES = 30


def period_ending(digest: Digest, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the digest's latest complete period at `now`."""
    tz = QuietHours.zone(digest.timezone)
    local = now.astimezone(tz)
    step = 1 if digest.period == "daily" else 7
    end_day = local.date()
    if digest.period == "weekly":
        end_day -= timedelta(days=(local.weekday() - WEEKDAYS.index(digest.weekday.lower())) % 7)
    if datetime.combine(end_day, time(digest.hour), tzinfo=tz) > local:
        end_day -= timedelta(days=step)
    end = datetime.combine(end_day, time(digest.hour), tzinfo=tz)
    start = datetime.combine(end_day - timedelta(days=step), time(digest.hour), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def enqueue_digests(
    engine: Engine, settings: AlertsSettings, *, now: datetime | None = None, accounts: Sequence[Account] = ()
) -> int:
    """Enqueue each digest whose period has ended and is not in the outbox yet; count those enqueued.

    `accounts` (the [[accounts]] section) names the authors of quoted posts as configured."""
    now = now or datetime.now(UTC)
    authors = {a.key: a.name for a in accounts if a.name}
    count = 0
    for d in settings.digests:
        start, end = period_ending(d, now)
        key = f"digest:{d.name}:{end.isoformat()}"
        with engine.begin() as conn:
            done = conn.execute(
                select(func.count()).where(
                    deliveries.c.dedup_key == key, deliveries.c.channel.in_(d.channels)
                )
            ).scalar_one()
            if done == len(set(d.channels)):
                continue
            message = build_digest(conn, d, start, end, key, authors, settings.dashboard_url)
            count += sum(enqueue(conn, c, message, event_id=None, now=now) for c in d.channels)
    return count


def build_digest(
    conn: Connection, d: Digest, start: datetime, end: datetime, key: str,
    authors: Authors | None = None, dashboard_url: str | None = None,
) -> Message:  # fmt: skip
    """The digest message for [start, end)."""
    ids = [a.id for a in load_accounts(conn) if in_scope(a, d.scope, d.scope_value)]
    filters = post_filters(ids, topic=d.scope_value if d.scope == "topic" else None)
    top = conn.execute(
        select(*COLUMNS, engagement().label("eng"))
        .where(all_of(posts.c.created_at >= start, posts.c.created_at < end, *filters))
        .order_by(engagement().desc(), posts.c.created_at.desc())
        .limit(d.top_posts)
    )
    events = conn.execute(
        select(alert_events.c.opened_at, alert_events.c.title)
        .where(alert_events.c.opened_at >= start, alert_events.c.opened_at < end)
        .order_by(alert_events.c.opened_at)
        .limit(MAX_ALERT_LINES)
    )
    lines = [f"{local_time(e.opened_at, d.timezone)} — {e.title}" for e in events]
    shifts = notable_shifts(conn, filters, start, end, d.shifts)
    quoted = [post_ref(r, names=authors) for r in top]
    return digest_message(d, (start, end), quoted, shifts, lines, key=key, dashboard_url=dashboard_url)


def notable_shifts(
    conn: Connection, filters: Sequence[Any], start: datetime, end: datetime, limit: int
) -> list[Shift]:
    """Per sending country, the biggest moves in posts, engagement and negative share vs the period before."""
    before = start - (end - start)
    neg = case((scores.c.sentiment_label == "negative", 1.0), (scores.c.sentiment_label.is_not(None), 0.0))
    src = (
        select(accounts.c.country.label("c"), case((posts.c.created_at >= start, 0), else_=1).label("b"),
               engagement().label("e"), neg.label("neg"))
        .select_from(posts.join(accounts, accounts.c.id == posts.c.account_id)
                     .outerjoin(scores, scores.c.post_id == posts.c.id))
        .where(all_of(posts.c.created_at >= before, posts.c.created_at < end, *filters))
        .subquery()
    )  # fmt: skip
    rows = conn.execute(
        select(src.c.c, src.c.b, func.count(), func.sum(src.c.e), func.avg(src.c.neg)).group_by(
            src.c.c, src.c.b
        )
    )
    cells: dict[str, dict[int, tuple[float, float, float | None]]] = {}
    for c, b, n, e, share in rows:
        cells.setdefault(c, {})[int(b)] = (float(n), float(e or 0), None if share is None else float(share))
    found: list[tuple[float, Shift]] = []
    for country, by in cells.items():
        now_, was = by.get(0, (0.0, 0.0, None)), by.get(1, (0.0, 0.0, None))
        for i, metric in enumerate(("post_count", "engagement_total", "negative_share")):
            a, b = was[i], now_[i]
            if a is None or b is None or a == b:
                continue
            floor = 0.05 if metric == "negative_share" else 1.0
            found.append((abs(b - a) / max(a, floor), Shift(country, metric, a, b)))
    found.sort(key=lambda x: (-x[0], x[1].label, x[1].metric))
    return [s for _, s in found[:limit]]
