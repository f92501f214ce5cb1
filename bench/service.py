"""`python -m bench service [--quick]`: scoring scale-out on PostgreSQL, and the idle service.

scale-out  `monitor.scoring.score_pending` (what `diplomonitor run --only score` runs) in one,
           then two worker processes on the same PostgreSQL database and backlog; models of
           the real default sizes with random weights (bench/score.py's builder), torch fp32,
           one thread per worker (a worker stands for a machine's CPU), 16 posts per claimed
           batch. Throughput counts from the moment the loaded workers start to the last batch
           committed; the run checks every post was scored exactly once.
idle       `diplomonitor run` as a subprocess with 500 accounts on a local AppView (and
           5 as the baseline), default schedule, tiny models: CPU share and resident memory
           over a minute once the first collection, refreshes and scoring are done.

--quick: 96 posts with 4-layer models; 5-second idle windows, scoring every 3 s (indicative only).
--scale-only, --idle-only: one of the two parts.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

PG_URL = os.environ.get("DIPLOMONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _worker(url: str, models: dict[str, str], cache: str, ready: Any, out: Any) -> None:
    """Child: load the models, wait for the other workers, score until the backlog is empty."""
    from datetime import UTC, datetime

    from models.scorer import Scorer
    from models.settings import ModelSettings
    from monitor.db import make_engine
    from monitor.scoring import score_pending

    settings = ModelSettings(
        **models, cache_dir=cache, runtime="torch", quantize=False, threads=1, posts_per_batch=16
    )
    scorer = Scorer(settings)
    scorer.load()
    engine = make_engine(url)
    ready.wait()
    began = time.time()
    report = score_pending(engine, scorer, now=datetime.now(UTC))
    out.put((report.scored, began, time.time()))
    engine.dispose()


def _fill(url: str, texts: list[tuple[str, str]]) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    from collectors.records import Post
    from monitor.accounts import sync_accounts
    from monitor.collection.store import save_posts
    from monitor.config import Account
    from monitor.db import make_engine
    from monitor.schema import metadata

    engine, now = make_engine(url), datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            text(f"TRUNCATE {', '.join(t.name for t in metadata.sorted_tables)} RESTART IDENTITY CASCADE")
        )
        sync_accounts(conn, [Account("bluesky", "bench.example.org", "FR", "embassy")], now)
        save_posts(conn, 1, [Post("bluesky", f"at://bench/{i}", "did:plc:b", "bench.example.org", t,
                                  now - timedelta(seconds=i), languages=(lang,))
                             for i, (t, lang) in enumerate(texts)], now)  # fmt: skip
    engine.dispose()


def _scored(url: str) -> int:
    from sqlalchemy import func, select

    from monitor.db import make_engine
    from monitor.schema import scores

    engine = make_engine(url)
    with engine.connect() as conn:
        n = int(conn.execute(select(func.count()).select_from(scores)).scalar_one())
    engine.dispose()
    return n


def scale_out(
    url: str, models: dict[str, str], cache: str, texts: list[tuple[str, str]], workers: int
) -> float:
    """Posts per second with `workers` scoring processes sharing one backlog."""
    _fill(url, texts)
    ctx = mp.get_context("spawn")
    ready, out = ctx.Barrier(workers + 1), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(url, models, cache, ready, out)) for _ in range(workers)]
    for p in procs:
        p.start()
    ready.wait(timeout=1800)  # every worker has loaded its models: they start together
    results = [out.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
    total = sum(r[0] for r in results)
    if total != len(texts) or _scored(url) != len(texts):
        raise RuntimeError(f"{workers} worker(s) scored {total} of {len(texts)} posts ({_scored(url)} rows)")
    print(f"  {workers} worker(s): {[r[0] for r in results]} posts each", flush=True)
    return total / (max(r[2] for r in results) - min(r[1] for r in results))


def _database() -> str | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from monitor.db import upgrade

    admin_url = make_url(PG_URL)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        name = f"dm_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"  PostgreSQL not reachable at {admin_url.render_as_string()}: {exc.__class__.__name__}")
        return None
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def _drop(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    admin = create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def idle(
    folder: Path, accounts: int, seconds: float, models: dict[str, str], score_minutes: float = 2
) -> tuple[float, float, float]:
    """(CPU %, mean RSS MB, peak RSS MB) of an idle `diplomonitor run` watching `accounts` accounts."""
    from monitor.config import ScheduleSettings
    from monitor.db import upgrade
    from tests.collectors.servers import FakeBluesky
    from tests.service.process import ServiceProcess
    from tests.service.world import add_accounts, write_config

    server = FakeBluesky(page_size=50).start()
    handles = add_accounts(server, accounts, posts=2)
    url = f"sqlite:///{folder / f'idle{accounts}.db'}"
    upgrade(url)
    defaults = {**asdict(ScheduleSettings()), "score_minutes": score_minutes}
    config = write_config(folder / f"idle{accounts}.toml", url, server, handles, models, schedule=defaults,
                          rule=False)  # fmt: skip
    try:
        with ServiceProcess(config) as service:
            service.started(120)
            for job in ("collect-bluesky", "engagement", "profiles", "resolve"):
                service.wait(lambda job=job: service.runs(job), 600, f"the first {job} run")
            posts = 2 * accounts  # scored at the first score period after the collection
            service.wait(
                lambda: sum(r["counts"]["scored"] for r in service.runs("score")) >= posts, 300, "scoring"
            )
            time.sleep(2)
            pid = service.proc.pid
            cpu0, wall0, rss = _cpu(pid), time.monotonic(), []
            while time.monotonic() - wall0 < seconds:
                rss.append(_rss_mb(pid))
                time.sleep(0.5)
            share = 100 * (_cpu(pid) - cpu0) / (time.monotonic() - wall0)
            assert service.stop() == 0
    finally:
        server.stop()
    return share, sum(rss) / len(rss), max(rss)


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(options: list[str]) -> None:
    from bench.score import build_models, make_posts
    from tests.tiny_models import build_tiny_models

    quick = "--quick" in options
    parts = {"--scale-only": {"scale"}, "--idle-only": {"idle"}}
    wanted = set().union(*(parts[o] for o in options if o in parts)) or {"scale", "idle"}
    n, window, score_minutes = (96, 5.0, 0.05) if quick else (1200, 60.0, 2.0)
    with tempfile.TemporaryDirectory(prefix="dm-bench-service-") as tmp:
        folder = Path(tmp)
        url = _database() if "scale" in wanted else None
        if url is not None:
            print(f"scoring scale-out: {n} posts, {'4-layer' if quick else 'full-size'} models, torch fp32, "
                  "1 thread per worker", flush=True)  # fmt: skip
            models = build_models(folder / "models", quick)
            try:
                texts = make_posts(n)
                one = scale_out(url, models, str(folder / "cache"), texts, 1)
                two = scale_out(url, models, str(folder / "cache"), texts, 2)
            finally:
                _drop(url)
            print(f"{'workers':<10}{'posts/s':>10}{'ratio':>8}")
            print(f"{1:<10}{one:>10.1f}{1.0:>8.2f}\n{2:<10}{two:>10.1f}{two / one:>8.2f}", flush=True)
        if "idle" not in wanted:
            return
        tiny = build_tiny_models(folder / "tiny")
        print(f"idle service: {window:.0f} s after the first rounds, SQLite, tiny models", flush=True)
        base = idle(folder, 5, window, tiny, score_minutes)
        big = idle(folder, 500, window, tiny, score_minutes)
        print(f"{'accounts':<10}{'CPU %':>8}{'RSS MB':>9}{'peak MB':>9}{'RSS ratio':>11}")
        for count, (cpu, mean, peak) in ((5, base), (500, big)):
            print(f"{count:<10}{cpu:>8.2f}{mean:>9.0f}{peak:>9.0f}{mean / base[1]:>11.2f}")
