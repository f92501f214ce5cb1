"""`diplomonitor collect`: one collection round from the command line."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from monitor.cli.app import App, pass_app, progress


@click.command()
@click.option("--platform", type=click.Choice(["bluesky", "mastodon"]), help="Only this platform.")
@click.option(
    "--account", "handle", metavar="HANDLE", help="Only this account (collected even while backing off)."
)
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d"]),
    metavar="DATE",
    help="Also fetch history back to this day (UTC), beyond backfill_days.",
)
@pass_app
def collect(app: App, platform: str | None, handle: str | None, since: datetime | None) -> None:
    """Collect new posts of every due account once, then print what happened.

    Accounts failing or gone are skipped until their next attempt; `diplomonitor status`
    shows each account's health.
    """
    from monitor.collection.rounds import collect_round, due_targets
    from monitor.compose import build_collectors

    engine = app.ready_engine()
    now = app.now()
    due, _ = due_targets(engine, platform=platform, handle=handle, now=now)
    if handle and not due:
        raise click.ClickException(f"no active account '{handle}': check the config and run `accounts sync`")
    collectors = build_collectors(app.settings)
    try:
        with progress([], length=len(due), label="collecting") as bar:
            report = collect_round(
                engine,
                app.settings.collect,
                collectors,
                platform=platform,
                handle=handle,
                since=since.replace(tzinfo=UTC) if since else None,
                now=now,
                on_account=lambda _r: bar.update(1),
            )
    finally:
        for c in collectors.values():
            c.close()
    for r in report.results:
        if r.outcome != "ok":
            click.echo(f"{r.outcome:12} {r.label}: {r.message}")
    click.echo(
        f"{report.count('ok')} ok, {report.count('failed')} failed, "
        f"{report.count('unavailable')} unavailable, {report.skipped} waiting; "
        f"{report.new_posts} new post(s) in {report.seconds:.1f} s"
    )
    if report.rejected_posts:
        click.echo(f"{report.rejected_posts} post(s) did not fit the store: kept aside with the reason "
                   "in the table rejected_posts")  # fmt: skip
