"""`diplomonitor refresh engagement|profiles`: what the service re-reads on its schedule, now."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from monitor.cli.app import App, pass_app

if TYPE_CHECKING:
    from monitor.collection.rounds import RefreshReport


@click.group()
def refresh() -> None:
    """Re-count engagement or follower numbers now, as the engagement and profiles jobs do."""


def _run(app: App, job: Callable[..., RefreshReport]) -> RefreshReport:
    from monitor.compose import build_collectors

    engine = app.ready_engine()
    collectors = build_collectors(app.settings)
    try:
        report: RefreshReport = job(engine, app.settings.collect, collectors, now=app.now())
    finally:
        for c in collectors.values():
            c.close()
    for label, why in report.failed:
        click.echo(f"{'failed':12} {label}: {why}")
    return report


@refresh.command("engagement")
@pass_app
def engagement(app: App) -> None:
    """Re-count likes, reposts, replies and quotes of posts younger than [collect] refresh_days.

    A count that changed adds a snapshot to the post's time series; a post gone upstream is
    marked deleted (and kept).
    """
    from monitor.collection.rounds import refresh_engagement

    r: Any = _run(app, refresh_engagement)
    click.echo(f"{r.accounts} account(s), {r.checked} post(s) re-counted, {r.snapshots} changed, "
               f"{r.deleted} gone upstream, {len(r.failed)} failed")  # fmt: skip


@refresh.command("profiles")
@pass_app
def profiles(app: App) -> None:
    """Read every account's follower, following and post counts (a snapshot when they changed)."""
    from monitor.collection.rounds import refresh_profiles

    r: Any = _run(app, refresh_profiles)
    click.echo(f"{r.accounts} account(s), {r.checked} profile(s) read, {r.snapshots} changed, "
               f"{len(r.failed)} failed")  # fmt: skip
