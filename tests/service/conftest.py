"""Service fixtures: settings for a test database, tiny models, a local AppView, a webhook receiver."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from monitor.config import Settings, load_settings
from monitor.db import make_engine
from monitor.schema import metadata
from tests.collectors.servers import FakeBluesky
from tests.service.world import Receiver


@pytest.fixture
def service_settings(db_url: str, write_config: Callable[..., Path]) -> Callable[[str], Settings]:
    """Settings on the test database, with extra TOML appended (health on any free port)."""

    def make(extra: str = "", service: str = "") -> Settings:
        body = (
            f'[database]\nurl = "{db_url}"\n\n[service]\nhealth_address = "127.0.0.1:0"\n{service}\n{extra}'
        )
        return load_settings(write_config(body), {})

    return make


def http_get(url: str, timeout: float = 10) -> tuple[int, str]:
    """(status, body) of a GET on loopback; error statuses are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Tiny sentiment and embedding models of the production architectures, built once."""
    from tests.tiny_models import build_tiny_models

    return build_tiny_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture
def bluesky() -> Iterator[FakeBluesky]:
    """A local AppView; the crash tests slow it down with `latency`."""
    server = FakeBluesky(page_size=10).start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "service.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The session's PostgreSQL database, emptied."""
    engine = create_engine(pg_database)
    with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return pg_database


@pytest.fixture
def open_engine() -> Iterator[Callable[..., Engine]]:
    """make_engine(url), disposed after the test whatever its outcome."""
    engines: list[Engine] = []

    def make(url: str, **connect_args: Any) -> Engine:
        engine = create_engine(url, connect_args=connect_args) if connect_args else make_engine(url)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()
