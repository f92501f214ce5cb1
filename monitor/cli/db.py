"""`diplomonitor db ...`: schema migrations."""

from __future__ import annotations

import click

from monitor.cli.app import App, pass_app


@click.group()
def db() -> None:
    """Create and upgrade the database schema."""


@db.command("upgrade")
@pass_app
def db_upgrade(app: App) -> None:
    """Create the tables, or bring an existing database up to date (safe to repeat)."""
    from monitor.db import revisions, upgrade

    upgrade(app.settings.database_url)
    current, _ = revisions(app.engine)
    click.echo(f"{app.settings.masked_database_url()} is at revision {current}")


@db.command("current")
@pass_app
def db_current(app: App) -> None:
    """Show the database's revision; exit 1 if it needs `db upgrade`."""
    from monitor.db import revisions

    current, head = revisions(app.engine)
    click.echo(f"database: {current or 'empty'}  code: {head}")
    if current != head:
        raise click.ClickException("the database needs `diplomonitor db upgrade`")
