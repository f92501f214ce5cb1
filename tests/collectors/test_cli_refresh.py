"""`diplomonitor refresh engagement|profiles`: the service's refresh jobs, run once from the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import Engine, select

from monitor.cli.main import cli
from monitor.schema import engagement_snapshots, posts, profile_snapshots
from tests.collectors.payloads import post_view, status
from tests.collectors.servers import FakeBluesky, FakeMastodon
from tests.collectors.test_pipeline import ACCOUNTS, DID, HANDLE


def _run(config, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--config", str(config), *args], env={})


def test_refresh_engagement_and_profiles_once(
    make_settings, engine: Engine, bsky: FakeBluesky, masto: FakeMastodon
) -> None:
    now = datetime.now(UTC)
    settings = make_settings(ACCOUNTS)
    bsky.add_account(DID, HANDLE, followers=50)
    bsky.feeds[DID] = [{"post": post_view(DID, HANDLE, "p0", "post 0", now - timedelta(hours=1), likes=1)}]
    account = masto.add_account("42", "amb", followers=100)
    masto.statuses["42"] = [status("7", account, "<p>hallo</p>", now - timedelta(hours=2), favourites=2)]
    assert _run(settings.path, "accounts", "sync").exit_code == 0
    assert _run(settings.path, "collect").exit_code == 0
    bsky.feeds[DID] = [{"post": post_view(DID, HANDLE, "p0", "post 0", now - timedelta(hours=1), likes=9)}]
    masto.statuses["42"] = [status("7", account, "<p>hallo</p>", now - timedelta(hours=2), favourites=2)]
    counted = _run(settings.path, "refresh", "engagement")
    assert counted.exit_code == 0, counted.output
    expected = "2 account(s), 2 post(s) re-counted, 1 changed, 0 gone upstream, 0 failed"
    assert counted.output.strip() == expected
    with engine.connect() as conn:
        likes = conn.execute(select(posts.c.likes).where(posts.c.platform == "bluesky")).scalar_one()
        snaps = conn.execute(select(engagement_snapshots.c.likes).order_by(engagement_snapshots.c.id)).all()
    assert likes == 9 and sorted(s.likes for s in snaps) == [1, 2, 9]  # accounts run in parallel
    read = _run(settings.path, "refresh", "profiles")
    assert read.exit_code == 0, read.output
    assert read.output.strip() == "2 account(s), 2 profile(s) read, 2 changed, 0 failed"
    with engine.connect() as conn:
        followers = sorted(r.followers for r in conn.execute(select(profile_snapshots.c.followers)))
    assert followers == [50, 100]
    again = _run(settings.path, "refresh", "profiles")
    assert again.output.strip() == "2 account(s), 2 profile(s) read, 0 changed, 0 failed"
