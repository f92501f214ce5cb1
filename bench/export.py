"""`python -m bench export [--quick]`: the posts export of one month, SQLite and PostgreSQL.

For each backend and two sizes (100k and 1M posts; --quick: 20k and 100k) it times
`diplomonitor export posts` (run in a child process, which also gives its peak memory) against
the database running the export's own SELECT (compiled from `posts_query`: the same joins, the
same engagement-at-age lookups, the same cells) and writing it as CSV itself: the `sqlite3 -csv`
command-line tool (Python's sqlite3 module writing CSV when the tool is absent) and PostgreSQL's
`COPY (that SELECT) TO STDOUT WITH CSV` through psycopg. Output goes to /dev/null. Target: the
export at least 0.5x the database's own speed, memory flat.

Data is generated with bulk SQL (two engagement snapshots, one score and two topics per post)
and cached under /tmp/diplomonitor-bench (SQLite files) and in `dm_bench_export_<rows>`
databases on the local PostgreSQL server.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path("/tmp/diplomonitor-bench")
PG_ADMIN = os.environ.get("DIPLOMONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MONTH_SECONDS = 31 * 24 * 3600
ACCOUNTS = 200
TEXT = 'Post {i}: culture, trade and climate; a "quoted" phrase, commas, and accents: é, ü, ñ.'


def _sqlite_fill(path: Path, rows: int) -> None:
    """Bulk-insert `rows` posts of October 2026 (and their snapshots, scores, topics)."""
    db = sqlite3.connect(path)
    step = f"((i - 1) * {MONTH_SECONDS} / {rows})"
    created = f"strftime('%Y-%m-%d %H:%M:%S', '2026-10-01', '+' || {step} || ' seconds') || '.000000'"
    stamp = "'2026-09-01 00:00:00.000000'"
    db.executescript(f"""
    PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
    WITH RECURSIVE a(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM a WHERE i < {ACCOUNTS})
    INSERT INTO accounts (id, platform, handle, display_name, country, kind, groups, active, status,
                          created_at, updated_at)
    SELECT i, 'bluesky', 'account' || i || '.example.org', 'Account ' || i,
           substr('FRDEITESPLNLBEATSEDK', 1 + (i % 10) * 2, 2), 'embassy', '[]', 1, 'ok',
           {stamp}, {stamp} FROM a;
    WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {rows})
    INSERT INTO posts (id, account_id, platform, uri, url, author_handle, text, declared_language,
                       languages, created_at, collected_at, updated_at, is_reply, is_repost, is_quote,
                       links, hashtags, mentions, likes, reposts, replies, quotes, engagement_at, raw)
    SELECT i, 1 + i % {ACCOUNTS}, 'bluesky', 'at://bench/post/' || i,
           'https://bsky.app/profile/bench/post/' || i,
           'bench', replace('{TEXT}', '{{i}}', i), 'en', '["en"]', {created}, {created}, {created},
           i % 5 = 0, i % 7 = 0, 0, '[]', '[]', '[]', i % 97, i % 13, i % 5, 0, NULL, '{{}}' FROM s;
    UPDATE posts SET engagement_at = strftime('%Y-%m-%d %H:%M:%S', substr(created_at, 1, 19), '+8 days')
                                     || '.000000';
    INSERT INTO engagement_snapshots (post_id, observed_at, likes, reposts, replies, quotes)
    SELECT id, strftime('%Y-%m-%d %H:%M:%S', substr(created_at, 1, 19), '+1 hours') || '.000000',
           likes / 2, reposts / 2, replies, quotes FROM posts;
    INSERT INTO engagement_snapshots (post_id, observed_at, likes, reposts, replies, quotes)
    SELECT id, strftime('%Y-%m-%d %H:%M:%S', substr(created_at, 1, 19), '+30 hours') || '.000000',
           likes, reposts, replies, quotes FROM posts;
    INSERT INTO scores (post_id, scored_with, scored_at, language, sentiment_label, sentiment_score, topics)
    SELECT id, 'bench', created_at, 'en', CASE id % 3 WHEN 0 THEN 'negative' WHEN 1 THEN 'neutral'
           ELSE 'positive' END, (id % 3 - 1) * 0.5, '{{"culture": 0.8, "economy_trade": 0.55}}' FROM posts;
    INSERT INTO post_topics (post_id, topic, score) SELECT id, 'culture', 0.8 FROM posts;
    INSERT INTO post_topics (post_id, topic, score) SELECT id, 'economy_trade', 0.55 FROM posts;
    """)
    db.commit()
    db.close()


def _pg_fill(url: str, rows: int) -> None:
    import psycopg

    offset = f"((i - 1) * {MONTH_SECONDS}::bigint / {rows}) * interval '1 second'"
    created = f"(timestamptz '2026-10-01 00:00:00+00' + {offset})"
    text = TEXT.replace("{i}", "' || i || '")
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as db:
        db.execute(f"""
        INSERT INTO accounts (id, platform, handle, display_name, country, kind, groups, active, status,
                              created_at, updated_at)
        SELECT i, 'bluesky', 'account' || i || '.example.org', 'Account ' || i,
               substr('FRDEITESPLNLBEATSEDK', 1 + (i % 10) * 2, 2), 'embassy', '[]', true, 'ok', now(), now()
        FROM generate_series(1, {ACCOUNTS}) i;
        INSERT INTO posts (id, account_id, platform, uri, url, author_handle, text, declared_language,
                           languages, created_at, collected_at, updated_at, is_reply, is_repost, is_quote,
                           links, hashtags, mentions, likes, reposts, replies, quotes, engagement_at, raw)
        SELECT i, 1 + i % {ACCOUNTS}, 'bluesky', 'at://bench/post/' || i,
               'https://bsky.app/profile/bench/post/' || i, 'bench', '{text}', 'en', '["en"]',
               {created}, {created}, {created}, i % 5 = 0, i % 7 = 0, false,
               '[]', '[]', '[]', i % 97, i % 13, i % 5, 0, {created} + interval '8 days', '{{}}'
        FROM generate_series(1, {rows}) i;
        INSERT INTO engagement_snapshots (post_id, observed_at, likes, reposts, replies, quotes)
        SELECT id, created_at + interval '1 hour', likes / 2, reposts / 2, replies, quotes FROM posts
        UNION ALL SELECT id, created_at + interval '30 hours', likes, reposts, replies, quotes FROM posts;
        INSERT INTO scores (post_id, scored_with, scored_at, language, sentiment_label, sentiment_score,
                            topics)
        SELECT id, 'bench', created_at, 'en', (ARRAY['negative', 'neutral', 'positive'])[1 + id % 3],
               (id % 3 - 1) * 0.5, '{{"culture": 0.8, "economy_trade": 0.55}}' FROM posts;
        INSERT INTO post_topics (post_id, topic, score)
        SELECT id, 'culture', 0.8 FROM posts UNION ALL SELECT id, 'economy_trade', 0.55 FROM posts;
        """)
        db.execute("ANALYZE")


def sqlite_database(rows: int) -> str:
    """A cached SQLite file with `rows` posts; built on first use."""
    from monitor.db import upgrade

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"export-{rows}.db"
    if not path.exists():
        tmp = path.with_suffix(".building")
        tmp.unlink(missing_ok=True)
        upgrade(f"sqlite:///{tmp}")
        started = time.perf_counter()
        _sqlite_fill(tmp, rows)
        print(f"  generated {rows:,} posts in SQLite in {time.perf_counter() - started:.0f} s", flush=True)
        tmp.rename(path)
    return f"sqlite:///{path}"


def pg_database(rows: int) -> str | None:
    """A cached PostgreSQL database with `rows` posts, or None when no server answers."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from monitor.db import upgrade

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"dm_bench_export_{rows}"
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
            url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
            if exists:
                with create_engine(url).connect() as db:
                    count = db.execute(text("SELECT count(*) FROM posts")).scalar()
                if count == rows:
                    return url
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: say so and go on with SQLite
        print(f"  PostgreSQL not reachable ({exc.__class__.__name__}): skipped", flush=True)
        return None
    finally:
        admin.dispose()
    upgrade(url)
    started = time.perf_counter()
    _pg_fill(url, rows)
    print(f"  generated {rows:,} posts in PostgreSQL in {time.perf_counter() - started:.0f} s", flush=True)
    return url


def child(url: str) -> None:
    """Run in the measured process: export October 2026 to /dev/null, print the row count."""
    from monitor.db import make_engine
    from monitor.reporting.posts_csv import export_posts
    from monitor.reporting.selection import Period, Selection

    engine = make_engine(url)
    with engine.connect() as conn, open(os.devnull, "w", encoding="utf-8", newline="") as out:
        print(export_posts(conn, Selection(Period.month("2026-10")), out))


def run_export(url: str) -> tuple[float, int, float]:
    """(seconds, rows, peak RSS in MB) of a child process exporting the month."""
    code = f"from bench.export import child; child({url!r})"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"export child failed with {proc.returncode}")
    return elapsed, int(output.strip()), usage.ru_maxrss / 1024


def export_select(url: str) -> str:
    """The SQL of `export posts --month 2026-10`, with its values inlined, for the database to run."""
    from sqlalchemy import create_engine

    from monitor.reporting.posts_csv import posts_query
    from monitor.reporting.selection import Period, Selection

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = posts_query(conn, Selection(Period.month("2026-10")))
            return str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    finally:
        engine.dispose()


def raw_sqlite(url: str) -> tuple[float, str]:
    """Seconds for SQLite running the export's SELECT and writing CSV itself (its CLI when installed)."""
    path = url.removeprefix("sqlite:///")
    query = export_select(url)
    started = time.perf_counter()
    if shutil.which("sqlite3"):
        with open(os.devnull, "wb") as sink:
            subprocess.run(["sqlite3", "-csv", "-header", path, query], stdout=sink, check=True)
        return time.perf_counter() - started, "sqlite3 -csv, same SELECT"
    import csv

    with sqlite3.connect(path) as db, open(os.devnull, "w", newline="") as sink:
        csv.writer(sink).writerows(db.execute(query))
    return time.perf_counter() - started, "python sqlite3 + csv, same SELECT"


def raw_pg(url: str) -> tuple[float, str]:
    """Seconds for PostgreSQL's COPY (the export's SELECT) TO STDOUT CSV."""
    import psycopg

    query = f"COPY ({export_select(url)}) TO STDOUT WITH CSV HEADER"
    started = time.perf_counter()
    dsn = url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn) as db, db.cursor() as cur, cur.copy(query) as copy:  # type: ignore[arg-type]
        for _ in copy:
            pass
    return time.perf_counter() - started, "COPY (same SELECT) TO STDOUT CSV"


def main(options: list[str]) -> None:
    """Print rows/s of the export against the raw dump, and peak memory, at two sizes."""
    sizes = (20_000, 100_000) if "--quick" in options else (100_000, 1_000_000)
    print("db: the database writing the CSV of the export's own SELECT; target export/db >= 0.5x")
    print(f"{'backend':<11}{'posts':>10}{'export s':>10}{'rows/s':>10}{'db s':>8}{'db rows/s':>12}"
          f"{'export/db':>11}{'peak MB':>9}  db dump")  # fmt: skip
    for backend in ("sqlite", "postgresql"):
        for rows in sizes:
            url = sqlite_database(rows) if backend == "sqlite" else pg_database(rows)
            if url is None:
                break
            raw_seconds, raw_label = raw_sqlite(url) if backend == "sqlite" else raw_pg(url)
            seconds, count, peak = run_export(url)
            assert count == rows, (count, rows)
            print(f"{backend:<11}{rows:>10,}{seconds:>10.2f}{rows / seconds:>10,.0f}{raw_seconds:>8.2f}"
                  f"{rows / raw_seconds:>12,.0f}{raw_seconds / seconds:>10.2f}x{peak:>9.0f}  {raw_label}",
                  flush=True)  # fmt: skip
