"""`python -m bench dashboard [--quick]`: page times at 1M posts, and the service while browsing.

pages     For each backend (SQLite, PostgreSQL) the dashboard is served on loopback by the same
          threaded WSGI server and gate as `diplomonitor run`, over bench/alerts.py's data (1M
          posts of 200 accounts over a year; --quick: 100k). Each page is requested 50 times with
          the cache off, so every request computes its figures; the server time is the app's own
          `Server-Timing` (gate, queries, template). Its query alone is the same data functions
          called directly on a connection, 50 times. Targets: p95 <= 250 ms and <= 1.5x the query.
browsing  One collection round (bench/collect.py's local AppView and Mastodon servers, 40
          accounts each) and the scoring of what it collected (tiny models, torch, 1 thread),
          timed alone and while a browser thread opens a dashboard page every 0.5 s in the same
          process (as `run` serves it, cache on); three pairs, alternated. Target: <= 5% slower.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.alerts import NOW, _pg_engine, _sqlite_engine

REQUESTS = 50
PAGES = {
    "overview": "/",
    "accounts": "/accounts",
    "account": "/accounts/bluesky/acct2",
    "posts": "/posts",
    "posts search": "/posts?q=sanctions&days=30",
    "alerts": "/alerts",
    "reports": "/reports",
}


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def _dashboard(engine: Any, cache: float) -> Any:
    from monitor.compose import AlertActions
    from monitor.config import DashboardSettings
    from monitor.reporting.dashboard.app import Dashboard
    from monitor.service.web import Access, Gate

    actions = AlertActions(engine, lambda: NOW)
    settings = DashboardSettings(cache_seconds=cache)
    app = Dashboard(
        engine, settings, rules=["count-all"], actions=actions, clock=lambda: NOW, cache_seconds=cache
    )
    return Gate(app, Access())


def _queries(engine: Any) -> dict[str, Callable[[], Any]]:
    """Each page's data functions alone, as the app calls them."""
    from monitor.compose import AlertActions
    from monitor.db import reading
    from monitor.reporting.dashboard import accounts as acc
    from monitor.reporting.dashboard import params
    from monitor.reporting.dashboard.alerts import alerts_page
    from monitor.reporting.dashboard.overview import overview
    from monitor.reporting.dashboard.posts import post_page
    from monitor.reporting.selection import Period, Selection
    from monitor.reporting.summary import summarise

    def with_conn(fn: Callable[[Any], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with reading(engine) as conn:
                return fn(conn)

        return run

    week = Selection(Period(NOW - timedelta(days=7), NOW, "7"))
    month = Selection(Period(NOW - timedelta(days=30), NOW, "30"))
    search = Selection(Period(NOW - timedelta(days=30), NOW, "30"), search="sanctions")
    quarter = Period(NOW - timedelta(days=90), NOW, "90")

    def account(conn: Any) -> Any:
        a = acc.find_account(conn, "bluesky", "acct2")
        assert a is not None
        acc.account_page(conn, a, quarter)
        return post_page(
            conn, Selection(quarter, handles=("acct2",), platforms=("bluesky",)), "newest", 1, 20
        )

    def accounts(conn: Any) -> Any:
        rows = summarise(conn, month, "account", overperformance=False)
        return acc.account_rows(conn, month, (), "handle", False, rows)

    def reports(conn: Any) -> Any:
        from sqlalchemy import func, select

        from monitor.schema import accounts as a
        from monitor.schema import posts

        conn.execute(select(func.min(posts.c.created_at), func.max(posts.c.created_at))).one()
        return conn.execute(select(a.c.country, a.c.groups, a.c.platform)).all()

    actions = AlertActions(engine, lambda: NOW)
    _ = params
    return {
        "overview": with_conn(lambda c: overview(c, NOW, {}, None)),
        "accounts": with_conn(accounts),
        "account": with_conn(account),
        "posts": with_conn(lambda c: post_page(c, week, "newest", 1, 50)),
        "posts search": with_conn(lambda c: post_page(c, search, "newest", 1, 50)),
        "alerts": with_conn(lambda c: alerts_page(c, NOW, ["count-all"], actions)),
        "reports": with_conn(reports),
    }


def _get(url: str) -> float:
    with urllib.request.urlopen(url, timeout=120) as r:
        r.read()
        timing = r.headers["Server-Timing"]
    return float(timing.split("dur=")[1]) / 1000


def pages(label: str, engine: Any, n: int) -> list[tuple[str, float, float]]:
    from monitor.service.web import WebServer

    server = WebServer("127.0.0.1:0", _dashboard(engine, 0))
    server.start()
    queries = _queries(engine)
    out = []
    try:
        for name, path in PAGES.items():
            _get(server.url + path)  # warm the connection pool and the page's plan
            page = [_get(server.url + path) for _ in range(n)]
            query = []
            for _ in range(n):
                started = time.perf_counter()
                queries[name]()
                query.append(time.perf_counter() - started)
            out.append((name, _p95(page), _p95(query)))
            print(f"  {label:<11}{name:<14}{_p95(page) * 1000:>9.0f} ms{_p95(query) * 1000:>9.0f} ms"
                  f"{_p95(page) / _p95(query):>8.2f}x  {'ok' if _p95(page) <= 0.25 else 'OVER 250 ms'}"
                  f"{'' if _p95(page) <= 1.5 * _p95(query) else ', OVER 1.5x'}", flush=True)  # fmt: skip
    finally:
        server.close()
    return out


def _service_round(folder: Path, name: str, bsky: str, mastos: list[tuple[str, str]], n: int,
                   models: dict[str, str]) -> float:  # fmt: skip
    """One collection round into a fresh database, then scoring what it collected: seconds."""
    from bench.collect import _config, _round
    from models.scorer import Scorer
    from models.settings import ModelSettings
    from monitor.config import load_settings
    from monitor.db import make_engine
    from monitor.scoring import score_pending

    config = _config(folder, name, bsky, mastos, n, sequential=False)
    scorer = Scorer(ModelSettings(**models, cache_dir=str(folder), runtime="torch", quantize=False, threads=1,
                                  posts_per_batch=16))  # fmt: skip
    scorer.load()
    collect_s, _ = _round(config)
    engine = make_engine(load_settings(config, {}).database_url)
    started = time.perf_counter()
    score_pending(engine, scorer, now=datetime.now(UTC))
    engine.dispose()
    return collect_s + time.perf_counter() - started


def browsing(engine: Any, quick: bool) -> None:
    from bench.collect import _serve
    from monitor.service.web import WebServer
    from tests.tiny_models import build_tiny_models

    parent, child = mp.Pipe()
    servers = mp.Process(target=_serve, args=(40 if not quick else 10, child), daemon=True)
    servers.start()
    bsky, mastos = parent.recv()
    web = WebServer("127.0.0.1:0", _dashboard(engine, 60))
    web.start()
    stop = threading.Event()
    opened = [0]

    def browse() -> None:
        paths = list(PAGES.values())
        while not stop.wait(0.5):
            _get(web.url + paths[opened[0] % len(paths)])
            opened[0] += 1

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models = build_tiny_models(folder / "tiny")
        n = 10 if quick else 40
        quiet, busy = [], []
        for i in range(3):
            quiet.append(_service_round(folder, f"quiet{i}", bsky, mastos, n, models))
            stop.clear()
            browser = threading.Thread(target=browse, daemon=True)
            browser.start()
            busy.append(_service_round(folder, f"busy{i}", bsky, mastos, n, models))
            stop.set()
            browser.join()
    parent.send("stop")
    servers.join(timeout=10)
    web.close()
    q, b = statistics.median(quiet), statistics.median(busy)
    print(f"  collection + scoring ({n * 5} accounts): alone {q:.2f} s, while browsing {b:.2f} s "
          f"({(b / q - 1) * 100:+.1f}%; {opened[0]} pages opened); target <= +5%  "
          f"{'ok' if b <= q * 1.05 else 'MISSED'}", flush=True)  # fmt: skip
    alone, while_browsing = (", ".join(f"{x:.2f}" for x in runs) for runs in (quiet, busy))
    print(f"  runs alone: {alone}; while browsing: {while_browsing}")


def main(options: list[str]) -> None:
    """Page p95 against the query alone on both backends, then the service while browsing."""
    import os

    quick = "--quick" in options
    n = 100_000 if quick else 1_000_000
    load = os.getloadavg()
    print(f"dashboard over {n:,} posts, {REQUESTS} requests per page; load average at start "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores", flush=True)  # fmt: skip
    head = f"  {'backend':<11}{'page':<14}{'p95 page':>12}{'p95 query':>12}{'ratio':>9}"
    print(head + "  target <= 250 ms, <= 1.5x")
    from monitor.db import upgrade

    sqlite = _sqlite_engine(n, False)
    upgrade(sqlite.url.render_as_string(hide_password=False))  # a cached file may predate a migration
    pages("sqlite", sqlite, REQUESTS)
    pg = _pg_engine(n, False)
    if pg is not None:
        from sqlalchemy import event

        event.listen(pg, "connect", lambda dbapi, _r: dbapi.execute("SET jit = off"))  # as compose does
        pg.dispose()
        pages("postgresql", pg, REQUESTS)
        pg.dispose()
    if "--pages-only" not in options:
        browsing(sqlite, quick)
    sqlite.dispose()
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
