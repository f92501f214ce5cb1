"""`diplomonitor accounts ...`: keep the database in step with the configured accounts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.cli.app import App, emit, output_options, pass_app
from monitor.errors import ConfigError

if TYPE_CHECKING:
    from monitor.accounts import SyncReport


@click.group()
def accounts() -> None:
    """List, sync and import the watched accounts."""


@accounts.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include deactivated accounts.")
@output_options
@pass_app
def list_accounts(app: App, show_all: bool, fmt: str) -> None:
    """Show the accounts in the database, with their platform ids and status."""
    from sqlalchemy import select

    from monitor.db import reading
    from monitor.schema import accounts as accounts_table

    t = accounts_table
    query = select(t).order_by(t.c.country, t.c.platform, t.c.handle)
    if not show_all:
        query = query.where(t.c.active.is_(True))
    with reading(app.ready_engine()) as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    emit(
        rows,
        [
            "platform",
            "handle",
            "country",
            "kind",
            "host_country",
            "display_name",
            "groups",
            "platform_id",
            "status",
            "active",
        ],
        fmt,
    )


@accounts.command("sync")
@click.option("--no-resolve", is_flag=True, help="Do not look the handles up on Bluesky and Mastodon.")
@pass_app
def sync(app: App, no_resolve: bool) -> None:
    """Add and update configured accounts; deactivate removed ones (their history stays).

    Then resolve each handle (Bluesky DID, Mastodon account id on its home instance) and
    report handles that do not resolve, without failing.
    """
    from monitor.accounts import sync_accounts

    with app.ready_engine().begin() as conn:
        report = sync_accounts(conn, app.settings.accounts, app.now())
    _print_report(report)
    if not no_resolve:
        _resolve(app)


def _resolve(app: App) -> None:
    from monitor.collection.rounds import resolve_accounts
    from monitor.compose import build_collectors

    collectors = build_collectors(app.settings)
    try:
        report = resolve_accounts(app.engine, app.settings.collect, collectors, now=app.now())
    finally:
        for c in collectors.values():
            c.close()
    for label, handle in report.changed:
        click.echo(f"{'renamed':12} {label} is now {handle}")
    for label, why in (*report.unavailable, *report.failed):
        click.echo(f"{'unresolved':12} {label}: {why}")
    click.echo(f"{len(report.resolved)} resolved, {len(report.unavailable) + len(report.failed)} unresolved")


@accounts.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_app
def import_csv(app: App, file: Path) -> None:
    """Add accounts from a CSV file to the config file, then sync.

    Columns: platform, handle, country, kind, and optionally host_country, name and groups
    (separated by ';'). Accounts already configured are skipped.
    """
    from monitor.accounts import import_accounts, read_accounts_csv, sync_accounts

    try:
        added = import_accounts(app.settings, read_accounts_csv(file), app.environ)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added {len(added)} account(s) to {app.settings.path}")
    del app.settings  # reload the file we just extended
    with app.ready_engine().begin() as conn:
        _print_report(sync_accounts(conn, app.settings.accounts, app.now()))


def _print_report(report: SyncReport) -> None:
    for label, items in (
        ("added", report.added),
        ("updated", report.updated),
        ("reactivated", report.reactivated),
        ("deactivated", report.deactivated),
    ):
        for item in items:
            click.echo(f"{label:12} {item}")
    click.echo(
        f"{len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.reactivated)} reactivated, {len(report.deactivated)} deactivated"
    )
