"""Messages for people: an alert firing or resolving, a digest, a test. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.messages import Message, PostRef, Section
from alerts.settings import Digest, Rule

LABELS = {
    "post_count": "posts",
    "negative_share": "negative share",
    "mean_sentiment": "mean sentiment",
    "topic_share": "topic share",
    "engagement_total": "total engagement",
    "engagement_median": "median engagement",
    "overperformance": "overperformance",
    "silence": "hours since the last post",
    "keyword": "matching posts",
}


@dataclass(frozen=True, slots=True)
class AlertInfo:
    """What an alert event holds, as stored."""

    event_id: int
    scope: str  # e.g. "group eu-institutions" or "bluesky:ec.europa.eu"
    value: float | None
    observed: float | None
    baseline: float | None
    window_start: datetime
    window_end: datetime
    opened_at: datetime
    resolved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Shift:
    """A metric that moved between the previous period and this one, for digests."""

    label: str
    metric: str
    before: float | None
    after: float | None


def fmt(metric: str, value: float | None) -> str:
    """A metric's value as people read it."""
    if value is None:
        return "n/a"
    if metric in ("negative_share", "topic_share"):
        return f"{value:.0%}"
    if metric == "mean_sentiment":
        return f"{value:+.2f}"
    if metric == "overperformance":
        return f"{value:.1f}x"
    if metric == "silence":
        return f"{value:.1f} h"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _metric_name(rule: Rule) -> str:
    name = LABELS[rule.metric]
    if rule.metric == "topic_share":
        name = f"share of '{rule.topic}'"
    return name


def condition(rule: Rule, value: float | None) -> str:
    """ "negative share 62% >= 40%", or for spikes "posts z-score 3.4 >= 3"."""
    name = _metric_name(rule)
    if rule.spike == "zscore":
        shown, limit = (f"{value:.1f}" if value is not None else "n/a"), f"{rule.threshold:g}"
        return f"{name} z-score {shown} {rule.comparison} {limit}"
    if rule.spike == "ratio":
        shown = f"{value:.1f}x" if value is not None else "n/a"
        return f"{name} {shown} the baseline {rule.comparison} {rule.threshold:g}x"
    return f"{name} {fmt(rule.metric, value)} {rule.comparison} {fmt(rule.metric, rule.threshold)}"


def _facts(rule: Rule, a: AlertInfo) -> tuple[tuple[str, str], ...]:
    facts = [("Rule", rule.name), ("Scope", a.scope), ("Condition", condition(rule, a.value))]
    if rule.spike != "none":
        facts.append(("In the window", fmt(rule.metric, a.observed)))
        facts.append(("Baseline mean", fmt(rule.metric, a.baseline)))
    span = f"{a.window_start:%Y-%m-%d %H:%M} – {a.window_end:%Y-%m-%d %H:%M} UTC"
    facts += [("Window", span), ("Severity", rule.severity)]
    if a.resolved_at:
        facts.append(("Resolved", f"{a.resolved_at:%Y-%m-%d %H:%M} UTC"))
    return tuple(facts)


def alert_title(rule: Rule, scope: str, value: float | None, *, kind: str) -> str:
    """The one-line title of an alert that fired or went back to normal (stored with the event)."""
    if kind == "resolve":
        return f"Back to normal: {rule.name} ({scope})"
    return f"{rule.name}: {condition(rule, value)} ({scope})"


def alert_message(rule: Rule, a: AlertInfo, posts: Sequence[PostRef], *, kind: str, key: str) -> Message:
    """The message for an alert that fired (`kind="fire"`) or went back to normal ("resolve")."""
    title = alert_title(rule, a.scope, a.value, kind=kind)
    sections = (Section("Posts behind it", posts=tuple(posts)),) if posts and kind == "fire" else ()
    data: dict[str, Any] = {
        "event_id": a.event_id,
        "rule": rule.name,
        "scope": a.scope,
        "metric": rule.metric,
        "spike": rule.spike,
        "value": a.value,
        "observed": a.observed,
        "baseline": a.baseline,
        "comparison": rule.comparison,
        "threshold": rule.threshold,
        "window_start": a.window_start.isoformat(),
        "window_end": a.window_end.isoformat(),
        "opened_at": a.opened_at.isoformat(),
        "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
    }
    return Message(kind, title, rule.severity, _facts(rule, a), sections, key, data)  # type: ignore[arg-type]


def probe_message(channel: str, now: datetime) -> Message:
    """A harmless message proving the channel works."""
    return Message(
        "test",
        f"diplomonitor test message for channel '{channel}'",
        "info",
        (("Channel", channel), ("Sent", f"{now:%Y-%m-%d %H:%M:%S} UTC")),
        key=f"test:{channel}:{now.isoformat()}",
        data={"channel": channel},
    )


def _shift_line(s: Shift) -> str:
    return f"{s.label}: {LABELS.get(s.metric, s.metric)} {fmt(s.metric, s.before)} → {fmt(s.metric, s.after)}"


def digest_message(
    digest: Digest,
    period: tuple[datetime, datetime],
    posts: Sequence[PostRef],
    shifts: Sequence[Shift],
    alerts: Sequence[str],
    *,
    key: str,
) -> Message:
    """The periodic summary: alerts of the period, notable shifts, top posts."""
    start, end = period
    span = f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"
    sections = (
        Section(f"Alerts ({len(alerts)})", lines=tuple(alerts) or ("no alert fired",)),
        Section("Notable shifts", lines=tuple(map(_shift_line, shifts)) or ("nothing moved much",)),
        Section("Top posts", posts=tuple(posts)),
    )
    scope = "all accounts" if digest.scope == "all" else f"{digest.scope} {digest.scope_value}"
    title = f"diplomonitor {digest.period} digest '{digest.name}': {start:%Y-%m-%d}"
    facts = (("Period", span), ("Scope", scope))
    data = {"digest": digest.name, "start": start.isoformat(), "end": end.isoformat(), "alerts": len(alerts)}
    return Message("digest", title, "info", facts, sections, key, data)
