"""Messages for people: an alert firing or resolving, a digest, a test. Pure functions."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alerts.messages import Message, PostRef, Section, local_span, local_time, safe_url, zone
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
MUTE_HOURS = 24  # the mute the hint suggests; the reader changes it to taste
MAX_PROFILE_LINKS = 3


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
    if rule.metric == "silence":  # measured back from now: a window means nothing here
        if a.observed is not None:
            facts.append(("Last post", local_time(a.window_end - timedelta(hours=a.observed), rule.timezone)))
        facts.append(("Checked", local_time(a.window_end, rule.timezone)))
    else:
        facts.append(("Window", local_span(a.window_start, a.window_end, rule.timezone)))
    facts.append(("Severity", rule.severity))
    if a.resolved_at:
        facts.append(("Resolved", local_time(a.resolved_at, rule.timezone)))
    return tuple(facts)


def alert_title(rule: Rule, scope: str, value: float | None, *, kind: str) -> str:
    """The one-line title of an alert that fired or went back to normal (stored with the event)."""
    if kind == "resolve":
        return f"Back to normal: {rule.name} ({scope})"
    return f"{rule.name}: {condition(rule, value)} ({scope})"


def mute_command(rule: Rule, a: AlertInfo) -> str:
    """The command line that mutes this alert: `diplomonitor alerts mute RULE [--scope S] --hours N`."""
    scope = f" --scope {shlex.quote(a.scope)}" if rule.per_member else ""
    return f"diplomonitor alerts mute {shlex.quote(rule.name)}{scope} --hours {MUTE_HOURS}"


def next_links(posts: Sequence[PostRef], dashboard_url: str | None) -> tuple[tuple[str, str], ...]:
    """Where to look next: the first quoted post, its authors' recent posts, the dashboard."""
    links: list[tuple[str, str]] = []
    first = next((p for p in posts if safe_url(p.url)), None)
    if first is not None:
        links.append(("The post", first.url or ""))
    seen: set[str] = set()
    for p in posts:
        url = safe_url(p.profile_url)
        if url and url not in seen and len(seen) < MAX_PROFILE_LINKS:
            seen.add(url)
            links.append((f"Recent posts of {p.name or '@' + p.author}", url))
    if safe_url(dashboard_url):
        links.append(("Dashboard", dashboard_url or ""))
    return tuple(links)


def alert_message(
    rule: Rule,
    a: AlertInfo,
    posts: Sequence[PostRef],
    *,
    kind: str,
    key: str,
    dashboard_url: str | None = None,
) -> Message:
    """The message for an alert that fired (`kind="fire"`) or went back to normal ("resolve")."""
    title = alert_title(rule, a.scope, a.value, kind=kind)
    firing = kind == "fire"
    heading = "Posts behind it" if rule.metric != "keyword" else "Matching posts"
    sections = (Section(heading, posts=tuple(posts)),) if posts and firing else ()
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
    return Message(
        kind,  # type: ignore[arg-type]
        title,
        rule.severity,
        _facts(rule, a),
        sections,
        key,
        data,
        timezone=rule.timezone,
        links=next_links(posts if firing else (), dashboard_url),
        mute=mute_command(rule, a) if firing else None,
    )


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
    dashboard_url: str | None = None,
) -> Message:
    """The periodic summary: alerts of the period, notable shifts, top posts."""
    start, end = period
    span = local_span(start, end, digest.timezone)
    sections = (
        Section(f"Alerts ({len(alerts)})", lines=tuple(alerts) or ("no alert fired",)),
        Section("Notable shifts", lines=tuple(map(_shift_line, shifts)) or ("nothing moved much",)),
        Section("Top posts", posts=tuple(posts)),
    )
    scope = "all accounts" if digest.scope == "all" else f"{digest.scope} {digest.scope_value}"
    day = start.astimezone(zone(digest.timezone))
    title = f"diplomonitor {digest.period} digest '{digest.name}': {day:%Y-%m-%d}"
    facts = (("Period", span), ("Scope", scope))
    data = {"digest": digest.name, "start": start.isoformat(), "end": end.isoformat(), "alerts": len(alerts)}
    links = next_links((), dashboard_url)
    return Message("digest", title, "info", facts, sections, key, data, timezone=digest.timezone, links=links)
