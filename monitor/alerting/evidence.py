"""The posts quoted in an alert or a digest: a handful of rows, chosen by the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from alerts.messages import PostRef, excerpt
from alerts.rules import WindowStats
from alerts.settings import Rule
from monitor.alerting.scope import Member, rule_filters
from monitor.schema import post_topics, posts, scores
from monitor.sqlparts import all_of, engagement, keyword_match

COLUMNS = (posts.c.id, posts.c.author_handle, posts.c.text, posts.c.url, posts.c.created_at)


def post_ref(row: Any, note: str | None = None) -> PostRef:
    """A quoted post from a row with the COLUMNS and `eng`."""
    return PostRef(
        author=row.author_handle,
        text=excerpt(row.text or ""),
        url=row.url,
        created_at=row.created_at.isoformat(),
        engagement=int(row.eng) if row.eng is not None else None,
        note=note,
    )


def top_posts(
    conn: Connection, rule: Rule, member: Member, stats: WindowStats, now: datetime
) -> list[PostRef]:
    """The posts behind a rule's value for a member, most telling first."""
    if rule.top_posts == 0 or not member.account_ids:
        return []
    if rule.metric == "overperformance":
        return _overperformers(conn, stats.extra.get("posts", [])[: rule.top_posts])
    eng = engagement().label("eng")
    filters = rule_filters(rule, member.account_ids)
    frm: Any = posts
    order: list[Any] = [eng.desc(), posts.c.created_at.desc()]
    if rule.metric == "silence":
        return _latest(conn, filters)
    filters += [posts.c.created_at > now - timedelta(hours=rule.window_hours), posts.c.created_at <= now]
    if rule.metric in ("negative_share", "mean_sentiment"):
        frm = posts.join(scores, scores.c.post_id == posts.c.id)
        if rule.metric == "negative_share":
            filters.append(scores.c.sentiment_label == "negative")
            order = [scores.c.sentiment_negative.desc(), *order]
        else:
            low = rule.comparison.startswith("<")
            order = [scores.c.sentiment_score.asc() if low else scores.c.sentiment_score.desc(), *order]
    elif rule.metric == "topic_share":
        frm = posts.join(post_topics, post_topics.c.post_id == posts.c.id)
        filters.append(post_topics.c.topic == rule.topic)
    elif rule.metric == "keyword":
        filters.append(keyword_match(conn.dialect.name, rule.keywords))
    query = (
        select(*COLUMNS, eng).select_from(frm).where(all_of(*filters)).order_by(*order).limit(rule.top_posts)
    )
    return [post_ref(r) for r in conn.execute(query)]


def _latest(conn: Connection, filters: Sequence[Any]) -> list[PostRef]:
    query = (
        select(*COLUMNS, engagement().label("eng"))
        .where(all_of(*filters))
        .order_by(posts.c.created_at.desc())
        .limit(1)
    )
    return [post_ref(r, "the last post") for r in conn.execute(query)]


def _overperformers(conn: Connection, found: Sequence[dict[str, Any]]) -> list[PostRef]:
    if not found:
        return []
    rows = {
        r.id: r for r in conn.execute(select(*COLUMNS).where(posts.c.id.in_([f["post_id"] for f in found])))
    }
    refs = []
    for f in found:
        row = rows.get(f["post_id"])
        if row is None:
            continue
        note = f"{f['ratio']:.1f}x the account's median ({f['median']:g}) at the same age"
        refs.append(
            PostRef(row.author_handle, excerpt(row.text or ""), row.url, row.created_at.isoformat(),
                    f["engagement"], note)
        )  # fmt: skip
    return refs
