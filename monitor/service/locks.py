"""Who may run a scheduled job: one process at a time, across processes and machines.

PostgreSQL: each exclusive job holds a session advisory lock (`pg_try_advisory_lock`) on a
connection of its own while it runs; a process that dies loses its connection and with it
the lock, so nothing is ever left locked. SQLite allows one service per database file: the
whole process holds an exclusive lock on `<database>.run.lock`, and a second `diplomonitor
run` on the same file refuses to start.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from monitor.errors import AlreadyRunning

log = logging.getLogger(__name__)


class JobLocks(Protocol):
    """Grants a job to one process at a time."""

    def hold(self, name: str) -> contextlib.AbstractContextManager[bool]:
        """While the context is open, True if this process holds `name`, False if another does."""
        ...

    def close(self) -> None:
        """Release everything held."""
        ...


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (Python's hash() changes per process)."""
    digest = hashlib.blake2b(f"diplomonitor:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLocks:
    """PostgreSQL session advisory locks, one connection per held lock."""

    def __init__(self, url: str, connect_timeout: int = 10):
        # Own connections, outside the jobs' pool, in autocommit: holding a lock is never
        # an open transaction, and a job's pool can never be starved by its own locks.
        self.engine = create_engine(
            url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": connect_timeout},
        )

    @contextlib.contextmanager
    def hold(self, name: str) -> Iterator[bool]:
        key = lock_key(name)
        with self.engine.connect() as conn:
            held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            try:
                yield held
            finally:
                if held:
                    self._unlock(conn, name, key)

    @staticmethod
    def _unlock(conn: object, name: str, key: int) -> None:
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})  # type: ignore[attr-defined]
        except DBAPIError as exc:  # the connection died: the server released the lock with it
            log.warning("lock %s: connection lost before unlocking (%s)", name, exc.__class__.__name__)

    def close(self) -> None:
        self.engine.dispose()


class ProcessLock:
    """SQLite: this process owns the database file's service lock; every job is granted."""

    def __init__(self, database: Path):
        self.path = database.with_name(database.name + ".run.lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(self._fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(self._fd)
            self._fd = None
            raise AlreadyRunning(
                f"another `diplomonitor run` (pid {other}) already uses {database}: SQLite allows one "
                "service per database file; stop it first, or use PostgreSQL to run several processes"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, str(os.getpid()).encode(), 0)

    @contextlib.contextmanager
    def hold(self, name: str) -> Iterator[bool]:
        yield True

    def close(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class NoLocks:
    """An in-memory SQLite database: only this process can see it."""

    @contextlib.contextmanager
    def hold(self, name: str) -> Iterator[bool]:
        yield True

    def close(self) -> None:
        pass


def make_locks(url: str) -> JobLocks:
    """The locks for this database; AlreadyRunning if a SQLite file is taken."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return AdvisoryLocks(url)
    if parsed.database and parsed.database != ":memory:":
        return ProcessLock(Path(parsed.database))
    return NoLocks()
