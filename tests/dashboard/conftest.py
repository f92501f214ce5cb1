"""A world for the dashboard: the export tests' hand-built October, alerts with deliveries, a
hostile post, and the dashboard served on loopback by a real server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from monitor.compose import build_dashboard
from monitor.config import Settings, load_settings
from monitor.schema import alert_events, alert_states, deliveries, posts
from monitor.service.web import WebServer
from tests.export.conftest import build_dataset

NOW = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
HOSTILE = (
    '<script>document.body.setAttribute("data-pwned", "1")</script>'
    "<img src=x onerror=\"document.body.setAttribute('data-pwned', '1')\"> Embassy news"
)
RULES = """
[[alerts.rules]]
name = "negative-storm"
metric = "negative_share"
threshold = 0.4

[[alerts.rules]]
name = "embassy-silent"
metric = "silence"
threshold = 24
per_member = true
"""


def seed_alerts(engine: Engine) -> None:
    """One alert firing (with a sent and a failed delivery), one resolved and muted."""
    with engine.begin() as conn:
        conn.execute(alert_events.insert(), [
            {"id": 1, "rule": "negative-storm", "scope": "all", "window_start": NOW - timedelta(hours=24),
             "window_end": NOW, "severity": "warning", "metric": "negative_share", "value": 0.5,
             "observed": 0.5, "threshold": 0.4, "title": "Negative share 50% <b>loud</b>",
             "opened_at": NOW - timedelta(hours=2), "resolved_at": None, "muted": False},
            {"id": 2, "rule": "embassy-silent", "scope": "bluesky:franceinusa.bsky.social",
             "window_start": NOW - timedelta(days=3), "window_end": NOW - timedelta(days=2),
             "severity": "info", "metric": "silence", "value": 30, "observed": 30, "threshold": 24,
             "title": "franceinusa.bsky.social silent for 30 h", "opened_at": NOW - timedelta(days=2),
             "resolved_at": NOW - timedelta(days=1), "muted": True},
        ])  # fmt: skip
        conn.execute(alert_states.insert(), [
            {"rule": "negative-storm", "scope": "all", "firing": True, "event_id": 1, "changed_at": NOW},
            {"rule": "embassy-silent", "scope": "bluesky:franceinusa.bsky.social", "firing": False,
             "event_id": None, "changed_at": NOW},
        ])  # fmt: skip
        conn.execute(deliveries.insert(), [
            {"event_id": 1, "channel": "comms-slack", "kind": "fire", "dedup_key": "fire:1",
             "status": "sent", "attempts": 1, "sent_at": NOW - timedelta(hours=2), "last_error": None},
            {"event_id": 1, "channel": "press-email", "kind": "fire", "dedup_key": "fire:1",
             "status": "failed", "attempts": 3, "sent_at": None,
             "last_error": "SMTP 550 mailbox unavailable"},
        ])  # fmt: skip
        conn.execute(posts.update().where(posts.c.id == 7).values(text=HOSTILE))


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_dataset(engine)
    seed_alerts(engine)
    return engine


@pytest.fixture
def dashboard_settings(db_url: str, write_config: Callable[..., Path]) -> Callable[..., Settings]:
    def make(environ: dict[str, str] | None = None, dashboard: str = "") -> Settings:
        body = f'[database]\nurl = "{db_url}"\n\n[dashboard]\ncache_seconds = 0\n{dashboard}\n{RULES}'
        return load_settings(write_config(body), environ or {})

    return make


@pytest.fixture
def serve(world: Engine) -> Iterator[Callable[..., str]]:
    """Start the dashboard for some settings on a loopback port; its base URL."""
    servers: list[WebServer] = []

    def start(settings: Settings, address: str = "127.0.0.1:0", **kw: Any) -> str:
        app = build_dashboard(settings, world, address, clock=lambda: NOW, **kw)
        server = WebServer("127.0.0.1:0", app)
        server.start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.close()
