"""Collection benchmark: one round over many accounts and hosts, against the same work done sequentially.

Five local hosts (one Bluesky AppView, four Mastodon instances) answer every request after
100 ms, from a separate process so the timings are the collector's. Each account has three
pages of history. Reported: both round times and their ratio, the most requests any host
saw in one budget window against its configured budget, and the collecting process's peak RSS.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

LATENCY = 0.1
PER_PAGE = 20
POSTS = 55  # 20 + 20 + 15: three pages
BUDGET_PER_5MIN = 9000  # 30 requests/s per host
WINDOW = 2.0
MASTODON_HOSTS = 4


def _serve(accounts_per_host: int, conn: Any) -> None:
    """Child process: start the five servers, send their URLs, then their request times on demand."""
    from tests.collectors.payloads import post_view, status
    from tests.collectors.servers import FakeBluesky, FakeMastodon

    now = datetime.now(UTC)
    bsky = FakeBluesky(latency=LATENCY, page_size=PER_PAGE).start()
    for a in range(accounts_per_host):
        did, handle = f"did:plc:bench{a}", f"bench{a}.example.org"
        bsky.add_account(did, handle)
        bsky.feeds[did] = [
            {"post": post_view(did, handle, f"p{i}", f"post {i} 🌍", now - timedelta(hours=i))}
            for i in range(POSTS)
        ]
    mastos = []
    for h in range(MASTODON_HOSTS):
        m = FakeMastodon(f"m{h}.example.org", latency=LATENCY, page_size=PER_PAGE).start()
        for a in range(accounts_per_host):
            account = m.add_account(str(a + 1), f"user{a}")
            m.statuses[str(a + 1)] = [
                status(str(10_000 - i), account, f"<p>toot {i}</p>", now - timedelta(hours=i))
                for i in range(POSTS)
            ]
        m.remaining = 10**9
        mastos.append(m)
    conn.send((bsky.url, [(m.domain, m.url) for m in mastos]))
    while (command := conn.recv()) != "stop":
        servers = [bsky, *mastos]
        if command == "reset":
            for s in servers:
                with s.lock:
                    s.seen.clear()
            conn.send(True)
        else:
            conn.send({s.host: [x.at for x in s.seen] for s in servers})
    for s in [bsky, *mastos]:
        s.stop()


def _config(
    folder: Path, name: str, bsky: str, mastos: list[tuple[str, str]], n: int, sequential: bool
) -> Path:
    workers = (
        "concurrency = 1\nper_host_concurrency = 1"
        if sequential
        else "concurrency = 24\nper_host_concurrency = 4"
    )
    lines = [
        f'[database]\nurl = "sqlite:///{folder / name}.db"\n',
        f"[collect]\n{workers}\nbackfill_days = 30\nbudget_window_seconds = {WINDOW}\n",
        f'[bluesky]\nappview_url = "{bsky}"\nrequests_per_5min = {BUDGET_PER_5MIN}\n',
        f"[mastodon]\nrequests_per_5min = {BUDGET_PER_5MIN}\npage_size = {PER_PAGE}\n",
        "[mastodon.instance_urls]",
        *[f'"{d}" = "{u}"' for d, u in mastos],
        "",
    ]
    for a in range(n):
        lines.append(
            f'[[accounts]]\nplatform = "bluesky"\nhandle = "bench{a}.example.org"\ncountry = "FR"\n'
            'kind = "embassy"\n'
        )
        for d, _ in mastos:
            lines.append(
                f'[[accounts]]\nplatform = "mastodon"\nhandle = "user{a}@{d}"\ncountry = "DE"\n'
                'kind = "embassy"\n'
            )
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _round(config: Path) -> tuple[float, Any]:
    from monitor.accounts import sync_accounts
    from monitor.collection.rounds import collect_round
    from monitor.compose import build_collectors
    from monitor.config import load_settings
    from monitor.db import make_engine, upgrade

    settings = load_settings(config, {})
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        sync_accounts(conn, settings.accounts, datetime.now(UTC))
    collectors = build_collectors(settings)
    started = time.perf_counter()
    report = collect_round(engine, settings.collect, collectors)
    elapsed = time.perf_counter() - started
    for c in collectors.values():
        c.close()
    engine.dispose()
    return elapsed, report


def _busiest(times: dict[str, list[float]]) -> tuple[str, int]:
    """The host with the most requests inside any one budget window, and that count."""
    best = ("", 0)
    for host, ts in times.items():
        ts = sorted(ts)
        j = 0
        for i, t in enumerate(ts):
            while ts[j] <= t - WINDOW:
                j += 1
            if i - j + 1 > best[1]:
                best = (host, i - j + 1)
    return best


def main(options: list[str]) -> None:
    """Run the benchmark; `--quick` uses 40 accounts instead of 200."""
    n_accounts = 40 if "--quick" in options else 200
    per_host = n_accounts // (MASTODON_HOSTS + 1)
    parent, child = mp.get_context("spawn").Pipe()
    server = mp.get_context("spawn").Process(target=_serve, args=(per_host, child), daemon=True)
    server.start()
    bsky, mastos = parent.recv()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, sequential in (("sequential", True), ("concurrent", False)):
            parent.send("reset")
            parent.recv()
            seconds, report = _round(_config(Path(tmp), name, bsky, mastos, per_host, sequential))
            parent.send("times")
            times = parent.recv()
            rows.append((name, seconds, report, sum(len(t) for t in times.values()), _busiest(times)))
    parent.send("stop")
    server.join(10)
    _print(rows, n_accounts)


def _print(rows: list[tuple[str, float, Any, int, tuple[str, int]]], n_accounts: int) -> None:
    budget = BUDGET_PER_5MIN * WINDOW / 300
    base = rows[0][1]
    print(
        f"{n_accounts} accounts on {MASTODON_HOSTS + 1} hosts, {LATENCY * 1000:.0f} ms per request, "
        f"3 pages each; budget {budget:.0f} requests per {WINDOW:.0f} s window per host"
    )
    print(
        f"{'run':12} {'seconds':>8} {'speed-up':>9} {'requests':>9} {'posts':>6} {'ok':>4} "
        f"{'busiest window':>15} {'vs budget':>9}"
    )
    for name, seconds, report, requests, (_, most) in rows:
        print(
            f"{name:12} {seconds:8.1f} {base / seconds:8.1f}x {requests:9d} {report.new_posts:6d} "
            f"{report.count('ok'):4d} {most:15d} {most / budget:8.0%}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the collecting process: {peak:.0f} MiB (RSS)")
