"""What every command shares: the loaded settings, the engine, the clock, output helpers.

Command modules import only click and this module at start; SQLAlchemy, Alembic, httpx and the
models load inside the command that needs them, so `--help` answers at once.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import click

from monitor.config import Settings, config_path, load_settings
from monitor.errors import MonitorError

if TYPE_CHECKING:
    from sqlalchemy import Engine

F = TypeVar("F", bound=Callable[..., Any])


class App:
    """Lazily loads what a command needs, so `--help` touches neither the file nor the database."""

    def __init__(self, config: str | None, environ: Mapping[str, str] | None = None):
        self.environ = dict(os.environ if environ is None else environ)
        self.config_path = config_path(config, self.environ)

    @cached_property
    def settings(self) -> Settings:
        try:
            return load_settings(self.config_path, self.environ)
        except MonitorError as exc:
            raise click.ClickException(str(exc)) from None

    @cached_property
    def engine(self) -> Engine:
        from monitor.db import make_engine

        s = self.settings
        return make_engine(s.database_url, pool_size=s.database.pool_size, echo=s.database.echo)

    def ready_engine(self) -> Engine:
        """The engine, after checking the schema is current (commands that read or write data)."""
        from monitor.db import require_current

        try:
            require_current(self.engine)
        except MonitorError as exc:
            raise click.ClickException(str(exc)) from None
        return self.engine

    def close(self) -> None:
        """Release the database connections, if any were opened."""
        if "engine" in self.__dict__:
            self.engine.dispose()

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


pass_app = click.make_pass_decorator(App)


def output_options(fn: F) -> F:
    """--format table|csv|json for commands that print rows."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "csv", "json"]),
        default="table",
        show_default=True,
        help="Output format.",
    )(fn)


def emit(rows: Sequence[Mapping[str, Any]], headers: Sequence[str], fmt: str = "table") -> None:
    """Print rows as an aligned table, CSV or JSON lines."""
    if fmt == "json":
        for row in rows:
            click.echo(json.dumps({h: _plain(row.get(h)) for h in headers}, ensure_ascii=False))
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(headers)
        writer.writerows([["" if row.get(h) is None else _text(row.get(h)) for h in headers] for row in rows])
        return
    cells = [[_text(row.get(h)) for h in headers] for row in rows]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for c in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


class _Silent:
    """Stands in for a progress bar when stderr is not a terminal (logs, pipes, cron)."""

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n_steps: int, current_item: object = None) -> None:
        return None


def progress(items: Iterable[Any], length: int | None, label: str) -> Any:
    """A progress bar on stderr when it is a terminal; silent otherwise."""
    if not sys.stderr.isatty():
        return _Silent()
    return click.progressbar(items, length=length, label=label, file=sys.stderr)
