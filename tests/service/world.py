"""What a service test runs against: a local Bluesky AppView with accounts and posts, a webhook
receiver standing in for the alert channel, and the config file that points at both."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.collectors.conftest import FAST
from tests.collectors.payloads import post_view
from tests.collectors.servers import FakeBluesky

HOOK_ENV = "DM_SERVICE_TEST_HOOK"
KEY_ENV = "DIPLOMONITOR_PSEUDONYM_KEY"  # reception stores repliers under a keyed hash
KEY = {KEY_ENV: "service test pseudonym key"}
TEXTS = ("We are proud to open the cultural week", "Scholarships for students abroad",
         "Trade talks continue in Geneva", "A sad day: we condemn the attack")  # fmt: skip


class Receiver:
    """A webhook endpoint on loopback that records every JSON body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.bodies.append(json.loads(data or b"{}"))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def received(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.bodies)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def add_accounts(server: FakeBluesky, accounts: int, posts: int, now: datetime | None = None) -> list[str]:
    """`accounts` accounts of `posts` posts each, one every 10 minutes back from now; their handles."""
    now = now or datetime.now(UTC)
    handles = []
    for a in range(accounts):
        did, handle = f"did:plc:acct{a:04d}", f"acct{a:04d}.bsky.social"
        server.add_account(did, handle)
        handles.append(handle)
        add_posts(server, did, handle, posts, now - timedelta(minutes=10), first=0)
    return handles


def add_posts(
    server: FakeBluesky, did: str, handle: str, count: int, newest: datetime, first: int,
    step: timedelta = timedelta(minutes=10),
) -> None:  # fmt: skip
    """Put `count` posts (numbered from `first`, the last created at `newest`) on top of a feed."""
    fresh = []
    for i in range(first, first + count):
        created = newest - step * (first + count - 1 - i)
        view = post_view(did, handle, f"p{i:05d}", f"{TEXTS[i % len(TEXTS)]} ({handle} #{i})", created,
                         likes=i % 7, reposts=i % 3)  # fmt: skip
        fresh.append({"post": view})
    with server.lock:
        server.feeds[did] = list(reversed(fresh)) + server.feeds[did]


def server_uris(server: FakeBluesky) -> set[str]:
    """Every post URI the server holds."""
    return set(server.views())


def write_config(
    path: Path,
    database_url: str,
    server: FakeBluesky,
    handles: list[str],
    models: Mapping[str, str],
    *,
    schedule: Mapping[str, float] | None = None,
    posts_per_batch: int = 8,
    rule: bool = True,
) -> Path:
    """A config for the service under test: short periods, JSON logs, health on any free port."""
    periods = {"collect_minutes": 0.02, "engagement_minutes": 0.05, "profiles_minutes": 0.05,
               "resolve_minutes": 0.1, "score_minutes": 0.01, "alerts_minutes": 0.01,
               "deliver_seconds": 0.5, **(schedule or {})}  # fmt: skip
    fast = "\n".join(f"{k} = {v}" for k, v in FAST.items())
    lines = [
        f'[database]\nurl = "{database_url}"\n',
        # A failed account waits `failure_backoff_minutes` (doubling): short here, as the periods.
        f"[collect]\n{fast}\nbackfill_days = 30\nfailure_backoff_minutes = 0.01\n",
        f'[bluesky]\nappview_url = "{server.url}"\nlogin_url = "{server.url}"\nrequests_per_5min = 1000000\n',
        "[schedule]\n" + "\n".join(f"{k} = {v}" for k, v in periods.items()) + "\n",
        '[service]\nhealth_address = "127.0.0.1:0"\nlog_format = "json"\nlog_level = "INFO"\n',
        "[models]\n" + "\n".join(f'{k} = "{v}"' for k, v in models.items())
        + f'\nruntime = "torch"\nquantize = false\nposts_per_batch = {posts_per_batch}\nbatch_size = 8\n',
    ]  # fmt: skip
    lines += [f'[[accounts]]\nplatform = "bluesky"\nhandle = "{h}"\ncountry = "FR"\nkind = "embassy"\n'
              for h in handles]  # fmt: skip
    if rule:
        lines.append(f'[alerts.channels.hook]\nkind = "webhook"\nurl_env = "{HOOK_ENV}"\n')
        lines.append('[[alerts.rules]]\nname = "busy-day"\nmetric = "post_count"\nthreshold = 1\n'
                     'window_hours = 48\ncooldown_hours = 48\nchannels = ["hook"]\n')  # fmt: skip
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
