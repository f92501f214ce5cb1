"""Engines and migrations: SQLite by default, PostgreSQL in production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from monitor.errors import SchemaOutOfDate

MIGRATIONS = Path(__file__).resolve().parent.parent / "alembic"
READ_ONLY_OPTION = "diplomonitor_read_only"


def reading(engine: Engine) -> Connection:
    """A connection for reads only: on SQLite it never takes the write lock."""
    return engine.connect().execution_options(**{READ_ONLY_OPTION: True})


def make_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> Engine:
    """An engine with the settings each backend needs for a long-running service."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, echo=echo, pool_size=pool_size, pool_pre_ping=True, pool_recycle=1800)


def make_probe_engine(url: str) -> Engine:
    """A two-connection engine for health checks and metrics that gives up after a few seconds."""
    if make_url(url).get_backend_name() == "postgresql":
        return create_engine(url, pool_size=1, max_overflow=1, pool_timeout=3, pool_pre_ping=True,
                             connect_args={"connect_timeout": 3})  # fmt: skip
    return create_engine(url, connect_args={"timeout": 3})


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers (status, export) run while the service writes; foreign keys on.
    dbapi_conn.isolation_level = None  # let the "begin" hook issue BEGIN itself
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers take the write lock up front (BEGIN IMMEDIATE) so two of them wait for each other
    # instead of failing on a lock upgrade; readers (READ_ONLY) stay deferred, so a long export
    # never blocks the service's writes (WAL lets both run).
    if conn.get_execution_options().get(READ_ONLY_OPTION):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(url: str) -> Any:
    """Alembic's config for this database (Alembic loads only when a migration command runs)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database to `revision`; safe to run again on an up-to-date database."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def revisions(engine: Engine) -> tuple[str | None, str]:
    """(current revision of the database, newest revision this code knows)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current, head or ""


def require_current(engine: Engine) -> None:
    current, head = revisions(engine)
    if current != head:
        raise SchemaOutOfDate(
            f"database {engine.url.render_as_string(hide_password=True)} is at revision "
            f"{current or 'none (empty)'}, this diplomonitor needs {head}: run `diplomonitor db upgrade`"
        )
