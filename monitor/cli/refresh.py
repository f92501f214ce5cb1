"""`diplomonitor refresh engagement|profiles|reception`: what the service re-reads on its schedule, now."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from monitor.cli.app import App, pass_app

if TYPE_CHECKING:
    from monitor.collection.rounds import RefreshReport


@click.group()
def refresh() -> None:
    """Re-count engagement, follower numbers or the audience's answers now, as the service's jobs do."""


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


@refresh.command("reception")
@pass_app
def reception(app: App) -> None:
    """Read the replies and quotes of recent posts whose counts changed ([reception] days).

    Authors are stored pseudonymised with the key in DIPLOMONITOR_PSEUDONYM_KEY (unless
    [reception] keep_authors); texts older than retention_days are removed afterwards.
    """
    from monitor.collection.reception import Authors, collect_reception, purge_reception
    from monitor.compose import build_collectors
    from monitor.errors import MonitorError

    s = app.settings
    try:
        authors = Authors(s.reception, s.secrets)
    except MonitorError as exc:
        raise click.ClickException(str(exc)) from None
    engine = app.ready_engine()
    collectors = build_collectors(s)
    try:
        r = collect_reception(engine, s.reception, collectors, authors, workers=s.collect.concurrency,
                              now=app.now())  # fmt: skip
    finally:
        for c in collectors.values():
            c.close()
    purged = purge_reception(engine, s.reception, app.now())
    for label, why in r.failed:
        click.echo(f"{'failed':12} {label}: {why}")
    click.echo(
        f"{r.accounts} account(s), {r.posts_checked} post(s) followed, {r.threads_read} read again, "
        f"{r.new_answers} new answer(s), {r.gone_answers} gone, {purged} removed by retention"
    )
