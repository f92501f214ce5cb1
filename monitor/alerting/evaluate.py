"""Alert rules against the database: evaluate, open and resolve alerts, fill the outbox.

An alert state is one row per (rule, scope member). It changes only inside a transaction
that holds that row (SELECT ... FOR UPDATE on PostgreSQL; SQLite serialises writers with
BEGIN IMMEDIATE), and an evaluation older than the one already applied is ignored, so
evaluating twice on the same data, or in two processes at once, opens one alert. Events are
also unique per (rule, scope, window_start) and deliveries per (channel, dedup_key).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, update

from alerts.compose import AlertInfo, alert_message, alert_title, condition
from alerts.rules import Verdict, WindowStats, judge
from alerts.settings import Rule
from monitor.alerting.evidence import Authors, top_posts
from monitor.alerting.metrics import window_stats
from monitor.alerting.mutes import Mute, active_mutes, muted_until
from monitor.alerting.outbox import enqueue
from monitor.alerting.scope import AccountRow, Member, load_accounts, members
from monitor.config import Account, AlertsSettings
from monitor.schema import alert_events, alert_states
from monitor.sqlparts import insert

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One rule for one scope member: its verdict and what it changed."""

    rule: str
    scope: str
    verdict: Verdict
    condition: str  # "negative share 62% >= 40%"
    action: str  # fire | resolve | suppressed (cooldown) | firing | ok | stale


@dataclass(frozen=True, slots=True)
class _Context:
    """What every rule's evaluation shares: the settings, authors' names, and the mutes in force."""

    settings: AlertsSettings
    authors: Authors
    mutes: list[Mute]


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    fired: int
    resolved: int
    outcomes: tuple[Outcome, ...] = ()


def evaluate_rules(
    engine: Engine,
    settings: AlertsSettings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    names: Sequence[str] = (),
    accounts: Sequence[Account] = (),
) -> EvaluationReport:
    """Evaluate every rule (or those named) now; with `dry_run`, only say what would change.

    `accounts` (the [[accounts]] section) names the authors of quoted posts as configured."""
    now = now or datetime.now(UTC)
    authors = {a.key: a.name for a in accounts if a.name}
    outcomes: list[Outcome] = []
    for rule in settings.rules:
        if names and rule.name not in names:
            continue
        # A dry run's connection is never committed: leaving the block rolls it back.
        with engine.connect() if dry_run else engine.begin() as conn:
            ctx = _Context(settings, authors, active_mutes(conn, now, rule.name))
            outcomes += _evaluate_rule(conn, rule, load_accounts(conn), now, dry_run, ctx)
    fired = sum(o.action == "fire" for o in outcomes)
    resolved = sum(o.action == "resolve" for o in outcomes)
    if fired or resolved:
        log.info("alerts: %d fired, %d resolved", fired, resolved)
    return EvaluationReport(fired, resolved, tuple(outcomes))


def _evaluate_rule(
    conn: Connection,
    rule: Rule,
    known: Sequence[AccountRow],
    now: datetime,
    dry_run: bool,
    ctx: _Context,
) -> list[Outcome]:
    group = members(rule, known)
    stats = window_stats(conn, rule, group, now)
    states = _states(conn, rule, [m.key for m in group], now, lock=not dry_run)
    out, touched = [], []
    for m in group:
        verdict = judge(rule, stats[m.key])
        action = _decide(rule, states.get(m.key), verdict, now)
        if not dry_run and action != "stale":
            state, member_stats = states[m.key], stats[m.key]
            action = _apply(conn, rule, m, state, member_stats, verdict, action, now, ctx)
            touched.append({"r": rule.name, "s": m.key, "at": now, "v": verdict.value})
        out.append(Outcome(rule.name, m.label, verdict, condition(rule, verdict.value), action))
    if touched:  # one batched statement for the bookkeeping of every member
        conn.execute(
            update(alert_states)
            .where(alert_states.c.rule == bindparam("r"), alert_states.c.scope == bindparam("s"))
            .values(evaluated_at=bindparam("at"), last_value=bindparam("v")),
            touched,
        )
    if not dry_run:
        _resolve_orphans(conn, rule, {m.key for m in group}, now)
    return out


def _states(conn: Connection, rule: Rule, keys: Sequence[str], now: datetime, lock: bool) -> dict[str, Any]:
    """The rule's states by scope; with `lock`, missing ones are created and all are locked."""
    query = select(alert_states).where(alert_states.c.rule == rule.name).order_by(alert_states.c.scope)
    found = {r.scope: r for r in conn.execute(query)}
    if not lock:
        return found
    missing = [k for k in keys if k not in found]
    if missing:
        rows = [{"rule": rule.name, "scope": k, "firing": False, "changed_at": now} for k in missing]
        conn.execute(
            insert(conn, alert_states).on_conflict_do_nothing(index_elements=["rule", "scope"]), rows
        )
    if missing or conn.dialect.name == "postgresql":
        # Locked in scope order, so two evaluators of the same rule queue instead of deadlocking.
        locked = query.with_for_update() if conn.dialect.name == "postgresql" else query
        found = {r.scope: r for r in conn.execute(locked)}
    return found


def _decide(rule: Rule, state: Any, verdict: Verdict, now: datetime) -> str:
    if state is not None and state.evaluated_at is not None and state.evaluated_at > now:
        return "stale"  # a newer evaluation has already been applied
    firing = bool(state is not None and state.firing)
    if verdict.firing and not firing:
        last = state.last_fired_at if state is not None else None
        if last is not None and now - last < timedelta(hours=rule.cooldown_hours):
            return "suppressed"
        return "fire"
    if firing and not verdict.firing:
        return "resolve"
    return "firing" if firing else "ok"


def _apply(
    conn: Connection,
    rule: Rule,
    m: Member,
    state: Any,
    stats: WindowStats,
    verdict: Verdict,
    action: str,
    now: datetime,
    ctx: _Context,
) -> str:
    where = (alert_states.c.rule == rule.name) & (alert_states.c.scope == m.key)
    if action == "fire":
        event_id = _open(conn, rule, m, stats, verdict, now, ctx)
        if event_id is None:
            return "firing"  # the same window was already opened
        values = {"firing": True, "event_id": event_id, "changed_at": now, "last_fired_at": now}
        conn.execute(update(alert_states).where(where).values(**values))
    elif action == "resolve":
        _resolve(conn, rule, m.label, state.event_id, now, notify=rule.notify_resolved)
        conn.execute(update(alert_states).where(where).values(firing=False, event_id=None, changed_at=now))
    return action


def _open(
    conn: Connection,
    rule: Rule,
    m: Member,
    stats: WindowStats,
    verdict: Verdict,
    now: datetime,
    ctx: _Context,
) -> int | None:
    start = now - timedelta(hours=rule.window_hours)
    posts = top_posts(conn, rule, m, stats, now, ctx.authors)
    muted = muted_until(ctx.mutes, rule.name, m.key)
    title = alert_title(rule, m.label, verdict.value, kind="fire")
    details = {
        "label": m.label,
        "posts": [asdict(p) for p in posts],
        "extra": stats.extra,
        "count": stats.count,
    }
    stmt = insert(conn, alert_events).values(
        rule=rule.name, scope=m.key, window_start=start, window_end=now, severity=rule.severity,
        metric=rule.metric, value=verdict.value, observed=verdict.observed, threshold=rule.threshold,
        baseline=verdict.baseline, title=title, details=details, opened_at=now, muted=muted is not None,
    )  # fmt: skip
    stmt = stmt.on_conflict_do_nothing(index_elements=["rule", "scope", "window_start"])
    event_id = conn.execute(stmt.returning(alert_events.c.id)).scalar()
    if event_id is None:
        return None
    if muted is not None:
        log.info("alert opened while muted until %s UTC (nothing sent): %s", f"{muted:%Y-%m-%d %H:%M}", title)
        return int(event_id)
    info = AlertInfo(event_id, m.label, verdict.value, verdict.observed, verdict.baseline, start, now, now)
    message = alert_message(
        rule, info, posts, kind="fire", key=f"fire:{event_id}", dashboard_url=ctx.settings.dashboard_url
    )
    for channel in rule.channels:
        enqueue(conn, channel, message, event_id=event_id, now=now, quiet=rule.quiet())
    log.info("alert opened: %s", title)
    return int(event_id)


def _resolve(
    conn: Connection, rule: Rule, label: str, event_id: int | None, now: datetime, notify: bool
) -> None:
    if event_id is None:
        return
    conn.execute(update(alert_events).where(alert_events.c.id == event_id).values(resolved_at=now))
    if not notify:
        return
    e = conn.execute(select(alert_events).where(alert_events.c.id == event_id)).one()
    if e.muted:  # nobody was told it opened: nobody is told it is over
        return
    info = AlertInfo(
        event_id, label, e.value, e.observed, e.baseline, e.window_start, e.window_end, e.opened_at, now
    )
    message = alert_message(rule, info, (), kind="resolve", key=f"resolve:{event_id}")
    for channel in rule.channels:
        enqueue(conn, channel, message, event_id=event_id, now=now, quiet=rule.quiet())
    log.info("alert resolved: %s", message.title)


def _resolve_orphans(conn: Connection, rule: Rule, scopes: set[str], now: datetime) -> None:
    # A member that left the scope (account removed, group changed) cannot stay firing forever.
    rows = conn.execute(
        select(alert_states.c.scope, alert_states.c.event_id).where(
            alert_states.c.rule == rule.name, alert_states.c.firing.is_(True)
        )
    )
    for scope, event_id in [tuple(r) for r in rows if r.scope not in scopes]:
        _resolve(conn, rule, scope, event_id, now, notify=False)
        conn.execute(
            update(alert_states)
            .where(alert_states.c.rule == rule.name, alert_states.c.scope == scope)
            .values(firing=False, event_id=None, changed_at=now, evaluated_at=now)
        )
