"""Digests: which period, what they hold, sent once per period through the outbox by email."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from alerts.settings import ChannelSettings, Digest
from monitor.alerting.digests import enqueue_digests, period_ending
from monitor.alerting.evaluate import evaluate_rules
from monitor.alerting.outbox import deliver_pending
from monitor.compose import build_channels
from tests.alerts.conftest import LOOPBACK, H, Mailbox, free_port, rule, settings
from tests.conftest import NOW


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("fields", "now", "start", "end"), [
    ({"hour": 8}, "2026-10-15 12:00", "2026-10-14 08:00", "2026-10-15 08:00"),
    ({"hour": 8}, "2026-10-15 07:59", "2026-10-13 08:00", "2026-10-14 08:00"),
    ({"hour": 8, "timezone": "Europe/Berlin"}, "2026-10-15 12:00", "2026-10-14 06:00", "2026-10-15 06:00"),
    ({"period": "weekly", "weekday": "monday", "hour": 9}, "2026-10-15 12:00", "2026-10-05 09:00",
     "2026-10-12 09:00"),
    ({"period": "weekly", "weekday": "thursday", "hour": 9}, "2026-10-15 08:00", "2026-10-01 09:00",
     "2026-10-08 09:00"),
])  # fmt: skip
def test_period_ending(fields: dict, now: str, start: str, end: str) -> None:
    d = Digest(name="d", channels=("mail",), **fields)
    assert period_ending(d, at(now)) == (at(start), at(end))


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port(), None)
    controller = Controller(box, hostname=LOOPBACK, port=box.port)
    controller.start()
    yield box
    controller.stop()


def test_daily_digest_by_email_once_per_period(world: Engine, mailbox: Mailbox) -> None:
    mail = ChannelSettings(name="mail", kind="email", smtp_host=LOOPBACK, smtp_port=mailbox.port,
                           security="none", sender="dm@example.org",
                           recipients=("a@example.org", "b@example.org"))  # fmt: skip
    digest = Digest(name="press", channels=("mail",), hour=12, top_posts=3, shifts=3)
    s = settings((rule(name="busy", threshold=5),), (mail,), digests=(digest,))
    evaluate_rules(world, s.alerts, now=NOW - H)  # an alert inside the period
    channels = build_channels(s)
    assert enqueue_digests(world, s.alerts, now=NOW) == 1
    assert enqueue_digests(world, s.alerts, now=NOW + H) == 0  # same period: already in the outbox
    assert mailbox.messages == []  # the deliver job sends it, and only it
    assert deliver_pending(world, s.alerts, channels, now=NOW + H).sent == 1
    (envelope,) = mailbox.messages
    parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert parsed["Subject"] == "[info] diplomonitor daily digest 'press': 2026-10-14"
    plain = parsed.get_body(("plain",)).get_content()
    assert "Period: 2026-10-14 12:00 – 2026-10-15 12:00 UTC" in plain
    assert "- 2026-10-15 11:00 UTC — busy: posts 6 >= 5 (all accounts)" in plain
    # FR: 2 posts (engagement 2) the day before, 8 posts (engagement 91) this day; DE: 0 -> 2 (26)
    shifts = plain.split("Notable shifts")[1].split("Top posts")[0]
    assert [line for line in shifts.splitlines() if line.startswith("- ")] == [
        "- FR: total engagement 2 → 91", "- DE: total engagement 0 → 26", "- FR: posts 2 → 8",
    ]  # fmt: skip
    top = plain.split("Top posts")[1]
    assert top.index("/fr.bsky.social/111") < top.index("/de@social.bund.de/201") < top.index("/101")
    assert "&lt;script&gt;" in parsed.get_body(("html",)).get_content()
    assert enqueue_digests(world, s.alerts, now=NOW + timedelta(days=1)) == 1
    deliver_pending(world, s.alerts, channels, now=NOW + timedelta(days=1))
    assert len(mailbox.messages) == 2
