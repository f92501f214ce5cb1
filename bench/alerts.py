"""Alerts benchmark: 20 rules over 1,000,000 posts, on SQLite and PostgreSQL.

Reported per backend: seconds for one full evaluation cycle (every rule evaluated and its
state written, as `diplomonitor run` does every few minutes), against the floor: one
indexed aggregate query over the same 24-hour window. Target: a cycle under 2 s.

The posts (a year, 200 accounts, scores, topics, engagement snapshots for the last 30 days)
are generated in the database with bulk SQL (a recursive CTE on SQLite, generate_series on
PostgreSQL) and kept: the SQLite file under /tmp, the PostgreSQL database `dm_bench_alerts_N`
on DIPLOMONITOR_TEST_PG's server. `--quick` uses 100,000 posts; `--fresh` rebuilds;
`--sqlite-only` / `--pg-only` pick one backend.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from alerts.settings import Rule
from monitor.alerting.evaluate import evaluate_rules
from monitor.config import AlertsSettings, Settings
from monitor.db import make_engine, upgrade
from monitor.schema import alert_events, alert_states, deliveries, metadata, posts

NOW = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)
ACCOUNTS = 200
SPAN_DAYS = 365
SNAPSHOT_DAYS = 30
PG_URL = os.environ.get("DIPLOMONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TOPICS = ("culture", "education", "science", "economy", "climate", "security")
VERSION = "3"  # bump when the generated data changes


def rules() -> tuple[Rule, ...]:
    """Twenty rules across every metric and scope, as a busy deployment would have."""
    r = Rule
    return (
        r("count-all", "post_count", 5000),
        r("count-spike", "post_count", 3, spike="zscore", baseline_windows=7),
        r("count-eu-each", "post_count", 50, scope="group", scope_value="eu", per_member=True),
        r("neg-all", "negative_share", 0.4, window_hours=6, min_posts=20),
        r("neg-fr", "negative_share", 0.4, scope="country", scope_value="FR"),
        r("neg-spike-eu", "negative_share", 2, scope="group", scope_value="eu", spike="ratio"),
        r("sent-all", "mean_sentiment", -0.2, comparison="<="),
        r("sent-each", "mean_sentiment", -0.5, comparison="<=", per_member=True, min_posts=5),
        r("topic-climate", "topic_share", 0.3, topic="climate"),
        r("topic-sec-g7", "topic_share", 0.3, topic="security", scope="group", scope_value="g7"),
        r("eng-total", "engagement_total", 1_000_000),
        r("eng-total-spike", "engagement_total", 3, spike="zscore"),
        r("eng-median-de", "engagement_median", 40, scope="country", scope_value="DE"),
        r("eng-median-each", "engagement_median", 45, per_member=True, window_hours=6),
        r("viral-each", "overperformance", 5, per_member=True, age_hours=6, min_posts=5),
        r("viral-g7", "overperformance", 5, scope="group", scope_value="g7", age_hours=24),
        r("silent-each", "silence", 24, per_member=True),
        r("silent-mastodon", "silence", 6, scope="platform", scope_value="mastodon"),
        r("kw-sanctions", "keyword", 1, keywords=("sanctions", "#ukraine")),
        r("count-culture", "post_count", 100, scope="topic", scope_value="culture", window_hours=6),
    )


def _step(n: int) -> float:
    return SPAN_DAYS * 86400 / n  # seconds between consecutive posts


def _sqlite_fill(engine: Engine, n: int) -> None:
    end = int(NOW.timestamp())
    step = _step(n)
    ts = "strftime('%Y-%m-%d %H:%M:%S', {e} - CAST(n * {s} AS INTEGER), 'unixepoch') || '.000000'"
    created = ts.format(e=end, s=step)
    with engine.begin() as conn:
        _accounts(conn)
        conn.exec_driver_sql(f"""
            WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {n})
            INSERT INTO posts (id, account_id, platform, uri, author_handle, text, languages, created_at,
                collected_at, updated_at, is_reply, is_repost, is_quote, links, hashtags, mentions, raw,
                likes, reposts, replies, quotes, engagement_at, scored_with)
            SELECT n, (n * 7919) % {ACCOUNTS} + 1,
                CASE WHEN (n * 7919) % {ACCOUNTS} % 4 = 0 THEN 'mastodon' ELSE 'bluesky' END,
                'at://bench/' || n, 'acct' || ((n * 7919) % {ACCOUNTS} + 1),
                CASE WHEN n % 97 = 0 THEN 'New sanctions announced' ELSE 'Post number ' || n END,
                '[]', {created}, {created}, {created}, 0, n % 10 = 0, 0, '[]',
                CASE WHEN n % 50 = 0 THEN '["Ukraine"]' ELSE '[]' END, '[]', '{{}}',
                (n * 2654435761) % 61, (n * 40503) % 13, n % 7, n % 3, {created}, 'bench'
            FROM seq""")
        _sqlite_scores(conn, n)


def _sqlite_scores(conn: Any, n: int) -> None:
    conn.exec_driver_sql("""
        INSERT INTO scores (post_id, scored_with, scored_at, sentiment_label, sentiment_score, topics)
        SELECT id, 'bench', created_at,
            CASE id % 5 WHEN 0 THEN 'negative' WHEN 1 THEN 'negative' WHEN 2 THEN 'neutral'
                ELSE 'positive' END,
            ((id * 31) % 200 - 100) / 100.0, '{}'
        FROM posts""")
    for i, topic in enumerate(TOPICS):
        conn.exec_driver_sql(
            f"INSERT INTO post_topics (post_id, topic, score) SELECT id, '{topic}', 0.8 FROM posts "
            f"WHERE (id + {i}) % {len(TOPICS) + 2} = 0"
        )
    since = (NOW - timedelta(days=SNAPSHOT_DAYS)).strftime("%Y-%m-%d %H:%M:%S")
    for hours, share in ((1, 0.3), (6, 0.7), (24, 1.0)):
        conn.exec_driver_sql(f"""
            INSERT INTO engagement_snapshots (post_id, observed_at, likes, reposts, replies, quotes)
            SELECT id, strftime('%Y-%m-%d %H:%M:%S', created_at, '+{hours} hours') || '.000000',
                CAST(likes * {share} AS INTEGER), reposts, replies, quotes
            FROM posts WHERE created_at >= '{since}'""")


def _pg_fill(engine: Engine, n: int) -> None:
    step = _step(n)
    with engine.begin() as conn:
        _accounts(conn)
        conn.execute(text(f"""
            INSERT INTO posts (id, account_id, platform, uri, author_handle, text, languages, created_at,
                collected_at, updated_at, is_reply, is_repost, is_quote, links, hashtags, mentions, raw,
                likes, reposts, replies, quotes, engagement_at, scored_with)
            SELECT n, (n * 7919) % {ACCOUNTS} + 1,
                CASE WHEN (n * 7919) % {ACCOUNTS} % 4 = 0 THEN 'mastodon' ELSE 'bluesky' END,
                'at://bench/' || n, 'acct' || ((n * 7919) % {ACCOUNTS} + 1),
                CASE WHEN n % 97 = 0 THEN 'New sanctions announced' ELSE 'Post number ' || n END,
                '[]', t, t, t, false, n % 10 = 0, false, '[]',
                CASE WHEN n % 50 = 0 THEN '["Ukraine"]'::jsonb ELSE '[]'::jsonb END, '[]', '{{}}',
                (n * 2654435761) % 61, (n * 40503) % 13, n % 7, n % 3, t, 'bench'
            FROM generate_series(1::bigint, {n}) AS n,
                 LATERAL (SELECT :end - make_interval(secs => floor(n * {step})) AS t) AS times"""),
            {"end": NOW},
        )  # fmt: skip
        conn.execute(
            text("""
            INSERT INTO scores (post_id, scored_with, scored_at, sentiment_label, sentiment_score, topics)
            SELECT id, 'bench', created_at,
                (ARRAY['negative','negative','neutral','positive','positive'])[id % 5 + 1],
                ((id * 31) % 200 - 100) / 100.0, '{}' FROM posts""")
        )
        for i, topic in enumerate(TOPICS):
            conn.execute(text(f"INSERT INTO post_topics (post_id, topic, score) SELECT id, '{topic}', 0.8 "
                              f"FROM posts WHERE (id + {i}) % {len(TOPICS) + 2} = 0"))  # fmt: skip
        for hours, share in ((1, 0.3), (6, 0.7), (24, 1.0)):
            conn.execute(
                text(f"""
                INSERT INTO engagement_snapshots (post_id, observed_at, likes, reposts, replies, quotes)
                SELECT id, created_at + interval '{hours} hours', floor(likes * {share}), reposts, replies,
                    quotes FROM posts WHERE created_at >= :since"""),
                {"since": NOW - timedelta(days=SNAPSHOT_DAYS)},
            )
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence('posts', 'id'), (SELECT max(id) FROM posts))")
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def _accounts(conn: Any) -> None:
    groups = ['["eu","g7"]', '["eu"]', '["g7"]', "[]"]
    countries = ["FR", "DE", "US", "IT", "JP", "ES", "GB", "CA"]
    made = NOW - timedelta(days=SPAN_DAYS + 1)
    rows = [
        {"id": i, "platform": "mastodon" if (i - 1) % 4 == 0 else "bluesky", "handle": f"acct{i}",
         "country": countries[i % len(countries)], "kind": "embassy", "groups": groups[i % 4],
         "made": made}
        for i in range(1, ACCOUNTS + 1)
    ]  # fmt: skip
    made_sql = "CAST(:made AS TIMESTAMP WITH TIME ZONE)" if conn.dialect.name == "postgresql" else ":made"
    stmt = text(
        "INSERT INTO accounts (id, platform, handle, country, kind, groups, active, status, created_at, "
        "updated_at) "
        f"VALUES (:id, :platform, :handle, :country, :kind, :groups, true, 'ok', {made_sql}, {made_sql})"
    )
    if conn.dialect.name == "sqlite":
        for row in rows:
            row["made"] = made.strftime("%Y-%m-%d %H:%M:%S.000000")
    conn.execute(stmt, rows)


def _sqlite_engine(n: int, fresh: bool) -> Engine:
    path = Path(f"/tmp/diplomonitor-bench-alerts-v{VERSION}-{n}.db")
    if fresh:
        path.unlink(missing_ok=True)
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        upgrade(f"sqlite:///{tmp}")
        started = time.perf_counter()
        engine = make_engine(f"sqlite:///{tmp}")
        _sqlite_fill(engine, n)
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        engine.dispose()
        tmp.rename(path)
        print(f"  generated {n:,} posts in {path} in {time.perf_counter() - started:.0f} s", flush=True)
    return make_engine(f"sqlite:///{path}")


def _pg_engine(n: int, fresh: bool) -> Engine | None:
    admin_url = make_url(PG_URL)
    name = f"dm_bench_alerts_v{VERSION}_{n}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if exists and fresh:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                exists = None
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception as exc:
        print(
            f"  PostgreSQL not reachable at {admin_url.render_as_string()}: {exc.__class__.__name__}; skipped"
        )
        return None
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(posts)).scalar_one()
    if have != n:
        with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        started = time.perf_counter()
        _pg_fill(engine, n)
        print(
            f"  generated {n:,} posts in database {name} in {time.perf_counter() - started:.0f} s", flush=True
        )
    return engine


def _floor(engine: Engine) -> float:
    """One indexed aggregate over the same 24-hour window: the least a cycle could cost."""
    eng = posts.c.likes + posts.c.reposts + posts.c.replies + posts.c.quotes
    query = select(func.count(), func.sum(eng)).where(
        posts.c.created_at > NOW - timedelta(hours=24), posts.c.created_at <= NOW
    )
    times = []
    for _ in range(5):
        with engine.connect() as conn:
            started = time.perf_counter()
            conn.execute(query).all()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def _reset(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in (deliveries, alert_states, alert_events):
            conn.execute(table.delete())


def _measure(label: str, engine: Engine, cycles: int) -> dict[str, Any]:
    settings = Settings(path=Path("/tmp/bench.toml"), database_url=str(engine.url),
                        alerts=AlertsSettings(rules=rules()))  # fmt: skip
    _reset(engine)
    floor = _floor(engine)
    started = time.perf_counter()
    first = evaluate_rules(engine, settings.alerts, now=NOW)
    first_s = time.perf_counter() - started
    times = []
    for i in range(cycles):
        started = time.perf_counter()
        evaluate_rules(engine, settings.alerts, now=NOW + timedelta(minutes=5 * (i + 1)))
        times.append(time.perf_counter() - started)
    per_rule = []
    for rule in settings.alerts.rules:
        started = time.perf_counter()
        evaluate_rules(engine, settings.alerts, now=NOW, dry_run=True, names=(rule.name,))
        per_rule.append((time.perf_counter() - started, rule.name))
    cycle = statistics.median(times)
    return {"backend": label, "floor": floor, "first": first_s, "cycle": cycle, "fired": first.fired,
            "states": len(first.outcomes), "slowest": sorted(per_rule, reverse=True)[:3]}  # fmt: skip


def main(options: list[str]) -> None:
    """Run the benchmark; options: --quick, --fresh, --sqlite-only, --pg-only."""
    n = 100_000 if "--quick" in options else 1_000_000
    fresh = "--fresh" in options
    cycles = 3 if "--quick" in options else 5
    print(
        f"20 rules over {n:,} posts ({ACCOUNTS} accounts, {SPAN_DAYS} days); {cycles} cycles each", flush=True
    )
    results = []
    if "--pg-only" not in options:
        sqlite = _sqlite_engine(n, fresh)
        results.append(_measure("sqlite", sqlite, cycles))
        sqlite.dispose()
    if "--sqlite-only" not in options:
        pg = _pg_engine(n, fresh)
        if pg is not None:
            results.append(_measure("postgresql", pg, cycles))
            pg.dispose()
    print(f"{'backend':<11} {'floor (1 query)':>15} {'first cycle':>12} {'cycle':>8} {'cycle/floor':>12}"
          f" {'states':>7} {'fired':>6}  target < 2 s")  # fmt: skip
    for r in results:
        ok = "ok" if r["cycle"] < 2 else "MISSED"
        print(f"{r['backend']:<11} {r['floor']:>14.4f}s {r['first']:>11.3f}s {r['cycle']:>7.3f}s"
              f" {r['cycle'] / r['floor']:>11.0f}x {r['states']:>7} {r['fired']:>6}  {ok}")  # fmt: skip
    for r in results:
        slow = ", ".join(f"{name} {s:.3f}s" for s, name in r["slowest"])
        print(f"  slowest rules on {r['backend']}: {slow}")
