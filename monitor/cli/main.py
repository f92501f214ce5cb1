"""`diplomonitor`: the one place that talks to humans. Each command group lives in its module."""

from __future__ import annotations

import click

from monitor.cli import accounts, alerts, collect, db, export, models, refresh, report, run, setup, status
from monitor.cli.app import App

COMMANDS = [
    setup.init, db.db, accounts.accounts, status.status, export.export, report.report, alerts.alerts,
    run.run, collect.collect, refresh.refresh, models.classify, models.models,
]  # fmt: skip


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    "-c",
    metavar="PATH",
    help="Config file (default: $DIPLOMONITOR_CONFIG, else ./diplomonitor.toml).",
)
@click.version_option(package_name="diplomonitor")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Watch how states speak on Bluesky and Mastodon.

    Collects posts of embassies, ministries and diplomats, scores their language, tone and
    soft-power topics, raises alerts, and exports monthly figures.
    """
    ctx.obj = App(config)
    ctx.call_on_close(ctx.obj.close)


for command in COMMANDS:
    cli.add_command(command)


def main() -> None:
    cli(prog_name="diplomonitor")
