"""CSV exports: streamed, standard quoting, safe to open in a spreadsheet.

The column order of each export is one table (POST_CELLS here, SUMMARY_COLUMNS in
reporting/summary.py), documented in the README and pinned by a test on the exact CSV text.
Cells are written as follows: times in UTC ISO 8601 (`2026-10-01T08:30:00Z`), flags as 1/0,
unknown values empty, numbers as numbers, and every text cell that a spreadsheet would read as
a formula (it starts with =, +, -, @, tab or carriage return) prefixed with a single quote,
the OWASP rule for CSV injection. Numbers are never prefixed: -0.42 stays a number.

The posts export has the database compute every cell that way (sqlparts.iso_utc, round4,
topics_text) and streams its plain rows into the csv writer in batches: a million posts go
through no Python code per cell. The summary's few rows go through `cell`.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import IO, Any

from sqlalchemy import ColumnElement, Connection, Select, and_, case, func, literal, null, select

from monitor.measures import engagement_at_age
from monitor.reporting.selection import Selection, post_conditions, posts_from
from monitor.schema import accounts, posts, scores
from monitor.sqlparts import engagement, iso_utc, round4, topics_text

log = logging.getLogger(__name__)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
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
        return utc_text(value)
    return str(value)


def utc_text(moment: datetime) -> str:
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
    return write_batches(out, columns, [list(rows)], excel=excel)


def write_batches(
    out: IO[str], columns: Sequence[str], batches: Iterable[Sequence[Sequence[Any]]], *, excel: bool = False
) -> int:
    """Write a header and batches of rows whose cells are already safe; return the number of rows."""
    if excel:
        out.write("\ufeff")  # UTF-8 BOM: Excel then reads the file as UTF-8
    writer = csv.writer(out)
    writer.writerow(columns)
    count = 0
    for batch in batches:
        writer.writerows(batch)
        count += len(batch)
    return count


def number(value: float | None, digits: int = 4) -> float | int | None:
    """Rounded, and an integer when it is one (7.0 -> 7), so the CSV stays tidy."""
    if value is None:
        return None
    value = round(value, digits)
    return int(value) if float(value).is_integer() else value


def _text(value: Any) -> ColumnElement[Any]:
    """A text cell, computed by the database: formula-like starts get a leading quote."""
    return case((func.substr(value, 1, 1).in_(FORMULA_STARTS), literal("'") + value), else_=value)


def _flag(condition: Any) -> ColumnElement[Any]:
    return case((condition, 1), else_=0)


def _latest_engagement() -> ColumnElement[Any]:
    counts = (posts.c.likes, posts.c.reposts, posts.c.replies, posts.c.quotes)
    return case((and_(*(c.is_(None) for c in counts)), null()), else_=engagement(posts))


# The posts export, one column per entry, in the documented order; every cell is computed by
# the database exactly as the CSV writes it (module doc), so rows stream straight to the writer.
POST_CELLS: tuple[tuple[str, Callable[[], ColumnElement[Any]]], ...] = (
    ("post_url", lambda: _text(posts.c.url)),
    ("platform", lambda: _text(posts.c.platform)),
    ("post_uri", lambda: _text(posts.c.uri)),
    ("account_handle", lambda: _text(accounts.c.handle)),
    ("account_name", lambda: _text(accounts.c.display_name)),
    ("country", lambda: _text(accounts.c.country)),
    ("host_country", lambda: _text(accounts.c.host_country)),
    ("account_kind", lambda: _text(accounts.c.kind)),
    ("created_at", lambda: iso_utc(posts.c.created_at)),
    ("language", lambda: _text(func.coalesce(scores.c.language, posts.c.declared_language))),
    ("text", lambda: _text(posts.c.text)),
    ("is_reply", lambda: _flag(posts.c.is_reply)),
    ("is_repost", lambda: _flag(posts.c.is_repost)),
    ("is_quote", lambda: _flag(posts.c.is_quote)),
    ("likes", lambda: posts.c.likes),
    ("reposts", lambda: posts.c.reposts),
    ("replies", lambda: posts.c.replies),
    ("quotes", lambda: posts.c.quotes),
    ("engagement", _latest_engagement),
    ("engagement_24h", lambda: engagement_at_age(24)),
    ("engagement_7d", lambda: engagement_at_age(7 * 24)),
    ("sentiment_label", lambda: _text(scores.c.sentiment_label)),
    ("sentiment_score", lambda: round4(scores.c.sentiment_score)),
    ("topics", lambda: _text(topics_text(scores.c.topics))),
    ("edited", lambda: _flag(posts.c.edited_at.is_not(None))),
    ("edited_at", lambda: iso_utc(posts.c.edited_at)),
    ("deleted", lambda: _flag(posts.c.deleted_at.is_not(None))),
    ("deleted_at", lambda: iso_utc(posts.c.deleted_at)),
)
POST_COLUMNS = tuple(name for name, _ in POST_CELLS)


def posts_query(conn: Connection, sel: Selection) -> Select[Any]:
    """The posts export of a selection, its cells computed by the database, oldest first."""
    return (
        select(*(make().label(name) for name, make in POST_CELLS))
        .select_from(posts_from().outerjoin(scores, scores.c.post_id == posts.c.id))
        .where(*post_conditions(conn, sel))
        .order_by(posts.c.created_at, posts.c.id)
    )


def post_batches(conn: Connection, sel: Selection, *, batch: int = BATCH_ROWS) -> Iterator[Sequence[Any]]:
    """Rows of the posts export, `batch` at a time from a streaming cursor (a server-side cursor
    on PostgreSQL); their cells need no Python conversion (no column has a result processor)."""
    result = conn.execute(posts_query(conn, sel), execution_options={"yield_per": batch})
    yield from result.partitions()


def iter_posts(conn: Connection, sel: Selection) -> Iterator[Sequence[Any]]:
    """Rows of the posts export, one at a time."""
    for rows in post_batches(conn, sel):
        yield from rows


def export_posts(conn: Connection, sel: Selection, out: IO[str], *, excel: bool = False) -> int:
    """Write the posts export as CSV; return the number of posts written."""
    count = write_batches(out, POST_COLUMNS, post_batches(conn, sel), excel=excel)
    log.info("exported %d posts (%s)", count, sel.period.label)
    return count
