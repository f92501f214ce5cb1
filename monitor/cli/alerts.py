"""`diplomonitor alerts ...`: list rules and alerts, evaluate now, test a channel."""

from __future__ import annotations

from typing import Any

import click

from alerts.compose import condition
from monitor.cli.app import App, emit, output_options, pass_app


@click.group()
def alerts() -> None:
    """Alert rules, their state, and the channels they are sent to."""


@alerts.command("list")
@click.option("--events", is_flag=True, help="List recent alerts and their deliveries instead of rules.")
@click.option("--limit", default=50, show_default=True, help="How many recent alerts with --events.")
@output_options
@pass_app
def list_alerts(app: App, events: bool, limit: int, fmt: str) -> None:
    """Show each rule and its current state (firing or not), or recent alerts with --events."""
    from sqlalchemy import select

    from monitor.schema import alert_states

    if events:
        _list_events(app, limit, fmt)
        return
    from monitor.alerting.mutes import active_mutes, muted_until

    with app.ready_engine().connect() as conn:
        states: dict[str, list[Any]] = {}
        for s in conn.execute(select(alert_states).order_by(alert_states.c.rule, alert_states.c.scope)):
            states.setdefault(s.rule, []).append(s)
        mutes = active_mutes(conn, app.now())
    rows = []
    for rule in app.settings.alerts.rules:
        base = {"rule": rule.name, "metric": rule.metric, "severity": rule.severity,
                "channels": list(rule.channels)}  # fmt: skip
        for s in states.get(rule.name) or [None]:
            value = s.last_value if s else None
            rows.append({
                **base,
                "scope": s.scope if s else _scope(rule),
                "state": ("FIRING" if s.firing else "ok") if s else "not evaluated",
                # The last evaluated value against the threshold ("n/a" before any evaluation).
                "condition": condition(rule, value),
                "since": s.changed_at if s else None,
                "last_fired_at": s.last_fired_at if s else None,
                "muted_until": muted_until(mutes, rule.name, s.scope if s else ""),
            })  # fmt: skip
    columns = ["rule", "scope", "state", "condition", "since", "last_fired_at", "severity", "channels"]
    emit(rows, [*columns, "muted_until"], fmt)
    if not rows and fmt == "table":
        click.echo("no alert rules: add [[alerts.rules]] to the config")


def _scope(rule: Any) -> str:
    scope = "all" if rule.scope == "all" else f"{rule.scope}:{rule.scope_value}"
    return scope + (" (each account)" if rule.per_member else "")


def _list_events(app: App, limit: int, output: str) -> None:
    from sqlalchemy import func, select

    from monitor.schema import alert_events, deliveries

    d = deliveries
    counts = (
        select(d.c.event_id, d.c.status, func.count().label("n"))
        .group_by(d.c.event_id, d.c.status)
        .subquery()
    )
    with app.ready_engine().connect() as conn:
        events = list(
            conn.execute(select(alert_events).order_by(alert_events.c.opened_at.desc()).limit(limit))
        )
        status: dict[int, dict[str, int]] = {}
        ids = [e.id for e in events]
        for r in conn.execute(select(counts).where(counts.c.event_id.in_(ids))):
            status.setdefault(r.event_id, {})[r.status] = r.n
    rows = [
        {"id": e.id, "opened_at": e.opened_at, "rule": e.rule, "scope": e.scope, "severity": e.severity,
         "title": e.title, "resolved_at": e.resolved_at,
         "deliveries": ("muted" if e.muted else None)
         or " ".join(f"{k}={v}" for k, v in sorted(status.get(e.id, {}).items())) or None,
         "acknowledged_by": e.acknowledged_by}
        for e in events
    ]  # fmt: skip
    columns = ["id", "opened_at", "rule", "scope", "severity", "resolved_at", "deliveries", "acknowledged_by"]
    emit(rows, [*columns, "title"], output)


@alerts.command("check")
@click.option("--dry-run", is_flag=True, help="Only print what would fire or resolve; change nothing.")
@click.option("--rule", "names", multiple=True, metavar="NAME", help="Evaluate only this rule (repeatable).")
@output_options
@pass_app
def check(app: App, dry_run: bool, names: tuple[str, ...], fmt: str) -> None:
    """Evaluate the rules now, print each verdict, then send what is due (unless --dry-run)."""
    import httpx

    from monitor.alerting.evaluate import evaluate_rules
    from monitor.alerting.outbox import deliver_pending
    from monitor.compose import build_channels

    known = {r.name for r in app.settings.alerts.rules}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise click.BadParameter(f"no rule named {', '.join(unknown)}", param_hint="--rule")
    engine = app.ready_engine()
    s = app.settings
    report = evaluate_rules(engine, s.alerts, now=app.now(), dry_run=dry_run, names=names,
                            accounts=s.accounts)  # fmt: skip
    verb = {"fire": "would fire", "resolve": "would resolve"} if dry_run else {}
    rows = [
        {"rule": o.rule, "scope": o.scope, "condition": o.condition, "met": o.verdict.firing,
         "action": verb.get(o.action, o.action), "note": o.verdict.note or None}
        for o in report.outcomes
    ]  # fmt: skip
    emit(rows, ["rule", "scope", "condition", "met", "action", "note"], fmt)
    if dry_run:
        return
    with httpx.Client() as http:
        channels = build_channels(app.settings, http=http)
        sent = deliver_pending(engine, app.settings.alerts, channels, now=app.now())
    if fmt == "table":
        click.echo(f"{report.fired} fired, {report.resolved} resolved")
        click.echo(f"deliveries: {sent.sent} sent, {sent.failed} failed attempts, {sent.pending} pending")


@alerts.command("test")
@click.argument("channel")
@pass_app
def test(app: App, channel: str) -> None:
    """Send a test message to CHANNEL right away (not through the outbox)."""
    import httpx

    from alerts.compose import probe_message
    from alerts.errors import DeliveryError
    from monitor.compose import build_channels

    with httpx.Client() as http:
        channels = build_channels(app.settings, http=http)
        if channel not in channels:
            names = ", ".join(sorted(channels)) or "none configured"
            raise click.ClickException(f"no channel named '{channel}' (channels: {names})")
        try:
            channels[channel].send(probe_message(channel, app.now()))
        except DeliveryError as exc:
            raise click.ClickException(f"channel '{channel}': {exc}") from None
    click.echo(f"test message sent to '{channel}'")


@alerts.command("mute")
@click.argument("rule")
@click.option(
    "--scope",
    default="",
    metavar="SCOPE",
    help="Only this scope of the rule, as `alerts list` shows it (e.g. bluesky:fr.bsky.social).",
)
@click.option("--hours", type=click.FloatRange(min=0, min_open=True), required=True, help="For how long.")
@click.option("--reason", metavar="TEXT", help="Why, for the others in the team.")
@pass_app
def mute_command(app: App, rule: str, scope: str, hours: float, reason: str | None) -> None:
    """Send nothing for RULE (or one scope of it) for some hours; alerts are still recorded."""
    from datetime import timedelta

    from monitor.alerting.mutes import Mute, mute

    _known_rule(app, rule)
    until = app.now() + timedelta(hours=hours)
    with app.ready_engine().begin() as conn:
        mute(conn, Mute(rule, scope, until, _who(), reason), app.now())
    click.echo(f"muted '{rule}'{f' ({scope})' if scope else ''} until {until:%Y-%m-%d %H:%M} UTC")


@alerts.command("unmute")
@click.argument("rule")
@click.option("--scope", default="", metavar="SCOPE", help="The scope the mute was given for.")
@pass_app
def unmute_command(app: App, rule: str, scope: str) -> None:
    """Lift a mute before its end."""
    from monitor.alerting.mutes import unmute

    with app.ready_engine().begin() as conn:
        lifted = unmute(conn, rule, scope)
    if not lifted:
        raise click.ClickException(f"'{rule}'{f' ({scope})' if scope else ''} is not muted")
    click.echo(f"'{rule}'{f' ({scope})' if scope else ''} is no longer muted")


@alerts.command("ack")
@click.argument("event_id", type=int)
@pass_app
def ack_command(app: App, event_id: int) -> None:
    """Acknowledge alert EVENT_ID (the id `alerts list --events` shows): someone is on it."""
    from monitor.alerting.mutes import acknowledge

    with app.ready_engine().begin() as conn:
        done = acknowledge(conn, event_id, _who(), app.now())
    if not done:
        raise click.ClickException(f"no unacknowledged alert {event_id}")
    click.echo(f"alert {event_id} acknowledged")


def _known_rule(app: App, rule: str) -> None:
    names = [r.name for r in app.settings.alerts.rules]
    if rule not in names:
        raise click.BadParameter(f"no rule named '{rule}' (rules: {', '.join(names) or 'none'})",
                                 param_hint="RULE")  # fmt: skip


def _who() -> str:
    """Who acted, for the record: the login name of the person at the command line."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"[:128]
    except (KeyError, OSError):
        return "cli"
