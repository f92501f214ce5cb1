"""`diplomonitor run` once against both peers: it collects them, then stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading

import pytest

from tests.interop.conftest import DIPLOMONITOR, User
from tests.interop.test_collect import peer_items, stored_items

# The first test's setup may install the peers (minutes) when `make peers` has not run.
pytestmark = [pytest.mark.interop, pytest.mark.timeout(900)]
WATCHED = [(p, k) for p in ("bluesky", "mastodon") for k in ("embassy", "ministry_ar")]


def test_run_collects_from_both_peers_and_stops_on_sigterm(user: User, models_config: str) -> None:
    service = '[service]\nhealth_address = "127.0.0.1:0"\nlog_format = "json"\nlog_level = "INFO"\n'
    user.configure(WATCHED, extra=models_config + service)
    user.cli("db", "upgrade")
    user.cli("accounts", "sync")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIPLOMONITOR_")}
    proc = subprocess.Popen(
        [str(DIPLOMONITOR), "-c", str(user.config), "run"], cwd=user.home, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    records: queue.Queue[dict[str, object]] = queue.Queue()

    def read() -> None:
        assert proc.stderr
        for line in proc.stderr:
            records.put(json.loads(line) if line.startswith("{") else {"message": line})

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    waiting = {"job collect-bluesky ok", "job collect-mastodon ok"}
    seen: list[dict[str, object]] = []
    try:
        while waiting:
            record = records.get(timeout=120)
            seen.append(record)
            waiting = {w for w in waiting if not str(record.get("message", "")).startswith(w)}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(30)
        reader.join(10)
        assert proc.stderr
        proc.stderr.close()
    assert code == 0, seen[-5:]
    for platform, key in WATCHED:
        assert stored_items(user, platform, key) == peer_items(user.world, platform, key), (platform, key)
