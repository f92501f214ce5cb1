"""The interop suite's fixtures: both peers once per session, and a user with a config per test.

`world` installs (cached), starts and seeds the Bluesky reference stack and mastodon-mock once
per test session, on loopback, and stops them at the end: only the process groups it started,
then checks that nothing listens on their ports any more. Where Node, npm, the registries or
PostgreSQL cannot be had, every interop test is skipped with the reason.

`user` is someone running diplomonitor against the peers: a config file in a folder of their
own, a database (a new SQLite file, or a new PostgreSQL database dropped afterwards), and the
`diplomonitor` command run as a subprocess.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.interop import peers
from tests.interop.world import MASTODON_DOMAIN, PAGE_SIZE, PEOPLE, World, mastodon_config, seed

PG_URL = os.environ.get("DIPLOMONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DIPLOMONITOR = Path(sys.executable).parent / "diplomonitor"
CLI_TIMEOUT = 300


@contextlib.contextmanager
def _database(prefix: str) -> Iterator[str]:
    """A new PostgreSQL database on the test server (its SQLAlchemy URL), dropped afterwards."""
    admin_url = make_url(PG_URL)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {admin_url.render_as_string()}: {exc.__class__.__name__}")
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Both peers, started once, seeded through their APIs; stopped (and checked) at the end."""
    run_dir = tmp_path_factory.mktemp("peers")
    root = peers.cache_root()
    with contextlib.ExitStack() as stack:
        appview_db = stack.enter_context(_database("dm_appview"))
        libpq = make_url(appview_db).set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            bluesky = peers.start_bluesky(root, run_dir, libpq)
            stack.callback(bluesky.process.stop)
            mastodon = peers.start_mastodon(root, run_dir, mastodon_config(), MASTODON_DOMAIN)
            stack.callback(mastodon.process.stop)
        except peers.Unavailable as exc:
            pytest.skip(f"interop peers unavailable: {exc}")
        yield seed(bluesky, mastodon, run_dir / "seed.json")


@dataclass
class User:
    """A diplomonitor user: a folder, a config file, a database, and the CLI."""

    home: Path
    db_url: str
    world: World
    config: Path = field(init=False)

    def __post_init__(self) -> None:
        self.config = self.home / "diplomonitor.toml"

    def configure(
        self,
        accounts: Sequence[tuple[str, str]] | None = None,
        *,
        collect: Mapping[str, Any] | None = None,
        bluesky: Mapping[str, Any] | None = None,
        extra: str = "",
    ) -> None:
        """Write the config: (platform, person key or handle) accounts; every person by default."""
        chosen = (
            accounts if accounts is not None else [(p, k) for p in ("bluesky", "mastodon") for k in PEOPLE]
        )
        values = {"backfill_days": 30, "timeout_seconds": 5.0, "max_retries": 1, "retry_base_seconds": 0.05,
                  "retry_max_seconds": 0.2, "host_cooldown_seconds": 0.1, **(collect or {})}  # fmt: skip
        # The AppView is named with its /xrpc path here: the README says both forms work.
        sky = {"appview_url": f"{self.world.bluesky.appview}/xrpc", "login_url": self.world.bluesky.pds,
               "page_size": PAGE_SIZE, "requests_per_5min": 100000, **(bluesky or {})}  # fmt: skip
        lines = [
            f"[database]\nurl = {_toml(self.db_url)}\n",
            "[collect]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in values.items()),
            "[bluesky]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in sky.items()),
            f"[mastodon]\npage_size = {PAGE_SIZE}\nrequests_per_5min = 100000\n",
            f'[mastodon.instance_urls]\n"{MASTODON_DOMAIN}" = "{self.world.mastodon.url}"\n',
            extra,
        ]
        lines += [_account(platform, who) for platform, who in chosen]
        self.config.write_text("\n".join(lines), encoding="utf-8")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`diplomonitor -c CONFIG ARGS...` as a user runs it; stdout and stderr kept apart."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIPLOMONITOR_")}
        done = subprocess.run(
            [str(DIPLOMONITOR), "-c", str(self.config), *args], cwd=self.home, env=env, capture_output=True,
            text=True, timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"diplomonitor {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        return done

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """What the database holds, read with plain SQL."""
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(text(sql), params)]
        finally:
            engine.dispose()

    def refresh_engagement(self) -> Refreshed:
        """`refresh engagement`: re-count recent posts, mark deleted ones (the service's job)."""
        return Refreshed.parse(self.cli("refresh", "engagement").stdout)

    def refresh_profiles(self) -> Refreshed:
        """`refresh profiles`: snapshot follower numbers, flag gone accounts (the service's job)."""
        return Refreshed.parse(self.cli("refresh", "profiles").stdout)

    def accounts(self) -> list[dict[str, Any]]:
        """`accounts list --all --format json`: JSON lines, one object per account (README)."""
        out = self.cli("accounts", "list", "--all", "--format", "json").stdout
        rows = [json.loads(line) for line in out.splitlines()]
        assert all(isinstance(row, dict) for row in rows), out
        return rows

    def export_posts(self, *args: str) -> list[dict[str, str]]:
        """`export posts` for today (UTC), parsed."""
        from datetime import UTC, datetime

        today = datetime.now(UTC).strftime("%Y-%m-%d")
        out = self.cli("export", "posts", "--from", today, "--to", today, *args).stdout
        return list(csv.DictReader(io.StringIO(out)))


@dataclass(frozen=True)
class Refreshed:
    """What `diplomonitor refresh engagement|profiles` printed: failed lines, then the totals."""

    accounts: int
    checked: int
    snapshots: int
    deleted: int
    failed: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, out: str) -> Refreshed:
        lines = out.splitlines()
        matches = [_FAILED.fullmatch(line) for line in lines[:-1]]
        assert all(matches), out
        failed = tuple((m.group(1), m.group(2)) for m in matches if m)
        numbers = [int(n) for n in re.findall(r"(\d+) ", lines[-1])]
        accounts, checked, snapshots = numbers[:3]
        deleted = numbers[3] if "gone upstream" in lines[-1] else 0
        assert numbers[-1] == len(failed), out
        return cls(accounts, checked, snapshots, deleted, failed)


_FAILED = re.compile(r"failed +(\S+:\S+): (.*)")


def _account(platform: str, who: str) -> str:
    """An [[accounts]] table: a person of the world by key, or a bare handle (a German ministry)."""
    person = PEOPLE.get(who)
    handle = person.handle(platform) if person else who
    table = f'[[accounts]]\nplatform = "{platform}"\nhandle = "{handle}"\n'
    table += (
        f'country = "{person.country}"\nkind = "{person.kind}"\n'
        if person
        else 'country = "DE"\nkind = "ministry"\n'
    )
    if person and person.host_country:
        table += f'host_country = "{person.host_country}"\n'
    return table


def _toml(value: Any) -> str:
    return (
        json.dumps(value)
        if isinstance(value, str)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )


@pytest.fixture(scope="session")
def models_config(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A [models] table naming tiny models of the production architectures, built here."""
    from tests.tiny_models import build_tiny_models

    built = build_tiny_models(tmp_path_factory.mktemp("tiny-models"))
    named = "".join(f"{k} = {_toml(v)}\n" for k, v in built.items())
    return f'[models]\n{named}runtime = "torch"\nquantize = false\n'


def fresh_name(prefix: str) -> str:
    """An account name no other test uses (Bluesky handle label and Mastodon username alike)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def new_bluesky_account(world: World, name: str) -> str:
    """A new account on the PDS (handle NAME.test); returns its DID."""
    (made,) = world.bluesky.ops({"op": "account", "handle": f"{name}.test", "displayName": name})
    return str(made["did"])


def new_mastodon_account(world: World, name: str) -> tuple[str, Any]:
    """A new account signed up through the API as a client app does; (account id, its Mastodon.py)."""
    from mastodon import Mastodon

    url = world.mastodon.url
    client_id, secret = Mastodon.create_app(
        "diplomonitor-interop", api_base_url=url, scopes=["read", "write"]
    )
    app = Mastodon(client_id=client_id, client_secret=secret, api_base_url=url, version_check_mode="none")
    token = app.create_account(name, "interop-password", f"{name}@example.invalid", agreement=True)
    api = Mastodon(access_token=token, api_base_url=url, version_check_mode="none", request_timeout=30)
    return str(api.account_verify_credentials()["id"]), api


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def user(request: pytest.FixtureRequest, tmp_path: Path, world: World) -> Iterator[User]:
    """A user on a fresh database: a SQLite file, or a PostgreSQL database of their own."""
    if request.param == "sqlite":
        yield User(tmp_path, f"sqlite:///{tmp_path / 'diplomonitor.db'}", world)
        return
    with _database("dm_interop") as url:
        yield User(tmp_path, url, world)
