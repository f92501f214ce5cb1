"""Teams and Matrix from the config file: `alerts test`, alerts and digests through the outbox,
secrets from the environment only; and the README's alert config examples load as written."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from monitor.alerting.digests import enqueue_digests
from monitor.alerting.outbox import deliver_pending
from monitor.cli.main import cli
from monitor.compose import build_channels
from monitor.config import ConfigError, load_settings
from tests.alerts.receivers import Homeserver, Workflows, serve
from tests.conftest import NOW

PATH = "/workflows/0d1e/triggers/manual/paths/invoke?api-version=1&sig=s3cr3t-signature"
CONFIG = """
[[accounts]]
platform = "bluesky"
handle = "fr.bsky.social"
country = "FR"
kind = "ministry"
name = "France Diplomatie"

[alerts]
dashboard_url = "https://dash.example.org/"

[alerts.channels.teams]
kind = "teams"
url_env = "TEAMS_WEBHOOK"

[alerts.channels.matrix]
kind = "matrix"
homeserver = "{homeserver}"
room_id = "!ops:example.org"
token_env = "MATRIX_TOKEN"

[[alerts.digests]]
name = "press"
channels = ["teams", "matrix"]
hour = 12
timezone = "Europe/Paris"
top_posts = 2
"""


@pytest.fixture
def receivers() -> Iterator[tuple[Workflows, Homeserver]]:
    with serve(Workflows(), PATH) as flow, serve(Homeserver(), "") as hs:
        yield flow, hs  # type: ignore[misc]


def test_alerts_test_reaches_both(receivers: Any, db_url: str, write_config: Any) -> None:
    flow, hs = receivers
    config = str(write_config(CONFIG.format(homeserver=hs.url)))
    env = {"DIPLOMONITOR_DATABASE_URL": db_url, "TEAMS_WEBHOOK": flow.url, "MATRIX_TOKEN": hs.token}
    for name in ("teams", "matrix"):
        result = CliRunner().invoke(cli, ["--config", config, "alerts", "test", name], env=env)
        assert (result.exit_code, result.output) == (0, f"test message sent to '{name}'\n")
    assert flow.posted[0]["body"][0]["text"] == "👋 diplomonitor test message for channel 'teams'"
    (event,) = hs.events
    assert event["content"]["msgtype"] == "m.notice"
    assert event["content"]["body"].startswith(
        "👋 diplomonitor test message for channel 'matrix'\nChannel: matrix"
    )
    hs.token = "syt_rotated"
    refused = CliRunner().invoke(cli, ["--config", config, "alerts", "test", "matrix"], env=env)
    assert refused.exit_code == 1 and "channel 'matrix': HTTP 401 M_UNKNOWN_TOKEN" in refused.output
    assert env["MATRIX_TOKEN"] not in refused.output


def test_secrets_come_from_the_environment_only(receivers: Any, write_config: Any) -> None:
    flow, hs = receivers
    path = write_config(CONFIG.format(homeserver=hs.url))
    s = load_settings(path, {"TEAMS_WEBHOOK": flow.url, "MATRIX_TOKEN": hs.token, "OTHER": "x"})
    assert sorted(s.secrets) == ["MATRIX_TOKEN", "TEAMS_WEBHOOK"]
    assert s.alerts.dashboard_url == "https://dash.example.org/"
    assert "s3cr3t" not in repr(s) and hs.token not in repr(s) and hs.token not in str(s.describe())


def test_digest_through_teams_and_matrix_once_per_period(
    world: Engine, receivers: Any, write_config: Any
) -> None:
    """The daily digest ending 12:00 Paris time (10:00 UTC) goes to both, once."""
    flow, hs = receivers
    s = load_settings(write_config(CONFIG.format(homeserver=hs.url)), {"TEAMS_WEBHOOK": flow.url,
                                                                       "MATRIX_TOKEN": hs.token})  # fmt: skip
    assert enqueue_digests(world, s.alerts, now=NOW, accounts=s.accounts) == 2
    assert enqueue_digests(world, s.alerts, now=NOW.replace(hour=13), accounts=s.accounts) == 0
    assert deliver_pending(world, s.alerts, build_channels(s), now=NOW).sent == 2
    (card,) = flow.posted
    (event,) = hs.events
    assert card["body"][0]["text"] == "📰 diplomonitor daily digest 'press': 2026-10-14"
    period = "2026-10-14 12:00 – 2026-10-15 12:00 CEST (2026-10-14 10:00 – 2026-10-15 10:00 UTC)"
    assert {"title": "Period", "value": period} in card["body"][1]["facts"]
    body = event["content"]["body"]
    assert body.splitlines()[:3] == ["📰 diplomonitor daily digest 'press': 2026-10-14", f"Period: {period}",
                                     "Scope: all accounts"]  # fmt: skip
    assert event["content"]["msgtype"] == "m.notice"
    assert "- France Diplomatie (FR, ministry) @fr.bsky.social · 2026-10-15 " in body  # named as configured
    assert body.endswith("Look next:\n- Dashboard: https://dash.example.org/")


def _readme_toml() -> str:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Alerts\n", 1)[1].split("\n## ", 1)[0]
    return "\n".join(re.findall(r"```toml\n(.*?)```", section, flags=re.DOTALL))


def test_the_readme_alert_examples_load(write_config: Any) -> None:
    """Every channel kind of the README, with the rules and digests beside them, loads as written."""
    accounts = (
        '[[accounts]]\nplatform = "bluesky"\nhandle = "ec.europa.eu"\ncountry = "EU"\nkind = "mission"\n'
    )
    accounts += 'groups = ["eu-institutions"]\n\n'
    s = load_settings(write_config(accounts + _readme_toml()), {})
    kinds = {c.kind for c in s.alerts.channels}
    assert kinds == {"slack", "email", "webhook", "teams", "matrix"}
    assert s.alerts.dashboard_url and s.alerts.rules and s.alerts.digests


def test_a_dashboard_url_must_be_http(write_config: Any) -> None:
    problem = r"line 2: alerts\.dashboard_url: .*'dash\.example\.org' is not an http"
    with pytest.raises(ConfigError, match=problem):
        load_settings(write_config('[alerts]\ndashboard_url = "dash.example.org"\n'), {})
