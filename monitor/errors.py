"""The errors diplomonitor's own code raises for people to read; the CLI prints them as they are.

    MonitorError
     +-- ConfigError        a config or accounts file that cannot be used (file, line, field)
     +-- SchemaOutOfDate    the database is older than the code: `diplomonitor db upgrade`
     +-- AlreadyRunning     a second service on one SQLite file
     +-- UnknownJob         a job name this configuration does not run

Anything else that escapes is a bug, and the CLI lets it show its traceback. Messages name
files, fields and commands, never a CLI flag: the library does not know how it was called.
"""

from __future__ import annotations

from pathlib import Path


class MonitorError(Exception):
    """Base of the errors whose message is meant for the person running diplomonitor."""


class ConfigError(MonitorError):
    """A configuration file that cannot be used; the message names file, line and field."""

    def __init__(self, path: Path, message: str, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field, self.problem = path, line, field, message
        where = str(path) + (f", line {line}" if line else "")
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")


class SchemaOutOfDate(MonitorError):
    """The database is older than the code; `diplomonitor db upgrade` fixes it."""


class AlreadyRunning(MonitorError):
    """Another service already uses this SQLite database."""


class UnknownJob(MonitorError):
    """A job name that this configuration does not schedule."""


def describe(exc: BaseException) -> str:
    """`ErrorClass: message`, the one line stored and logged for a failed account or delivery."""
    return f"{exc.__class__.__name__}: {exc}"
