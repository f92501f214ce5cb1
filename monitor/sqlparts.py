"""SQL pieces the two backends spell differently: upserts, time shifts, medians, hashtag matches.

Timestamps on SQLite are text 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC) and compare as text;
the expressions here keep that exact shape so indexes and comparisons stay valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Select,
    String,
    Subquery,
    Table,
    and_,
    case,
    cast,
    exists,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from monitor.schema import UTCDateTime, posts


class plus_seconds(FunctionElement[datetime]):
    """`timestamp + N seconds` (N a Python int, rendered inline), computed by the database."""

    type = UTCDateTime()
    name = "plus_seconds"
    inherit_cache = True


@compiles(plus_seconds)
def _plus_seconds(element: plus_seconds, compiler: Any, **kw: Any) -> str:
    column, seconds = list(element.clauses)
    return f"({compiler.process(column, **kw)} + INTERVAL '{int(seconds.value)} seconds')"


@compiles(plus_seconds, "sqlite")
def _plus_seconds_sqlite(element: plus_seconds, compiler: Any, **kw: Any) -> str:
    column, seconds = list(element.clauses)
    col = compiler.process(column, **kw)
    # Shift the whole seconds and keep the stored fraction, so the result compares as text exactly
    # like stored values. Only the first 19 characters go to strftime: SQLite's date functions work
    # in milliseconds and would round 23:59:59.999999 up to the next day.
    shift = f"'{int(seconds.value):+d} seconds'"
    return f"(strftime('%Y-%m-%d %H:%M:%S', substr({col}, 1, 19), {shift}) || substr({col}, 20))"


class utc_day(FunctionElement[str]):
    """The UTC calendar day of a timestamp as 'YYYY-MM-DD', whatever the session's time zone."""

    type = String()
    name = "utc_day"
    inherit_cache = True


@compiles(utc_day)
def _utc_day(element: utc_day, compiler: Any, **kw: Any) -> str:
    (column,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: Any, **kw: Any) -> str:
    (column,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"substr({column}, 1, 10)"


def engagement(table: Any = posts) -> ColumnElement[int]:
    """likes + reposts + replies + quotes, unknown counts as 0."""
    c = table.c
    return (
        func.coalesce(c.likes, 0)
        + func.coalesce(c.reposts, 0)
        + func.coalesce(c.replies, 0)
        + func.coalesce(c.quotes, 0)
    )


def median_by(dialect: str, source: Subquery, keys: Sequence[str], value: str) -> Select[Any]:
    """(keys..., median, n) per group of `source`: percentile_cont on PostgreSQL; on SQLite the
    middle row(s) found with window functions, still grouped in the database."""
    groups = [source.c[k] for k in keys]
    v = source.c[value]
    if dialect == "postgresql":
        median = func.percentile_cont(0.5).within_group(v)
        return select(*groups, cast(median, Float).label("median"), func.count().label("n")).group_by(*groups)
    ranked = select(
        *groups,
        v.label("v"),
        func.row_number().over(partition_by=groups, order_by=v).label("rn"),
        func.count().over(partition_by=groups).label("n"),
    ).subquery()
    rk = [ranked.c[k] for k in keys]
    middle = ranked.c.rn.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2])
    return (
        select(*rk, func.avg(cast(ranked.c.v, Float)).label("median"), func.max(ranked.c.n).label("n"))
        .where(middle)
        .group_by(*rk)
    )


def keyword_match(dialect: str, keywords: Sequence[str]) -> ColumnElement[bool]:
    """Any keyword in the text (case-insensitive), or any "#tag" among the post's hashtags."""
    words = [k.strip().lower() for k in keywords if k.strip().lstrip("#")]
    conds: list[ColumnElement[bool]] = []
    text = [w for w in words if not w.startswith("#")]
    for w in text:
        pattern = "%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conds.append(func.lower(posts.c.text).like(pattern, escape="\\"))
    tags = [w.lstrip("#") for w in words if w.startswith("#")]
    if tags:
        fn = func.jsonb_array_elements_text if dialect == "postgresql" else func.json_each
        each = fn(posts.c.hashtags).table_valued("value").alias("tag")
        wanted = [*tags, *("#" + t for t in tags)]
        conds.append(
            exists(select(literal_column("1")).select_from(each).where(func.lower(each.c.value).in_(wanted)))
        )
    return or_(*conds) if len(conds) > 1 else conds[0]


def bucket_of(column: Any, edges: Sequence[datetime]) -> ColumnElement[int]:
    """0 for column > edges[1], 1 for column > edges[2], ...: which window a time falls in."""
    whens = [(column > edge, i) for i, edge in enumerate(edges[1:-1])]
    return case(*whens, else_=len(edges) - 2) if whens else literal_column("0")


def all_of(*conds: ColumnElement[bool] | None) -> ColumnElement[bool]:
    """AND of the conditions that are not None."""
    return and_(*(c for c in conds if c is not None))


def insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which has on_conflict_do_update/do_nothing on both backends."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


# ----------------------------------------------------------------------------------------------
# CSV cells computed by the database, so an export streams rows straight into the csv writer.


class iso_utc(FunctionElement[str]):
    """A timestamp as `2026-10-01T08:30:00Z` (`.ffffff` only when there are microseconds)."""

    type = String()
    name = "iso_utc"
    inherit_cache = True


@compiles(iso_utc)
def _iso_utc(element: iso_utc, compiler: Any, **kw: Any) -> str:
    (column,) = (compiler.process(c, **kw) for c in element.clauses)
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN mod(date_part('microseconds', {utc})"
        f"::bigint, 1000000) = 0 THEN '' ELSE to_char({utc}, '.US') END || 'Z')"
    )


@compiles(iso_utc, "sqlite")
def _iso_utc_sqlite(element: iso_utc, compiler: Any, **kw: Any) -> str:
    (column,) = (compiler.process(c, **kw) for c in element.clauses)
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTCDateTime), always with six fraction digits.
    return (
        f"(substr({column}, 1, 10) || 'T' || substr({column}, 12, 8) || CASE WHEN substr({column}, 21, 6) "
        f"IN ('', '000000') THEN '' ELSE '.' || substr({column}, 21, 6) END || 'Z')"
    )


class round4(FunctionElement[Any]):
    """A number rounded to 4 decimals, an integer when it is one (7.0 -> 7), as the CSV writes it."""

    name = "round4"
    inherit_cache = True


@compiles(round4)
def _round4(element: round4, compiler: Any, **kw: Any) -> str:
    (column,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"trim_scale(round(({column})::numeric, 4))"


@compiles(round4, "sqlite")
def _round4_sqlite(element: round4, compiler: Any, **kw: Any) -> str:
    (column,) = (compiler.process(c, **kw) for c in element.clauses)
    r = f"round({column}, 4)"
    return f"(CASE WHEN {r} = CAST({r} AS INTEGER) THEN CAST({r} AS INTEGER) ELSE {r} END)"


class topics_text(FunctionElement[str]):
    """A JSON object of topic scores as `security:0.912;culture:0.405`, highest first, then by name."""

    type = String()
    name = "topics_text"
    inherit_cache = True


@compiles(topics_text)
def _topics_text(element: topics_text, compiler: Any, **kw: Any) -> str:
    (column,) = (compiler.process(c, **kw) for c in element.clauses)
    return (
        "(SELECT string_agg(t.key || ':' || to_char(t.value::numeric, 'FM0.000'), ';' "
        f"ORDER BY t.value::numeric DESC, t.key) FROM jsonb_each_text({column}) AS t)"
    )


@compiles(topics_text, "sqlite")
def _topics_text_sqlite(element: topics_text, compiler: Any, **kw: Any) -> str:
    (column,) = (compiler.process(c, **kw) for c in element.clauses)
    # group_concat keeps the order of its ordered subquery (SQLite 3.40 has no ORDER BY inside it).
    return (
        "(SELECT group_concat(k || ':' || printf('%.3f', v), ';') FROM (SELECT key AS k, value AS v "
        f"FROM json_each({column}) ORDER BY v DESC, k))"
    )
