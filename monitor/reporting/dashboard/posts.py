"""The posts list: the exports' selection (monitor.reporting.selection), sorted and paged.

The same `Selection` goes to `export_posts` for the page's "download CSV", so the file holds
exactly the posts the filters select, every page of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from monitor.reporting.selection import Selection, post_conditions, posts_from
from monitor.schema import accounts, posts, scores
from monitor.sqlparts import engagement


def post_page(conn: Connection, sel: Selection, sort: str, page: int, size: int) -> dict[str, Any]:
    """One page of the selection's posts, the total, and whether more follow."""
    conds = post_conditions(conn, sel)
    eng = engagement(posts)
    order = {
        "newest": (posts.c.created_at.desc(), posts.c.id.desc()),
        "oldest": (posts.c.created_at, posts.c.id),
        "engagement": (eng.desc(), posts.c.created_at.desc(), posts.c.id.desc()),
    }[sort]
    query = (
        select(posts.c.id, posts.c.url, posts.c.text, posts.c.created_at, posts.c.is_reply, posts.c.is_repost,
               posts.c.is_quote, posts.c.repost_of_author, posts.c.deleted_at, posts.c.edited_at,
               accounts.c.platform, accounts.c.handle, accounts.c.display_name, accounts.c.country,
               func.coalesce(scores.c.language, posts.c.declared_language).label("language"),
               scores.c.sentiment_label, scores.c.sentiment_score, scores.c.topics,
               posts.c.likes, posts.c.reposts, posts.c.replies, posts.c.quotes, eng.label("engagement"))
        .select_from(posts_from().outerjoin(scores, scores.c.post_id == posts.c.id))
        .where(*conds)
        .order_by(*order)
        .offset((page - 1) * size)
        .limit(size + 1)
    )  # fmt: skip
    rows = [_row(r) for r in conn.execute(query)]
    total = conn.execute(select(func.count()).select_from(posts_from()).where(*conds)).scalar_one()
    return {"posts": rows[:size], "more": len(rows) > size, "total": int(total), "page": page, "size": size}


def _row(r: Any) -> dict[str, Any]:
    row = dict(r._mapping)
    topics = row.pop("topics") or {}
    row["topics"] = [k for k, _ in sorted(topics.items(), key=lambda kv: (-kv[1], kv[0]))]
    return row
