"""Overperformance, as CrowdTangle measured it: a post's engagement at a fixed age divided by
the median engagement, at the same age, of the same account's recent posts.

Engagement at age A is the total of the latest snapshot observed at or before
`created_at + A` (snapshots are stored only when a count changed). A post is judged once it
reaches age A inside the window, i.e. created in (now - window - A, now - A]; its baseline is
the account's `baseline_posts` posts before those (within `baseline_days`) whose engagement at
A is known. The median is floored at 1 so a quiet account does not divide by zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Float, and_, case, cast, func, select

from alerts.rules import WindowStats
from alerts.settings import Rule
from monitor.alerting.scope import Member, rule_filters
from monitor.schema import accounts, engagement_snapshots, posts
from monitor.sqlparts import all_of, engagement, median_by, plus_seconds


def engagement_at_age(seconds: int) -> Any:
    """Scalar subquery: a post's total engagement at `seconds` after it was created."""
    s = engagement_snapshots
    return (
        select(engagement(s))
        .where(s.c.post_id == posts.c.id, s.c.observed_at <= plus_seconds(posts.c.created_at, seconds))
        .order_by(s.c.observed_at.desc())
        .limit(1)
        .scalar_subquery()
    )


def _medians(conn: Connection, rule: Rule, ids: Sequence[int], lo: datetime, age: int) -> Any:
    oldest = lo - timedelta(days=rule.baseline_days)
    # Per account, the created_at of its N-th most recent post before `lo`: one index seek each
    # on (account_id, created_at), instead of ranking a month of posts.
    p2 = posts.alias("p2")
    nth = (
        select(p2.c.created_at)
        .where(p2.c.account_id == accounts.c.id, p2.c.created_at <= lo, p2.c.created_at > oldest)
        .order_by(p2.c.created_at.desc())
        .offset(rule.baseline_posts - 1)
        .limit(1)
        .scalar_subquery()
    )
    cutoffs = (
        select(accounts.c.id.label("account_id"), func.coalesce(nth, oldest).label("since"))
        .where(accounts.c.id.in_(list(ids)))
        .cte("cutoffs")
        .prefix_with("MATERIALIZED")  # computed once per account, not once per post
    )
    base = (
        select(posts.c.account_id.label("account_id"), engagement_at_age(age).label("e"))
        .select_from(posts.join(cutoffs, cutoffs.c.account_id == posts.c.account_id))
        .where(all_of(posts.c.created_at >= cutoffs.c.since, posts.c.created_at > oldest,
                      posts.c.created_at <= lo, *rule_filters(rule, ids)))
        .subquery("base")
    )  # fmt: skip
    known = select(base.c.account_id, base.c.e).where(base.c.e.is_not(None)).subquery("known")
    return median_by(conn.dialect.name, known, ["account_id"], "e").subquery("med")


def overperformance(
    conn: Connection, rule: Rule, group: Sequence[Member], ids: Sequence[int], now: datetime
) -> dict[str, WindowStats]:
    """For each member, the best ratio among its posts that reached the age in the window."""
    if not ids:
        return {m.key: WindowStats(None, 0) for m in group}
    age = int(rule.age_hours * 3600)
    hi = now - timedelta(seconds=age)
    lo = hi - timedelta(hours=rule.window_hours)
    med = _medians(conn, rule, ids, lo, age)
    cand = (
        select(posts.c.id, posts.c.account_id, engagement_at_age(age).label("e"))
        .where(all_of(posts.c.created_at > lo, posts.c.created_at <= hi, *rule_filters(rule, ids)))
        .subquery("cand")
    )
    floor = case((med.c.median < 1, 1.0), else_=med.c.median)
    ratio = (cast(cand.c.e, Float) / floor).label("ratio")
    ranked = (
        select(cand.c.id, cand.c.account_id, cand.c.e, med.c.median, med.c.n, ratio,
               func.row_number().over(partition_by=cand.c.account_id, order_by=ratio.desc()).label("rn"))
        .select_from(cand.join(med, and_(med.c.account_id == cand.c.account_id)))
        .where(cand.c.e.is_not(None), med.c.n >= max(rule.min_posts, 1))
        .subquery("best")
    )  # fmt: skip
    keep = max(rule.top_posts, 1)
    rows = conn.execute(select(ranked).where(ranked.c.rn <= keep).order_by(ranked.c.account_id, ranked.c.rn))
    by_account: dict[int, list[Any]] = {}
    for r in rows:
        by_account.setdefault(r.account_id, []).append(r)
    return {m.key: _member_stats(m, by_account) for m in group}


def _member_stats(m: Member, by_account: dict[int, list[Any]]) -> WindowStats:
    found = sorted((r for a in m.account_ids for r in by_account.get(a, [])), key=lambda r: -r.ratio)
    if not found:
        return WindowStats(None, 0)
    best = found[0]
    top = [{"post_id": r.id, "ratio": float(r.ratio), "engagement": int(r.e), "median": float(r.median)}
           for r in found]  # fmt: skip
    return WindowStats(float(best.ratio), int(best.n), extra={"posts": top})
