"""Overperformance alerts: a post's engagement at an age against its account's median at that
age (the one definition is in monitor.measures). A post is judged once it reaches the rule's
age inside the window, i.e. created in (now - window - age, now - age]."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection

from alerts.rules import WindowStats
from alerts.settings import Rule
from monitor.alerting.scope import Member, rule_filters
from monitor.measures import Overperformance, Ratio, ratios
from monitor.schema import posts


def overperformance(
    conn: Connection, rule: Rule, group: Sequence[Member], ids: Sequence[int], now: datetime
) -> dict[str, WindowStats]:
    """For each member, the best ratio among its posts that reached the age in the window."""
    spec = Overperformance(rule.age_hours, rule.baseline_posts, rule.baseline_days, rule.min_posts)
    hi = now - timedelta(hours=rule.age_hours)
    lo = hi - timedelta(hours=rule.window_hours)
    judged = [posts.c.created_at > lo]
    found: dict[int, list[Ratio]] = {}
    for r in ratios(conn, spec, ids, lo, judged, [posts.c.created_at <= hi, *rule_filters(rule, ids)]):
        found.setdefault(r.account_id, []).append(r)
    return {m.key: _member_stats(m, found, max(rule.top_posts, 1)) for m in group}


def _member_stats(m: Member, found: dict[int, list[Ratio]], keep: int) -> WindowStats:
    ranked = sorted((r for a in m.account_ids for r in found.get(a, [])), key=lambda r: (-r.ratio, r.post_id))
    if not ranked:
        return WindowStats(None, 0)
    best = ranked[0]
    top = [{"post_id": r.post_id, "ratio": r.ratio, "engagement": r.engagement, "median": r.median}
           for r in ranked[:keep]]  # fmt: skip
    return WindowStats(best.ratio, best.baseline, extra={"posts": top})
