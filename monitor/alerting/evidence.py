"""The posts quoted in an alert or a digest: a handful of rows, chosen by the database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from alerts.links import post_url, profile_url
from alerts.messages import PostRef, excerpt
from alerts.rules import WindowStats, matched_keywords
from alerts.settings import Rule
from monitor.alerting.scope import Member, rule_filters
from monitor.schema import accounts, post_topics, posts, scores
from monitor.sqlparts import all_of, engagement, keyword_match


def _account(column: Any, label: str) -> Any:
    # Correlated, so any query over posts can select it without joining (a handful of rows).
    return select(column).where(accounts.c.id == posts.c.account_id).scalar_subquery().label(label)


# What a quoted post shows: the post, and who wrote it (name, country, kind, handle, DID).
COLUMNS = (
    posts.c.id, posts.c.platform, posts.c.author_handle, posts.c.text, posts.c.url, posts.c.created_at,
    posts.c.hashtags, posts.c.is_repost, posts.c.repost_of_author,
    _account(accounts.c.handle, "a_handle"), _account(accounts.c.current_handle, "a_now"),
    _account(accounts.c.platform_id, "a_did"), _account(accounts.c.display_name, "a_name"),
    _account(accounts.c.country, "a_country"), _account(accounts.c.kind, "a_kind"),
    _account(accounts.c.instance, "a_instance"),
)  # fmt: skip
Authors = Mapping[tuple[str, str], str]  # configured account names by (platform, handle)


def post_ref(
    row: Any, note: str | None = None, *, names: Authors | None = None, keywords: Sequence[str] = (),
    eng: int | None = None,
) -> PostRef:  # fmt: skip
    """A quoted post from a row with the COLUMNS (and `eng`, unless given): author named as
    configured, Bluesky links under the handle, the keywords it matched."""
    handle = row.a_now if row.a_now and row.a_now != "handle.invalid" else row.a_handle
    if eng is None:
        eng = int(row.eng) if row.eng is not None else None
    if row.is_repost:  # the account shared someone else's words: say whose
        shared = f"repost of @{row.repost_of_author or 'unknown'}"
        note = f"{note}; {shared}" if note else shared
    return PostRef(
        author=handle or row.author_handle,
        text=excerpt(row.text or ""),
        url=post_url(row.url, row.a_did, handle),
        created_at=row.created_at.isoformat(),
        engagement=eng,
        note=note,
        name=(names or {}).get((row.platform, row.a_handle)) or row.a_name,
        country=row.a_country,
        account_kind=row.a_kind,
        profile_url=profile_url(row.platform, handle, row.a_instance),
        matched=matched_keywords(keywords, row.text or "", row.hashtags or ()),
    )


def top_posts(
    conn: Connection,
    rule: Rule,
    member: Member,
    stats: WindowStats,
    now: datetime,
    names: Authors | None = None,
) -> list[PostRef]:
    """The posts behind a rule's value for a member, most telling first."""
    if rule.top_posts == 0 or not member.account_ids:
        return []
    if rule.metric == "overperformance":
        return _overperformers(conn, stats.extra.get("posts", [])[: rule.top_posts], names)
    eng = engagement().label("eng")
    filters = rule_filters(rule, member.account_ids)
    frm: Any = posts
    order: list[Any] = [eng.desc(), posts.c.created_at.desc()]
    if rule.metric == "silence":
        return _latest(conn, filters, names)
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
    keywords = rule.keywords if rule.metric == "keyword" else ()
    return [post_ref(r, names=names, keywords=keywords) for r in conn.execute(query)]


def _latest(conn: Connection, filters: Sequence[Any], names: Authors | None) -> list[PostRef]:
    query = (
        select(*COLUMNS, engagement().label("eng"))
        .where(all_of(*filters))
        .order_by(posts.c.created_at.desc())
        .limit(1)
    )
    return [post_ref(r, "the last post", names=names) for r in conn.execute(query)]


def _overperformers(
    conn: Connection, found: Sequence[dict[str, Any]], names: Authors | None
) -> list[PostRef]:
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
        refs.append(post_ref(row, note, names=names, eng=f["engagement"]))
    return refs
