"""Muting and acknowledging alerts: what a person decided, stored, and honoured by the evaluator.

A mute covers a rule, or one scope of it (the alert state's scope key, e.g.
`bluesky:fr.bsky.social` for a per-account rule), until a time. While muted, an alert still
opens and is recorded (marked `muted`), so the history and the dashboard stay true, but nothing
is sent for it, neither when it opens nor when it resolves. Muting again moves the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from monitor.schema import alert_events, alert_mutes
from monitor.sqlparts import insert

WHOLE_RULE = ""


@dataclass(frozen=True, slots=True)
class Mute:
    rule: str
    scope: str  # "" = the whole rule
    until: datetime
    by: str
    reason: str | None = None


def mute(conn: Connection, m: Mute, now: datetime) -> None:
    """Store the mute (replacing one of the same rule and scope)."""
    values = {"muted_until": m.until, "created_at": now, "created_by": m.by, "reason": m.reason}
    stmt = insert(conn, alert_mutes).values(rule=m.rule, scope=m.scope, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["rule", "scope"], set_=values))


def unmute(conn: Connection, rule: str, scope: str = WHOLE_RULE) -> bool:
    """Lift a mute; False if there was none."""
    t = alert_mutes
    return bool(conn.execute(delete(t).where(t.c.rule == rule, t.c.scope == scope)).rowcount)


def active_mutes(conn: Connection, now: datetime, rule: str | None = None) -> list[Mute]:
    """The mutes in force at `now` (of one rule, or all)."""
    t = alert_mutes
    query = select(t).where(t.c.muted_until > now).order_by(t.c.rule, t.c.scope)
    if rule is not None:
        query = query.where(t.c.rule == rule)
    return [Mute(r.rule, r.scope, r.muted_until, r.created_by, r.reason) for r in conn.execute(query)]


def muted_until(mutes: list[Mute], rule: str, scope: str) -> datetime | None:
    """When the mute covering this rule's scope ends, or None when it is not muted."""
    ends = [m.until for m in mutes if m.rule == rule and m.scope in (WHOLE_RULE, scope)]
    return max(ends) if ends else None


def acknowledge(conn: Connection, event_id: int, by: str, now: datetime) -> bool:
    """Mark an alert as being looked at; False if there is no such alert or it already was."""
    e = alert_events
    found = conn.execute(
        update(e).where(e.c.id == event_id, e.c.acknowledged_at.is_(None)).values(acknowledged_at=now,
                                                                                  acknowledged_by=by)
    )  # fmt: skip
    return bool(found.rowcount)
