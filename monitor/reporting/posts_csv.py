"""CSV exports: streamed from a server-side cursor, standard quoting, safe to open in a spreadsheet.

The column order of each export is one tuple (POST_COLUMNS here, SUMMARY_COLUMNS in
monitor/summary.py), documented in the README and pinned by a test on the exact CSV text.
Cells are written as follows: times in UTC ISO 8601 (`2026-10-01T08:30:00Z`), flags as 1/0,
unknown values empty, numbers as numbers, and every text cell that a spreadsheet would read as
a formula (it starts with =, +, -, @, tab or carriage return) prefixed with a single quote,
the OWASP rule for CSV injection. Numbers are never prefixed: -0.42 stays a number.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Connection, func, select

from monitor.measures import engagement_at_age
from monitor.reporting.selection import AGES_HOURS, Selection, post_conditions, posts_from
from monitor.schema import accounts, posts, scores

log = logging.getLogger(__name__)

POST_COLUMNS = (
    "post_url",
    "platform",
    "post_uri",
    "account_handle",
    "account_name",
    "country",
    "host_country",
    "account_kind",
    "created_at",
    "language",
    "text",
    "is_reply",
    "is_repost",
    "is_quote",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "engagement",
    "engagement_24h",
    "engagement_7d",
    "sentiment_label",
    "sentiment_score",
    "topics",
    "edited",
    "edited_at",
    "deleted",
    "deleted_at",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_CHARS = frozenset("".join(FORMULA_STARTS))
TEXT_CELLS = tuple(
    POST_COLUMNS.index(c)
    for c in ("post_url", "platform", "post_uri", "account_handle", "account_name", "country", "host_country",
              "account_kind", "language", "text", "sentiment_label", "topics")
)  # fmt: skip
BATCH_ROWS = 2000


def safe_text(value: str) -> str:
    """A text cell a spreadsheet will show as text: formula-like starts get a leading quote."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def cell(value: Any) -> str:
    """One CSV cell: see the module docstring for the rules."""
    if value is None:
        return ""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return iso_utc(value)
    return str(value)


def iso_utc(moment: datetime) -> str:
    """`2026-10-01T08:30:00Z` (microseconds only when there are some)."""
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.removesuffix("+00:00") + "Z"


def write_csv(
    out: IO[str], columns: Sequence[str], rows: Iterable[Sequence[Any]], *, excel: bool = False
) -> int:
    """Write a header and rows (values converted by `cell`); return the number of rows."""
    return write_rows(out, columns, ([cell(v) for v in row] for row in rows), excel=excel)


def write_rows(
    out: IO[str], columns: Sequence[str], rows: Iterable[Sequence[Any]], *, excel: bool = False
) -> int:
    """Write a header and rows whose cells are already safe (text, numbers or None)."""
    if excel:
        out.write("\ufeff")  # UTF-8 BOM: Excel then reads the file as UTF-8
    writer = csv.writer(out)
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def topics_cell(topics: dict[str, float] | None) -> str | None:
    """`security:0.912;culture:0.405`, highest score first."""
    if not topics:
        return None
    ranked = sorted(topics.items(), key=lambda kv: (-kv[1], kv[0]))
    return ";".join(f"{name}:{score:.3f}" for name, score in ranked)


def number(value: float | None, digits: int = 4) -> float | int | None:
    """Rounded, and an integer when it is one (7.0 -> 7), so the CSV stays tidy."""
    if value is None:
        return None
    value = round(value, digits)
    return int(value) if float(value).is_integer() else value


def posts_query(conn: Connection, sel: Selection) -> Any:
    """The posts of a selection with their account and scores, oldest first."""
    e24, e7d = (engagement_at_age(h).label(f"e{h}") for h in AGES_HOURS)
    return (
        select(
            posts.c.url,
            posts.c.platform,
            posts.c.uri,
            accounts.c.handle,
            accounts.c.display_name,
            accounts.c.country,
            accounts.c.host_country,
            accounts.c.kind,
            posts.c.created_at,
            func.coalesce(scores.c.language, posts.c.declared_language).label("language"),
            posts.c.text,
            posts.c.is_reply,
            posts.c.is_repost,
            posts.c.is_quote,
            posts.c.likes,
            posts.c.reposts,
            posts.c.replies,
            posts.c.quotes,
            e24,
            e7d,
            scores.c.sentiment_label,
            scores.c.sentiment_score,
            scores.c.topics,
            posts.c.edited_at,
            posts.c.deleted_at,
        )
        .select_from(posts_from().outerjoin(scores, scores.c.post_id == posts.c.id))
        .where(*post_conditions(conn, sel))
        .order_by(posts.c.created_at, posts.c.id)
    )


def post_row(r: Any) -> list[Any]:
    """One CSV row in POST_COLUMNS order, its cells converted as `cell` would (inlined for speed)."""
    (url, platform, uri, handle, name, country, host, kind, created, language, text, is_reply,
     is_repost, is_quote, likes, reposts, replies, quotes, e24, e7d, label, score, topics, edited,
     deleted) = r  # fmt: skip
    counts = (likes, reposts, replies, quotes)
    latest = None if likes is None and reposts is None and replies is None and quotes is None else (
        (likes or 0) + (reposts or 0) + (replies or 0) + (quotes or 0))  # fmt: skip
    row = [
        url, platform, uri, handle, name, country, host, kind, iso_utc(created), language, text,
        int(is_reply), int(is_repost), int(is_quote), *counts, latest, e24, e7d, label, number(score),
        topics_cell(topics), int(edited is not None), edited and iso_utc(edited),
        int(deleted is not None), deleted and iso_utc(deleted),
    ]  # fmt: skip
    for i in TEXT_CELLS:
        value = row[i]
        if value and value[0] in FORMULA_CHARS:
            row[i] = "'" + value
    return row


def iter_posts(conn: Connection, sel: Selection, *, batch: int = BATCH_ROWS) -> Iterator[list[Any]]:
    """Rows of the posts export, fetched `batch` at a time from a server-side cursor."""
    result = conn.execute(posts_query(conn, sel), execution_options={"yield_per": batch})
    for r in result:
        yield post_row(r)


def export_posts(conn: Connection, sel: Selection, out: IO[str], *, excel: bool = False) -> int:
    """Write the posts export as CSV; return the number of posts written."""
    count = write_rows(out, POST_COLUMNS, iter_posts(conn, sel), excel=excel)
    log.info("exported %d posts (%s)", count, sel.period.label)
    return count
