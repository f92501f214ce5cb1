"""Window statistics in SQL: one GROUP BY query per rule, never all posts in Python.

A rule's window is (now - window, now]; with a spike, the `baseline_windows` windows before
it are counted in the same query, each post placed in its window by a CASE over the
window edges (exact timestamp comparisons, the same on both backends). The scope becomes a
list of account ids first (the accounts table is small), so every query is a range scan of
`ix_posts_account_created` or `ix_posts_created`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Float, case, cast, exists, func, literal_column, select

from alerts.rules import WindowStats
from alerts.settings import Rule
from monitor.alerting.overperformance import overperformance
from monitor.alerting.scope import Member, rule_filters
from monitor.schema import accounts, post_topics, posts, scores
from monitor.sqlparts import all_of, bucket_of, engagement, keyword_match, median_by

# Metrics where a window without posts is a real zero, not a missing value.
ZERO_WHEN_EMPTY = ("post_count", "keyword", "engagement_total")
SCORED = ("negative_share", "mean_sentiment", "topic_share")


def window_stats(
    conn: Connection, rule: Rule, group: Sequence[Member], now: datetime
) -> dict[str, WindowStats]:
    """The rule's metric for each member, computed by the database."""
    ids = sorted({i for m in group for i in m.account_ids})
    if rule.metric == "silence":
        return _silence(conn, rule, group, ids, now)
    if rule.metric == "overperformance":
        return overperformance(conn, rule, group, ids, now)
    cells = _bucketed(conn, rule, ids, now) if ids else {}
    nb = rule.baseline_windows if rule.spike != "none" else 0
    zero = rule.metric in ZERO_WHEN_EMPTY
    out = {}
    for m in group:
        g = m.account_ids[0] if rule.per_member else 0
        value, count = cells.get((g, 0), (0.0 if zero else None, 0))
        baseline = [cells.get((g, b), (0.0 if zero else None, 0))[0] for b in range(1, nb + 1)]
        out[m.key] = WindowStats(value, count, tuple(float(v) for v in baseline if v is not None))
    return out


def _source(rule: Rule, dialect: str, ids: Sequence[int], now: datetime) -> Any:
    nb = rule.baseline_windows if rule.spike != "none" else 0
    w = timedelta(hours=rule.window_hours)
    edges = [now - k * w for k in range(nb + 2)]
    g = posts.c.account_id if rule.per_member else literal_column("0")
    cols: list[Any] = [g.label("g"), bucket_of(posts.c.created_at, edges).label("b")]
    where = [posts.c.created_at > edges[-1], posts.c.created_at <= now, *rule_filters(rule, ids)]
    # Scores and topics are looked up per post (scalar subqueries on their primary keys): a
    # window holds a few thousand posts, and a join lets PostgreSQL hash all the scores instead.
    score = scores.alias("sc")
    by_post = score.c.post_id == posts.c.id
    if rule.metric == "negative_share":
        label = score.c.sentiment_label
        cols.append(
            _per_post(case((label == "negative", 1.0), (label.is_not(None), 0.0)), by_post).label("x")
        )
    elif rule.metric == "mean_sentiment":
        cols.append(_per_post(score.c.sentiment_score, by_post).label("x"))
    elif rule.metric == "topic_share":
        pt = post_topics.alias("pt")
        has = exists().where(pt.c.post_id == posts.c.id, pt.c.topic == rule.topic).correlate(posts)
        cols.append(_per_post(case((has, 1.0), else_=0.0), by_post).label("x"))
    elif rule.metric == "keyword":
        where.append(keyword_match(dialect, rule.keywords))
    if rule.metric in ("engagement_total", "engagement_median"):
        cols.append(engagement().label("x"))
    return select(*cols).where(all_of(*where)).subquery("src")


def _per_post(value: Any, by_post: ColumnElement[bool]) -> Any:
    """`value` from the post's scores row, NULL when the post is not scored."""
    return select(value).where(by_post).scalar_subquery()


def _bucketed(
    conn: Connection, rule: Rule, ids: Sequence[int], now: datetime
) -> dict[tuple[int, int], tuple[float | None, int]]:
    dialect = conn.dialect.name
    src = _source(rule, dialect, ids, now)
    if rule.metric == "engagement_median":
        stmt = median_by(dialect, src, ["g", "b"], "x")
    else:
        value: Any
        if rule.metric in ("post_count", "keyword"):
            value = func.count()
        elif rule.metric == "engagement_total":
            value = func.sum(src.c.x)
        else:  # shares and means count only the scored posts
            value = func.avg(cast(src.c.x, Float))
        n = func.count(src.c.x) if rule.metric in SCORED else func.count()
        stmt = select(src.c.g, src.c.b, value, n).group_by(src.c.g, src.c.b)
    return {
        (int(r[0]), int(r[1])): (None if r[2] is None else float(r[2]), int(r[3])) for r in conn.execute(stmt)
    }


def _silence(
    conn: Connection, rule: Rule, group: Sequence[Member], ids: Sequence[int], now: datetime
) -> dict[str, WindowStats]:
    # One index seek per account: max(created_at) of (account_id, created_at).
    last = (
        select(func.max(posts.c.created_at))
        .where(all_of(posts.c.account_id == accounts.c.id, *rule_filters(rule, ids)[1:]))
        .scalar_subquery()
    )
    rows = conn.execute(select(accounts.c.id, last.label("last")).where(accounts.c.id.in_(list(ids))))
    latest: dict[int, datetime | None] = {r.id: r.last for r in rows}
    out = {}
    for m in group:
        seen = [t for t in (latest.get(a.id) for a in m.accounts) if t is not None]
        since = max(seen) if seen else min((a.created_at for a in m.accounts), default=None)
        if since is None:
            out[m.key] = WindowStats(None, 0)
            continue
        hours = max(0.0, (now - since).total_seconds() / 3600)
        extra = {"last_post_at": max(seen).isoformat() if seen else None}
        out[m.key] = WindowStats(hours, len(m.accounts), extra=extra)
    return out
