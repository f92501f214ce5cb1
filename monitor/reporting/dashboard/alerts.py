"""The alerts page: what fires now, the mutes in force, the history with each delivery's status.

Muting and acknowledging are the alerting stage's (monitor.alerting.mutes); the composition
root hands them to the dashboard as `AlertActions`, so this room only reads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, func, select

from monitor.reporting.dashboard.overview import firing
from monitor.schema import alert_events, alert_states, deliveries


class AlertActions(Protocol):
    """What a person may decide about alerts (admin role): stored, and honoured by the evaluator."""

    def mute(self, rule: str, scope: str, hours: float, by: str, reason: str | None) -> datetime:
        """Mute a rule, or one scope of it ("" = the whole rule), for `hours`; return the end."""

    def unmute(self, rule: str, scope: str) -> bool:
        """Lift a mute; False if there was none."""

    def acknowledge(self, event_id: int, by: str) -> bool:
        """Record who is on an alert; False if unknown or already acknowledged."""

    def active(self, conn: Connection, now: datetime) -> list[dict[str, Any]]:
        """The mutes in force: rule, scope, until, by, reason."""


def alerts_page(
    conn: Connection, now: datetime, rules: Sequence[str], actions: AlertActions, *,
    rule: str = "", scope: str = "", page: int = 1, size: int = 50,
) -> dict[str, Any]:  # fmt: skip
    """Firing alerts, mutes, the rules and scopes one can mute, and one page of the history."""
    e = alert_events.c
    conds = [c for c, v in ((e.rule == rule, rule), (e.scope == scope, scope)) if v]
    events = [
        dict(r._mapping)
        for r in conn.execute(
            select(e.id, e.rule, e.scope, e.severity, e.title, e.metric, e.value, e.threshold, e.opened_at,
                   e.resolved_at, e.muted, e.acknowledged_at, e.acknowledged_by)
            .where(*conds).order_by(e.opened_at.desc(), e.id.desc())
            .offset((page - 1) * size).limit(size + 1)
        )
    ]  # fmt: skip
    total = conn.execute(select(func.count()).select_from(alert_events).where(*conds)).scalar_one()
    sent = _deliveries(conn, [ev["id"] for ev in events[:size]])
    for ev in events:
        ev["deliveries"] = sent.get(ev["id"], [])
    scopes: dict[str, list[str]] = defaultdict(list)
    for r in conn.execute(select(alert_states.c.rule, alert_states.c.scope).order_by(alert_states.c.scope)):
        scopes[r.rule].append(r.scope)
    return {
        "firing": firing(conn),
        "mutes": actions.active(conn, now),
        "rules": [{"name": name, "scopes": scopes.get(name, [])} for name in rules],
        "history": events[:size], "more": len(events) > size, "total": int(total), "page": page,
    }  # fmt: skip


def _deliveries(conn: Connection, event_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each event's deliveries: channel, kind, status, attempts, last error, sent time."""
    if not event_ids:
        return {}
    d = deliveries.c
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    query = (
        select(
            d.event_id, d.channel, d.kind, d.status, d.attempts, d.last_error, d.sent_at, d.next_attempt_at
        )
        .where(d.event_id.in_(event_ids))
        .order_by(d.event_id, d.kind, d.channel)
    )
    for r in conn.execute(query):
        row = dict(r._mapping)
        out[row.pop("event_id")].append({**row, "last_error": (row["last_error"] or "")[:300]})
    return out
