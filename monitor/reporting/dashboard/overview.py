"""The overview: is collection healthy, what fires, how busy the week was, its best posts.

Every figure is a small indexed query or an aggregate over a handful of rows, except the top
posts, which are the report's own `top_engagement` and `top_overperformance` over 7 days.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select

from monitor.reporting.gather import top_engagement, top_overperformance
from monitor.reporting.selection import Period, Selection
from monitor.schema import accounts, alert_events, alert_states, collection_state, deliveries, posts

TOP = 5


def overview(
    conn: Connection, now: datetime, hosts: Mapping[str, str], backlog: Callable[[], int | None] | None,
    top: Callable[[], dict[str, Any]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The overview's figures (`top` gives the top posts, possibly cached)."""
    return {
        "now": now,
        "accounts": watched(conn),
        "collection": collection(conn, now, hosts),
        "failing": failing(conn),
        "unscored": backlog() if backlog else None,
        "deliveries": delivery_counts(conn),
        "firing": firing(conn),
        "activity": activity(conn, now),
        **(top() if top else top_posts(conn, now)),
    }


def watched(conn: Connection) -> dict[str, int]:
    """Active accounts per platform, and in all."""
    rows = conn.execute(
        select(accounts.c.platform, func.count())
        .where(accounts.c.active.is_(True))
        .group_by(accounts.c.platform)
    ).all()
    return {"all": sum(n for _, n in rows), **{p: n for p, n in rows}}


def collection(conn: Connection, now: datetime, hosts: Mapping[str, str]) -> list[dict[str, Any]]:
    """Per platform and host: accounts, last successful collection, accounts failing or waiting."""
    host = func.coalesce(accounts.c.instance, accounts.c.platform).label("host")
    s = collection_state.c
    waiting = case((s.next_attempt_at > now, 1), else_=0)
    query = (
        select(accounts.c.platform, host, func.count().label("accounts"),
               func.max(s.last_success_at).label("last_success"),
               func.sum(case((s.consecutive_failures > 0, 1), else_=0)).label("failing"),
               func.sum(waiting).label("waiting"),
               func.max(case((s.next_attempt_at > now, s.next_attempt_at))).label("waiting_until"))
        .select_from(accounts.outerjoin(collection_state, s.account_id == accounts.c.id))
        .where(accounts.c.active.is_(True))
        .group_by(accounts.c.platform, host)
        .order_by(accounts.c.platform, host)
    )  # fmt: skip
    out = []
    for r in conn.execute(query):
        row = dict(r._mapping)
        row["host"] = hosts.get(r.host, r.host) if r.host == r.platform else r.host
        row["failing"], row["waiting"] = int(r.failing or 0), int(r.waiting or 0)
        row["cooldown"] = row["waiting"] > 0 and row["waiting"] == row["accounts"]
        out.append(row)
    return out


def failing(conn: Connection, limit: int = 20) -> list[dict[str, Any]]:
    """Accounts whose last collection failed, or that the platform reports gone."""
    s = collection_state.c
    query = (
        select(accounts.c.platform, accounts.c.handle, accounts.c.status, s.consecutive_failures,
               s.last_error, s.next_attempt_at, s.last_success_at)
        .select_from(accounts.outerjoin(collection_state, s.account_id == accounts.c.id))
        .where(accounts.c.active.is_(True), or_(s.consecutive_failures > 0, accounts.c.status != "ok"))
        .order_by(s.consecutive_failures.desc(), accounts.c.handle)
        .limit(limit)
    )  # fmt: skip
    return [{**r._mapping, "last_error": (r.last_error or "")[:300]} for r in conn.execute(query)]


def delivery_counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(
        select(deliveries.c.status, func.count())
        .where(deliveries.c.status.in_(("pending", "sending", "failed")))
        .group_by(deliveries.c.status)
    ).all()
    return {"pending": 0, "sending": 0, "failed": 0, **dict(rows)}  # type: ignore[arg-type]


def firing(conn: Connection, scopes: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The alerts firing now, most severe and newest first."""
    e, st = alert_events.c, alert_states.c
    severity = case((e.severity == "critical", 0), (e.severity == "warning", 1), else_=2)
    query = (
        select(e.id, e.rule, e.scope, e.severity, e.title, e.metric, e.value, e.observed, e.threshold,
               e.opened_at, e.window_start, e.window_end, e.muted, e.acknowledged_at, e.acknowledged_by)
        .select_from(alert_states.join(alert_events, e.id == st.event_id))
        .where(st.firing.is_(True), *([st.scope.in_(scopes)] if scopes else []))
        .order_by(severity, e.opened_at.desc(), e.id.desc())
    )  # fmt: skip
    return [dict(r._mapping) for r in conn.execute(query)]


def activity(conn: Connection, now: datetime) -> dict[str, Any]:
    """Posts today (UTC), in the last 7 days, and in the 7 days before."""
    midnight = datetime.combine(now.date(), time(), now.tzinfo)
    week, fortnight = now - timedelta(days=7), now - timedelta(days=14)
    c = posts.c.created_at
    row = conn.execute(
        select(
            func.count().filter(c >= midnight),
            func.count().filter(c >= week),
            func.count().filter(and_(c >= fortnight, c < week)),
        ).where(c >= min(fortnight, midnight), c < now)
    ).one()
    today, this_week, last_week = (int(v or 0) for v in row)
    change = (this_week - last_week) * 100 / last_week if last_week else None
    return {"today": today, "week": this_week, "previous_week": last_week, "change_pct": change}


def top_posts(conn: Connection, now: datetime) -> dict[str, Any]:
    """The week's most engaging posts and its most overperforming ones (the report's definitions)."""
    sel = Selection(Period(now - timedelta(days=7), now, "the last 7 days"))
    return {
        "top_engagement": [asdict(p) for p in top_engagement(conn, sel, TOP)],
        "top_overperformance": [asdict(p) for p in top_overperformance(conn, sel, TOP)],
    }
