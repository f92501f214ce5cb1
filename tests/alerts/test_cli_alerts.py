"""`diplomonitor alerts list | check | test` end to end, against a real webhook receiver."""

from __future__ import annotations

import csv
import io
import re

from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from monitor.cli.main import cli
from monitor.schema import alert_events
from tests.alerts.conftest import Receiver

CONFIG = """
[alerts.channels.hook]
kind = "webhook"
url_env = "HOOK_URL"

[[alerts.rules]]
name = "silent"
metric = "silence"
threshold = 0          # always true: the test does not depend on today's date
per_member = true
channels = ["hook"]
"""


def run(config: str, env: dict[str, str], *args: str) -> object:
    return CliRunner().invoke(cli, ["--config", config, *args], env=env)


def test_alerts_commands(world: Engine, db_url: str, receiver: Receiver, write_config) -> None:
    config = str(write_config(CONFIG))
    env = {"DIPLOMONITOR_DATABASE_URL": db_url, "HOOK_URL": receiver.url}
    listed = run(config, env, "alerts", "list", "--format", "csv")
    assert listed.exit_code == 0, listed.output
    never = "silent,all (each account),not evaluated,hours since the last post n/a >= 0.0 h,,,warning,hook,"
    assert listed.output.splitlines()[1:] == [never]
    dry = run(config, env, "alerts", "check", "--dry-run", "--format", "csv")
    assert dry.exit_code == 0, dry.output
    lines = dry.output.splitlines()
    assert lines[0] == "rule,scope,condition,met,action,note"
    assert len(lines) == 4 and all(",would fire," in line for line in lines[1:])
    with world.connect() as conn:
        assert conn.execute(select(func.count()).select_from(alert_events)).scalar() == 0
    checked = run(config, env, "alerts", "check")
    assert checked.exit_code == 0, checked.output
    assert "3 fired, 0 resolved" in checked.output and "deliveries: 3 sent" in checked.output
    assert len(receiver.requests) == 3
    again = run(config, env, "alerts", "check")
    assert "0 fired, 0 resolved" in again.output and len(receiver.requests) == 3
    states = run(config, env, "alerts", "list", "--format", "csv")
    assert states.output.count(",FIRING,") == 3
    # the value each state was last evaluated at, against the threshold (not the threshold twice)
    conditions = [row["condition"] for row in csv.DictReader(io.StringIO(states.output))]
    assert len(conditions) == 3 and all(re.fullmatch(r"hours since the last post \d+\.\d h >= 0\.0 h", c)
                                        for c in conditions), conditions  # fmt: skip
    assert all(float(c.split()[5]) > 0 for c in conditions)
    events = run(config, env, "alerts", "list", "--events")
    assert events.output.count("sent=1") == 3
    assert run(config, env, "alerts", "test", "hook").exit_code == 0
    assert receiver.json()["kind"] == "test"
    missing = run(config, env, "alerts", "test", "nope")
    assert missing.exit_code == 1 and "no channel named 'nope' (channels: hook)" in missing.output
    receiver.status = 503
    down = run(config, env, "alerts", "test", "hook")
    assert down.exit_code == 1 and "channel 'hook': HTTP 503" in down.output
    unknown = run(config, env, "alerts", "check", "--rule", "nope")
    assert unknown.exit_code == 2 and "no rule named nope" in unknown.output
