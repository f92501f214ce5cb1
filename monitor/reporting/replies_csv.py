"""The replies export (`export replies`): the audience's answers to watched posts, one row each.

Streamed like the posts export (every cell computed by the database, monitor.reporting.posts_csv
rules: ISO UTC times, 1/0 flags, formula-safe text). Authors are the stored pseudonym (a keyed
hash: the same person gives the same key, so repeat repliers can be counted) unless the
deployment keeps handles. The period selects answers by the time they were written; the other
filters apply to the post they answer (its account's country, group and platform, its topics).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

from sqlalchemy import ColumnElement, Connection, Select, case, func, select

from monitor.reporting.posts_csv import BATCH_ROWS, text_cell, write_batches
from monitor.reporting.selection import Selection, account_conditions
from monitor.schema import accounts, posts, reception_posts, reception_scores
from monitor.sqlparts import iso_utc, ranked_pairs, round4

log = logging.getLogger(__name__)
r, s = reception_posts, reception_scores

REPLY_CELLS: tuple[tuple[str, Callable[[], ColumnElement[Any]]], ...] = (
    ("post_url", lambda: text_cell(posts.c.url)),
    ("post_uri", lambda: text_cell(posts.c.uri)),
    ("account_handle", lambda: text_cell(accounts.c.handle)),
    ("country", lambda: text_cell(accounts.c.country)),
    ("platform", lambda: text_cell(r.c.platform)),
    ("relation", lambda: text_cell(r.c.relation)),
    ("uri", lambda: text_cell(r.c.uri)),
    ("parent_uri", lambda: text_cell(r.c.parent_uri)),
    ("direct", lambda: case((r.c.parent_uri == posts.c.uri, 1), else_=0)),
    ("author", lambda: text_cell(func.coalesce(r.c.author_handle, r.c.author_key))),
    ("created_at", lambda: iso_utc(r.c.created_at)),
    ("language", lambda: text_cell(func.coalesce(s.c.language, r.c.declared_language))),
    ("text", lambda: text_cell(r.c.text)),
    ("likes", lambda: r.c.likes),
    ("reposts", lambda: r.c.reposts),
    ("replies", lambda: r.c.replies),
    ("quotes", lambda: r.c.quotes),
    ("sentiment_label", lambda: text_cell(s.c.sentiment_label)),
    ("sentiment_score", lambda: round4(s.c.sentiment_score)),
    ("topics", lambda: text_cell(ranked_pairs(s.c.topics, 3))),
    ("edited", lambda: case((r.c.edited_at.is_not(None), 1), else_=0)),
    ("deleted", lambda: case((r.c.deleted_at.is_not(None), 1), else_=0)),
    ("text_removed_at", lambda: iso_utc(r.c.purged_at)),
)
REPLY_COLUMNS = tuple(name for name, _ in REPLY_CELLS)


def replies_query(conn: Connection, sel: Selection) -> Select[Any]:
    """The answers written in the period to posts of the selection's accounts, oldest first."""
    return (
        select(*(make().label(name) for name, make in REPLY_CELLS))
        .select_from(
            r.join(posts, posts.c.id == r.c.post_id)
            .join(accounts, accounts.c.id == posts.c.account_id)
            .outerjoin(s, s.c.reception_id == r.c.id)
        )
        .where(
            r.c.created_at >= sel.period.start,
            r.c.created_at < sel.period.end,
            *account_conditions(conn, sel),
        )
        .order_by(r.c.created_at, r.c.id)
    )


def reply_batches(conn: Connection, sel: Selection, *, batch: int = BATCH_ROWS) -> Iterator[Sequence[Any]]:
    """Rows of the replies export, `batch` at a time from a streaming cursor."""
    result = conn.execute(replies_query(conn, sel), execution_options={"yield_per": batch})
    yield from result.partitions()


def export_replies(conn: Connection, sel: Selection, out: IO[str], *, excel: bool = False) -> int:
    """Write the replies export as CSV; return the number of answers written."""
    count = write_batches(out, REPLY_COLUMNS, reply_batches(conn, sel), excel=excel)
    log.info("exported %d answers (%s)", count, sel.period.label)
    return count
