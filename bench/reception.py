"""Reception benchmark: one round of replies over many watched posts and hosts, against the same
work done sequentially.

200 watched accounts (`--quick`: 40) with 20 recent posts each, every post answered by 50
replies, on five local hosts (one Bluesky AppView, four Mastodon instances) that answer every
request after 100 ms, from a separate process so the timings are the collector's. Each run
starts from a database where the posts are collected and no thread was read yet.

Reported, per run (sequential: one account and one request per host at a time; concurrent:
the service's defaults for a large deployment):
- the round's time and the speed-up over the sequential round (the same requests, the same
  answers stored: both are printed);
- requests against the minimum the work needs (per account one re-count request per 25
  Bluesky posts or per 40-status Mastodon page, then one thread read per post);
- the most requests any host saw in one budget window against its budget;
- an unchanged round half an hour later: requests per watched post (no thread is read again).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

LATENCY = 0.1
POSTS = 20  # recent posts per account
REPLIES = 50  # replies per post
BUDGET_PER_5MIN = 9000  # 30 requests/s per host
WINDOW = 2.0
MASTODON_HOSTS = 4
BLUESKY_BATCH = 25  # getPosts takes 25 URIs
MASTODON_PAGE = 40


def _serve(per_host: int, now: datetime, conn: Any) -> None:
    """Child process: start the five servers with their posts and threads, send their URLs, then
    their request times on demand."""
    from tests.collectors.payloads import post_view, status
    from tests.collectors.servers import FakeBluesky, FakeMastodon

    bsky = FakeBluesky(latency=LATENCY, page_size=100).start()
    for a in range(per_host):
        did, handle = f"did:plc:bench{a}", f"bench{a}.example.org"
        bsky.add_account(did, handle)
        views = [
            post_view(did, handle, f"p{i}", f"post {i} 🌍", now - timedelta(hours=i + 1), replies=REPLIES)
            for i in range(POSTS)
        ]
        bsky.feeds[did] = [{"post": v} for v in views]
        for i, v in enumerate(views):
            for r in range(REPLIES):
                fan = f"did:plc:fan{r}"
                answer = post_view(fan, f"fan{r}.bsky.social", f"b{a}p{i}r{r}", f"reply {r} to {a}",
                                   now - timedelta(minutes=30), reply=(v["uri"], v["uri"]))  # fmt: skip
                bsky.add_reply(v["uri"], answer)
    mastos = []
    for h in range(MASTODON_HOSTS):
        m = FakeMastodon(f"m{h}.example.org", latency=LATENCY, page_size=MASTODON_PAGE).start()
        for a in range(per_host):
            account = m.add_account(str(a + 1), f"user{a}")
            fans = [m.add_account(str(10**6 + r), f"fan{r}") for r in range(REPLIES)]
            own = []
            for i in range(POSTS):
                sid = str(10**9 - a * 1000 - i)
                at = now - timedelta(hours=i + 1)
                own.append(status(sid, account, f"<p>toot {i}</p>", at, replies=REPLIES, quotes=0))
                answered = now - timedelta(minutes=30)
                m.descendants[sid] = [
                    status(f"{sid}{r:03d}", fans[r], f"<p>reply {r}</p>", answered, reply_to=sid)
                    for r in range(REPLIES)
                ]
            m.statuses[str(a + 1)] = own
        m.remaining = 10**9
        mastos.append(m)
    conn.send((bsky.url, [(m.domain, m.url) for m in mastos]))
    servers = [bsky, *mastos]
    while (command := conn.recv()) != "stop":
        if command == "reset":
            for s in servers:
                with s.lock:
                    s.seen.clear()
            conn.send(True)
        else:
            conn.send({s.host: [x.at for x in s.seen] for s in servers})
    for s in servers:
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
        f"[collect]\n{workers}\nbackfill_days = 2\nbudget_window_seconds = {WINDOW}\n",
        f'[bluesky]\nappview_url = "{bsky}"\nrequests_per_5min = {BUDGET_PER_5MIN}\n',
        f"[mastodon]\nrequests_per_5min = {BUDGET_PER_5MIN}\npage_size = {MASTODON_PAGE}\n",
        "[mastodon.instance_urls]",
        *[f'"{d}" = "{u}"' for d, u in mastos],
        "",
        "[reception]\nkeep_authors = false\n",
    ]
    for a in range(n):
        lines.append(f'[[accounts]]\nplatform = "bluesky"\nhandle = "bench{a}.example.org"\ncountry = "FR"\n'
                     'kind = "embassy"\n')  # fmt: skip
        for d, _ in mastos:
            lines.append(f'[[accounts]]\nplatform = "mastodon"\nhandle = "user{a}@{d}"\ncountry = "DE"\n'
                         'kind = "embassy"\n')  # fmt: skip
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class _Run:
    """One configuration: the posts collected first (untimed), then reception rounds."""

    def __init__(self, config: Path, now: datetime):
        from monitor.accounts import sync_accounts
        from monitor.collection.reception import Authors
        from monitor.collection.rounds import collect_round
        from monitor.compose import build_collectors
        from monitor.config import load_settings
        from monitor.db import make_engine, upgrade

        self.settings = load_settings(config, {"DIPLOMONITOR_PSEUDONYM_KEY": "bench key"})
        upgrade(self.settings.database_url)
        self.engine = make_engine(self.settings.database_url)
        with self.engine.begin() as conn:
            sync_accounts(conn, self.settings.accounts, now)
        self.collectors = build_collectors(self.settings)
        self.authors = Authors(self.settings.reception, self.settings.secrets)
        collect_round(self.engine, self.settings.collect, self.collectors, now=now)

    def round(self, now: datetime) -> tuple[float, Any]:
        from monitor.collection.reception import collect_reception

        started = time.perf_counter()
        report = collect_reception(self.engine, self.settings.reception, self.collectors, self.authors,
                                   workers=self.settings.collect.concurrency, now=now)  # fmt: skip
        return time.perf_counter() - started, report

    def answers(self) -> int:
        from sqlalchemy import func, select

        from monitor.schema import reception_posts

        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(reception_posts)).scalar_one())

    def close(self) -> None:
        for c in self.collectors.values():
            c.close()
        self.engine.dispose()


def _busiest(times: dict[str, list[float]]) -> int:
    """The most requests one host received inside any one budget window."""
    best = 0
    for ts in times.values():
        ts = sorted(ts)
        j = 0
        for i, t in enumerate(ts):
            while ts[j] <= t - WINDOW:
                j += 1
            best = max(best, i - j + 1)
    return best


def main(options: list[str]) -> None:
    """Run the benchmark; `--quick` uses 40 accounts instead of 200."""
    n_accounts = 40 if "--quick" in options else 200
    per_host = n_accounts // (MASTODON_HOSTS + 1)
    now = datetime.now(UTC).replace(microsecond=0)
    parent, child = mp.get_context("spawn").Pipe()
    server = mp.get_context("spawn").Process(target=_serve, args=(per_host, now, child), daemon=True)
    server.start()
    bsky, mastos = parent.recv()

    def ask(command: str) -> Any:
        parent.send(command)
        return parent.recv()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, sequential in (("sequential", True), ("concurrent", False)):
            run = _Run(_config(Path(tmp), name, bsky, mastos, per_host, sequential), now)
            ask("reset")
            seconds, report = run.round(now + timedelta(minutes=5))
            times = ask("times")
            ask("reset")
            _, unchanged = run.round(now + timedelta(minutes=35))
            again = ask("times")
            rows.append((name, seconds, report, run.answers(), times, again, unchanged))
            run.close()
    parent.send("stop")
    server.join(10)
    _print(rows, n_accounts, per_host)


def _print(rows: list[tuple[Any, ...]], n_accounts: int, per_host: int) -> None:
    budget = BUDGET_PER_5MIN * WINDOW / 300
    watched = n_accounts * POSTS
    recount = per_host * math.ceil(POSTS / BLUESKY_BATCH) + per_host * MASTODON_HOSTS * math.ceil(
        POSTS / MASTODON_PAGE
    )
    minimum = recount + watched
    base = rows[0][1]
    print(f"{n_accounts} accounts on {MASTODON_HOSTS + 1} hosts, {POSTS} posts each with {REPLIES} replies "
          f"({watched * REPLIES:,} answers), {LATENCY * 1000:.0f} ms per request; budget {budget:.0f} "
          f"requests per {WINDOW:.0f} s window per host; minimum {minimum:,} requests ({recount} re-counts "
          f"+ {watched:,} threads)")  # fmt: skip
    print(f"{'run':12} {'seconds':>8} {'speed-up':>9} {'answers':>8} {'requests':>9} {'vs minimum':>11} "
          f"{'busiest window':>15} {'vs budget':>9} {'unchanged round':>16}")  # fmt: skip
    for name, seconds, report, answers, times, again, unchanged in rows:
        requests = sum(len(t) for t in times.values())
        repeat = sum(len(t) for t in again.values())
        per_post = f"1 per {watched / repeat:.1f} posts" if repeat else "0 requests"
        assert unchanged.threads_read == 0, "an unchanged round read threads again"
        print(f"{name:12} {seconds:8.1f} {base / seconds:8.1f}x {answers:8,} {requests:9,} "
              f"{requests / minimum:10.2f}x {_busiest(times):15d} {_busiest(times) / budget:8.0%} "
              f"{per_post:>16}")  # fmt: skip
        if report.failed:
            print(f"  {len(report.failed)} account(s) failed, e.g. {report.failed[0]}")
