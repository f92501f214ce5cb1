"""Muting a rule or one of its scopes: alerts still open and are recorded, nothing is sent, not
even their end; the mute ends by itself or is lifted; acknowledging marks who is on it."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import Engine, select

from alerts.settings import ChannelSettings
from monitor.alerting.evaluate import evaluate_rules
from monitor.alerting.mutes import Mute, acknowledge, mute
from monitor.alerting.outbox import deliver_pending
from monitor.cli.main import cli
from monitor.compose import build_channels
from monitor.schema import alert_events, deliveries
from tests.alerts.conftest import H, Receiver, rule, settings
from tests.conftest import NOW

HOOK = ChannelSettings(name="hook", kind="webhook", url_env="HOOK_URL")


def _setup(receiver: Receiver, **kw):  # type: ignore[no-untyped-def]
    s = settings((rule(name="busy", threshold=1, channels=("hook",), notify_resolved=True, **kw),), (HOOK,),
                 {"HOOK_URL": receiver.url})  # fmt: skip
    return s, build_channels(s)


def test_a_muted_rule_records_its_alerts_and_sends_nothing(world: Engine, receiver: Receiver) -> None:
    s, channels = _setup(receiver, per_member=True, window_hours=96)
    with world.begin() as conn:  # one account muted for 2 hours, the others not
        mute(conn, Mute("busy", "bluesky:fr.bsky.social", NOW + 2 * H, "cli:anna", "press week"), NOW)
    assert evaluate_rules(world, s.alerts, now=NOW).fired == 3
    deliver_pending(world, s.alerts, channels, now=NOW)
    with world.connect() as conn:
        events = {e.scope: e.muted for e in conn.execute(select(alert_events))}
        sent = {d.event_id for d in conn.execute(select(deliveries))}
    assert events == {"bluesky:fr.bsky.social": True, "mastodon:de@social.bund.de": False,
                      "bluesky:us.bsky.social": False}  # fmt: skip
    assert len(receiver.requests) == 2 and len(sent) == 2
    with world.begin() as conn:  # the whole rule muted: the end of an alert is not sent either
        mute(conn, Mute("busy", "", NOW + 10 * H, "cli:anna"), NOW)
    evaluate_rules(world, s.alerts, now=NOW + 200 * H)  # every post has left the window
    deliver_pending(world, s.alerts, channels, now=NOW + 200 * H)
    assert len(receiver.requests) == 2 + 2  # the two unmuted alerts' ends (the mute is over by then)


def test_a_mute_that_ended_no_longer_holds(world: Engine, receiver: Receiver) -> None:
    s, channels = _setup(receiver)
    with world.begin() as conn:
        mute(conn, Mute("busy", "", NOW - H, "cli:anna"), NOW - 3 * H)
    evaluate_rules(world, s.alerts, now=NOW)
    assert deliver_pending(world, s.alerts, channels, now=NOW).sent == 1


def test_acknowledge_once(world: Engine, receiver: Receiver) -> None:
    s, _ = _setup(receiver)
    evaluate_rules(world, s.alerts, now=NOW)
    with world.begin() as conn:
        (event_id,) = conn.execute(select(alert_events.c.id)).scalars()
        assert acknowledge(conn, event_id, "cli:anna", NOW + H)
        assert not acknowledge(conn, event_id, "cli:ben", NOW + 2 * H)
        row = conn.execute(select(alert_events)).one()
    assert (row.acknowledged_by, row.acknowledged_at) == ("cli:anna", NOW + H)


CONFIG = """
[alerts.channels.hook]
kind = "webhook"
url_env = "HOOK_URL"

[[alerts.rules]]
name = "silent"
metric = "silence"
threshold = 0
per_member = true
channels = ["hook"]
"""


def test_mute_unmute_and_ack_from_the_command_line(world: Engine, db_url: str, receiver: Receiver,
                                                   write_config) -> None:  # fmt: skip
    config = str(write_config(CONFIG))
    env = {"DIPLOMONITOR_DATABASE_URL": db_url, "HOOK_URL": receiver.url}

    def run(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, ["--config", config, *args], env=env)

    muted = run("alerts", "mute", "silent", "--scope", "bluesky:us.bsky.social", "--hours", "6")
    assert muted.exit_code == 0 and "muted 'silent' (bluesky:us.bsky.social) until" in muted.output
    assert run("alerts", "mute", "nope", "--hours", "1").exit_code == 2
    assert "3 fired" in run("alerts", "check").output and len(receiver.requests) == 2
    listing = run("alerts", "list", "--format", "csv").output.splitlines()
    assert [line.rsplit(",", 1)[1] != "" for line in listing[1:]] == [False, True, False]  # muted_until
    events = run("alerts", "list", "--events", "--format", "csv").output
    assert events.count(",muted,") == 1 and events.count(",sent=1,") == 2
    assert run("alerts", "unmute", "silent", "--scope", "bluesky:us.bsky.social").exit_code == 0
    again = run("alerts", "unmute", "silent", "--scope", "bluesky:us.bsky.social")
    assert again.exit_code == 1 and "is not muted" in again.output
    assert run("alerts", "ack", "1").output.strip() == "alert 1 acknowledged"
    assert run("alerts", "ack", "1").exit_code == 1
