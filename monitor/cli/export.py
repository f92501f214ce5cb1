"""`diplomonitor export posts|summary`: CSV files for analysts."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from monitor.cli.app import App, pass_app
from monitor.reporting import GROUPINGS

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from monitor.reporting.selection import Period, Selection

F = TypeVar("F", bound=Callable[..., Any])


def period_options(fn: F) -> F:
    """--month, or --from/--to: the period in UTC (default: the last complete month)."""
    fn = click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]),
                      help="Last day included (UTC), with --from; default: today.")(fn)  # fmt: skip
    fn = click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]),
                      help="First day included (UTC), instead of --month.")(fn)  # fmt: skip
    return click.option("--month", metavar="YYYY-MM",
                        help="Calendar month in UTC (default: the last complete month).")(fn)  # fmt: skip


def resolve_period(month: str | None, first: datetime | None, last: datetime | None, now: datetime) -> Period:
    """The period the options name; click.UsageError when they contradict each other."""
    from monitor.reporting.selection import Period

    if month and (first or last):
        raise click.UsageError("give either --month or --from/--to, not both")
    if last and not first:
        raise click.UsageError("--to needs --from")
    if first and last and last < first:
        raise click.UsageError(f"--to {last.date()} is before --from {first.date()}")
    try:
        if first:
            return Period.days(first.date(), last.date() if last else now.date())
        if month:
            return Period.month(month)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    return Period.month((now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m"))


def selection_options(fn: F) -> F:
    """The period and the repeatable filters, handed to the command as one `sel` (a Selection)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, month: str | None, first: datetime | None, last: datetime | None,
                countries: tuple[str, ...], groups: tuple[str, ...], platforms: tuple[str, ...],
                topics: tuple[str, ...], **kwargs: Any) -> Any:  # fmt: skip
        from monitor.reporting.selection import Selection

        now = click.get_current_context().find_object(App).now()  # type: ignore[union-attr]
        sel = Selection(resolve_period(month, first, last, now), countries, groups, platforms, topics)
        return fn(*args, sel=sel, **kwargs)

    for name, dest, help_text in reversed([
        ("country", "countries", "Sending country (ISO code, e.g. FR); repeat for several."),
        ("group", "groups", "Account group from the config; repeat for several."),
        ("platform", "platforms", "bluesky or mastodon; repeat for both."),
        ("topic", "topics", "Only posts with this topic; repeat for several."),
    ]):  # fmt: skip
        option = click.option(f"--{name}", dest, multiple=True, metavar=name.upper(), help=help_text)
        wrapper = option(wrapper)
    return period_options(wrapper)  # type: ignore[return-value]


def output_option(default: str | None) -> Callable[[F], F]:
    """-o/--output PATH, '-' for stdout."""
    return click.option("-o", "--output", default=default, show_default=default is not None,
                        metavar="PATH", help="File to write; '-' writes to stdout.")  # fmt: skip


@contextlib.contextmanager
def open_output(path: str) -> Iterator[IO[str]]:
    """Text output in UTF-8 with CSV newlines; a file appears only once complete."""
    if path == "-":
        sys.stdout.flush()
        stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
        try:
            yield stream
        finally:
            stream.flush()
            stream.detach()
        return
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as f:
            yield f
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def read_connection(app: App) -> Iterator[Connection]:
    """A read-only connection (never blocks the service's writes on SQLite)."""
    from monitor.db import reading

    with reading(app.ready_engine()) as conn:
        yield conn


def excel_option(fn: F) -> F:
    return click.option("--excel", is_flag=True, help="Start with a UTF-8 BOM so Excel reads accents right.")(
        fn
    )


@click.group()
def export() -> None:
    """Write posts or monthly figures as CSV (UTF-8, times in UTC)."""


@export.command("posts")
@selection_options
@excel_option
@output_option("-")
@pass_app
def posts_command(app: App, sel: Selection, excel: bool, output: str) -> None:
    """One row per post: account, time, language, text, engagement, sentiment, topics."""
    from monitor.reporting.posts_csv import export_posts

    with read_connection(app) as conn, open_output(output) as out:
        count = export_posts(conn, sel, out, excel=excel)
    click.echo(f"{count} posts ({sel.period.label}) written to {_where(output)}", err=True)


@export.command("summary")
@selection_options
@click.option("--by", type=click.Choice(GROUPINGS), default="account", show_default=True,
              help="One row per account, country, topic or platform.")  # fmt: skip
@excel_option
@output_option("-")
@pass_app
def summary_command(app: App, sel: Selection, by: str, excel: bool, output: str) -> None:
    """Posts, engagement, followers, overperformance, tone, topics and languages per group."""
    from monitor.reporting.summary import export_summary

    with read_connection(app) as conn, open_output(output) as out:
        count = export_summary(conn, sel, by, out, excel=excel)
    click.echo(f"{count} {by} rows ({sel.period.label}) written to {_where(output)}", err=True)


def _where(output: str) -> str:
    return "stdout" if output == "-" else output
