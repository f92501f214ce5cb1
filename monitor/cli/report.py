"""`diplomonitor report`: the monthly report as one self-contained HTML file."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

import click

from monitor.cli.app import App, pass_app
from monitor.cli.export import open_output, period_options, read_connection, resolve_period

if TYPE_CHECKING:
    from monitor.reporting.selection import Selection


@click.command()
@period_options
@click.option(
    "--country",
    "countries",
    multiple=True,
    metavar="COUNTRY",
    help="Only these sending countries (ISO code, e.g. FR); the report then shows each account.",
)
@click.option("--group", "groups", multiple=True, metavar="GROUP", help="Only accounts in this config group.")
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    help="HTML file to write ('-' for stdout; default: report-<period>[-<countries>].html).",
)
@pass_app
def report(
    app: App,
    month: str | None,
    first: datetime | None,
    last: datetime | None,
    countries: tuple[str, ...],
    groups: tuple[str, ...],
    output: str | None,
) -> None:
    """Charts and a written summary of a month, in one HTML file that opens offline."""
    from monitor.reporting.gather import gather_report
    from monitor.reporting.html import render_report
    from monitor.reporting.selection import Selection

    now = app.now()
    sel = Selection(resolve_period(month, first, last, now), countries=countries, groups=groups)
    target = output or default_name(sel)
    with read_connection(app) as conn:
        data = gather_report(conn, sel, now=now)
    with open_output(target) as out:
        out.write(render_report(data))
    click.echo(
        f"report for {sel.period.label} ({data.totals.posts} posts) written to "
        f"{'stdout' if target == '-' else target}",
        err=True,
    )


def default_name(sel: Selection) -> str:
    """`report-2026-10.html`, `report-2026-10-FR.html`, `report-2026-10-03_2026-10-09.html`."""
    start, end = sel.period.start, sel.period.end
    span = start.strftime("%Y-%m") if sel.period.label[0].isalpha() else f"{start:%Y-%m-%d}_{end:%Y-%m-%d}"
    suffix = "".join(f"-{c}" for c in sel.countries) + "".join(f"-{g}" for g in sel.groups)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"report-{span}{suffix}.html")
