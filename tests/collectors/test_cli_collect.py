from __future__ import annotations

from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from monitor.cli.main import cli
from tests.collectors.payloads import post_view, status
from tests.collectors.servers import FakeBluesky, FakeMastodon
from tests.collectors.test_pipeline import ACCOUNTS, DID, HANDLE, MHANDLE


def _run(config, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), *args], env={})


def test_sync_resolves_and_reports_unresolved_then_collect_runs_a_round(
    make_settings, bsky: FakeBluesky, masto: FakeMastodon
) -> None:
    now = datetime.now(UTC)
    settings = make_settings(ACCOUNTS)
    bsky.add_account(DID, HANDLE)
    bsky.feeds[DID] = [
        {"post": post_view(DID, HANDLE, f"p{i}", f"post {i}", now - timedelta(days=i))} for i in range(3)
    ]
    quiet = _run(settings.path, "accounts", "sync", "--no-resolve")
    assert quiet.exit_code == 0 and "2 added" in quiet.output and "resolved" not in quiet.output
    assert bsky.seen == [] and masto.seen == []
    sync = _run(settings.path, "accounts", "sync")
    assert sync.exit_code == 0, sync.output
    assert f"unresolved   mastodon:{MHANDLE}: not_found" in sync.output
    assert "1 resolved, 1 unresolved" in sync.output
    account = masto.add_account("42", "amb")
    masto.statuses["42"] = [status("7", account, "<p>hallo</p>", now)]
    result = _run(settings.path, "collect", "--platform", "bluesky")
    assert result.exit_code == 0, result.output
    assert "1 ok, 0 failed, 0 unavailable" in result.output and "3 new post(s)" in result.output
    forced = _run(settings.path, "collect", "--account", MHANDLE, "--since", "2026-01-01")
    assert forced.exit_code == 0 and "1 ok" in forced.output and "1 new post(s)" in forced.output
    status_out = _run(settings.path, "status", "--format", "csv")
    assert "bluesky,embassy.example.org,FR,embassy,ok,3" in status_out.output
    missing = _run(settings.path, "collect", "--account", "nobody.example.org")
    assert missing.exit_code == 1 and "no active account" in missing.output
