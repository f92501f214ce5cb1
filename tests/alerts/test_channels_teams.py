"""Microsoft Teams through a Workflows webhook, against a loopback server that reads the body as
the "Send webhook alerts to a channel" template does (tests/alerts/receivers.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from alerts.channels import open_channels
from alerts.channels.teams import md_escape
from alerts.errors import ChannelUnavailable, DeliveryRejected
from alerts.settings import ChannelSettings
from monitor.alerting.evaluate import evaluate_rules
from monitor.alerting.outbox import deliver_pending
from monitor.compose import build_channels
from monitor.schema import deliveries
from tests.alerts.conftest import free_port, rule, settings
from tests.alerts.receivers import Workflows, serve, walk
from tests.alerts.samples import FORGED, HOSTILE_POST, POST, RTL, alert
from tests.conftest import NOW

TEAMS = ChannelSettings(name="teams", kind="teams", url_env="TEAMS_URL")
PATH = "/workflows/0d1e/triggers/manual/paths/invoke?api-version=1&sig=s3cr3t-signature"
S = timedelta(seconds=1)
# Characters that start markdown in a TextBlock or a Fact, unless a backslash precedes them.
_LIVE = re.compile(r"(?<!\\)[\[\]<*_`{}]")


@pytest.fixture
def flow() -> Iterator[Workflows]:
    with serve(Workflows(), PATH) as state:
        yield state  # type: ignore[misc]


def teams(flow: Workflows) -> Any:
    return open_channels([TEAMS], {"TEAMS_URL": flow.url}, httpx.Client())["teams"]


def test_card_as_the_workflows_template_expects_it(flow: Workflows) -> None:
    """The whole card, checked by hand against the Adaptive Cards 1.4 schema (TextBlock, FactSet,
    RichTextBlock/TextRun, Container, Action.OpenUrl) and the Workflows envelope
    {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
    "content": ...}]}; times in the rule's zone (Paris) with UTC in brackets."""
    teams(flow).send(alert(posts=(POST,)))
    assert flow.requests[0]["headers"]["idempotency-key"] == "fire:7"
    (card,) = flow.posted
    envelope = json.loads(flow.requests[0]["body"])
    assert (envelope["type"], envelope["attachments"][0]["contentType"]) == (
        "message", "application/vnd.microsoft.card.adaptive",
    )  # fmt: skip
    post_url, profile = (
        "https://bsky.app/profile/fr.bsky.social/post/3kabc",
        "https://bsky.app/profile/fr.bsky.social",
    )
    subtle = {"type": "TextRun", "isSubtle": True}
    shown = HOSTILE_POST.replace(RTL, RTL[1:])  # literal, less the bidi override
    assert card == {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "fallbackText": "Warning: storm \\<b>: negative share 62% >= 40% (bluesky:fr.bsky.social)",
        "body": [
            {"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": True, "color": "Warning",
             "text": "⚠️ Warning: storm \\<b>: negative share 62% >= 40% (bluesky:fr.bsky.social)"},
            {"type": "FactSet", "facts": [
                {"title": "Rule", "value": "storm \\<b>"},
                {"title": "Scope", "value": "bluesky:fr.bsky.social"},
                {"title": "Condition", "value": "negative share 62% >= 40%"},
                {"title": "Window", "value": "2026-10-15 08:00 – 2026-10-15 14:00 CEST (06:00 – 12:00 UTC)"},
                {"title": "Severity", "value": "warning"},
            ]},
            {"type": "TextBlock", "text": "Posts behind it", "weight": "Bolder", "wrap": True,
             "separator": True},
            {"type": "Container", "separator": True, "items": [
                {"type": "RichTextBlock", "inlines": [
                    {"type": "TextRun", "text": "France Diplomatie (FR, ministry) @fr.bsky.social",
                     "weight": "Bolder", "selectAction": {"type": "Action.OpenUrl", "url": post_url}},
                    {**subtle, "text": " · 2026-10-15 14:00 CEST (12:00 UTC)"},
                    {**subtle, "text": " · 12 interactions"},
                    {**subtle, "text": " · most negative"},
                    {**subtle, "text": " · keyword: culture"},
                    {**subtle, "text": " · "},
                    {"type": "TextRun", "text": "recent posts",
                     "selectAction": {"type": "Action.OpenUrl", "url": profile}},
                ]},
                {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": shown}]},
            ]},
            {"type": "RichTextBlock", "separator": True, "inlines": [
                {**subtle, "text": "To mute: "},
                {"type": "TextRun", "fontType": "Monospace",
                 "text": "diplomonitor alerts mute 'storm <b>' --scope bluesky:fr.bsky.social --hours 24"},
            ]},
        ],
        "msteams": {"width": "Full"},
        "actions": [
            {"type": "Action.OpenUrl", "url": post_url, "title": "The post"},
            {"type": "Action.OpenUrl", "url": profile, "title": "Recent posts of France Diplomatie"},
            {"type": "Action.OpenUrl", "url": "https://dash.example.org/", "title": "Dashboard"},
        ],
    }  # fmt: skip


def test_hostile_post_text_cannot_format_link_or_mention(flow: Workflows) -> None:
    """Post text goes only into TextRuns (never read as markdown); every TextBlock and Fact has its
    markdown escaped; no mention entity, no link but ours, no bidi override."""
    teams(flow).send(alert(posts=(POST, FORGED)))
    raw = flow.requests[0]["body"]
    (card,) = flow.posted
    assert "\\u202e" not in raw and "\u202e" not in raw and "javascript:" not in raw
    assert "entities" not in raw  # a Teams mention needs msteams.entities
    markdown = [e["text"] for e in walk(card["body"]) if e["type"] == "TextBlock"]
    markdown += [
        v for e in walk(card["body"]) if e["type"] == "FactSet" for f in e["facts"] for v in f.values()
    ]
    markdown.append(card["fallbackText"])
    assert [t for t in markdown if _LIVE.search(t)] == []
    runs = [r["text"] for e in walk(card["body"]) if e["type"] == "RichTextBlock" for r in e["inlines"]]
    assert HOSTILE_POST.replace(RTL, RTL[1:]) in runs
    assert "<https://evil.example|click here> gpj.exe" in runs
    urls = {a["url"] for a in card["actions"]} | {
        r["selectAction"]["url"]
        for e in walk(card["body"])
        for r in e.get("inlines", [])
        if "selectAction" in r
    }
    assert urls == {"https://bsky.app/profile/fr.bsky.social/post/3kabc", "https://bsky.app/profile/fr.bsky.social",
                    "https://dash.example.org/"}  # fmt: skip


def test_markdown_escape() -> None:
    assert md_escape("[a](https://evil) **b** _c_ <at>x</at> {{DATE(x)}} `d`") == (
        "\\[a\\](https://evil) \\*\\*b\\*\\* \\_c\\_ \\<at>x\\</at> \\{\\{DATE(x)\\}\\} \\`d\\`"
    )
    assert md_escape("- item\n1. two # \u202eok") == "\\- item 1. two # ok"
    assert md_escape("1. first") == "\\1. first"


@pytest.mark.parametrize(("status", "headers", "error", "wait"), [
    (429, {"Retry-After": "120"}, ChannelUnavailable, 120.0),
    (429, {}, ChannelUnavailable, None),
    (500, {}, ChannelUnavailable, None),
    (502, {}, ChannelUnavailable, None),
    (503, {"Retry-After": "30"}, ChannelUnavailable, 30.0),
    (400, {}, DeliveryRejected, None),
    (401, {}, DeliveryRejected, None),
    (403, {}, DeliveryRejected, None),
    (404, {}, DeliveryRejected, None),
])  # fmt: skip
def test_http_answers_are_translated(
    flow: Workflows, status: int, headers: dict[str, str], error: type[Exception], wait: float | None
) -> None:
    flow.answers.append((status, {"error": {"code": "Answer", "message": "scripted"}}, headers))
    with pytest.raises(error, match=f"HTTP {status}") as caught:
        teams(flow).send(alert())
    assert getattr(caught.value, "retry_after", None) == wait
    assert "s3cr3t" not in str(caught.value) and flow.posted == []


def test_a_wrong_signature_is_permanent_and_never_shown(flow: Workflows) -> None:
    wrong = flow.url.replace("s3cr3t-signature", "forged")
    channel = open_channels([TEAMS], {"TEAMS_URL": wrong}, httpx.Client())["teams"]
    with pytest.raises(DeliveryRejected, match=r"HTTP 401: .*DirectApiAuthorizationRequired") as caught:
        channel.send(alert())
    assert "forged" not in str(caught.value)
    down = open_channels([TEAMS], {"TEAMS_URL": f"http://127.0.0.1:{free_port()}{PATH}"}, httpx.Client())
    with pytest.raises(ChannelUnavailable) as unreachable:
        down["teams"].send(alert())
    assert "s3cr3t" not in str(unreachable.value)
    unset = open_channels([TEAMS], {}, httpx.Client())["teams"]
    with pytest.raises(ChannelUnavailable, match="TEAMS_URL is not set"):
        unset.send(alert())
    assert "s3cr3t" not in repr(channel) and flow.posted == []


def _setup(flow: Workflows) -> Any:
    s = settings((rule(name="busy", threshold=5, channels=("teams",)),), (TEAMS,), {"TEAMS_URL": flow.url})
    return s, build_channels(s)


def _delivery(engine: Engine) -> Any:
    with engine.connect() as conn:
        (row,) = conn.execute(select(deliveries))
    return row


def test_outage_then_a_lost_answer_then_recovery_posts_once(world: Engine, flow: Workflows) -> None:
    """Down (503), then the flow posts but its 202 is lost (504 from a proxy): the outbox retries
    with the same Idempotency-Key and the flow, deduplicating on it, shows the card once."""
    s, channels = _setup(flow)
    evaluate_rules(world, s.alerts, now=NOW)
    flow.answers.append((503, {"error": "down"}, {}))
    assert deliver_pending(world, s.alerts, channels, now=NOW).failed == 1
    flow.lose = 1
    assert deliver_pending(world, s.alerts, channels, now=NOW + 61 * S).failed == 1
    assert len(flow.posted) == 1  # it did post; the sender could not know
    report = deliver_pending(world, s.alerts, channels, now=NOW + 61 * S + 121 * S)
    assert (report.sent, report.pending) == (1, 0)
    assert deliver_pending(world, s.alerts, channels, now=NOW + timedelta(hours=2)).sent == 0
    row = _delivery(world)
    assert (row.status, row.attempts) == ("sent", 3)
    keys = [r["headers"]["idempotency-key"] for r in flow.requests]
    assert keys == [f"fire:{row.event_id}"] * 3 and len(flow.posted) == 1
    assert flow.posted[0]["body"][0]["text"] == "⚠️ Warning: busy: posts 6 >= 5 (all accounts)"


def test_retry_after_is_honoured_by_the_outbox(world: Engine, flow: Workflows) -> None:
    """429 with Retry-After: 600 waits 600 s, not the 60 s of the first backoff step."""
    s, channels = _setup(flow)
    evaluate_rules(world, s.alerts, now=NOW)
    flow.answers.append((429, {"error": {"code": "TooManyRequests"}}, {"Retry-After": "600"}))
    deliver_pending(world, s.alerts, channels, now=NOW)
    row = _delivery(world)
    assert (row.status, row.next_attempt_at, row.last_error[:8]) == ("pending", NOW + 600 * S, "HTTP 429")
    assert deliver_pending(world, s.alerts, channels, now=NOW + 599 * S).sent == 0
    assert len(flow.requests) == 1
    assert deliver_pending(world, s.alerts, channels, now=NOW + 600 * S).sent == 1
    assert len(flow.posted) == 1


def test_a_rejected_card_fails_at_once(world: Engine, flow: Workflows) -> None:
    s, channels = _setup(flow)
    evaluate_rules(world, s.alerts, now=NOW)
    flow.answers.append((400, {"error": {"code": "InvalidRequestContent"}}, {}))
    assert deliver_pending(world, s.alerts, channels, now=NOW).failed == 1
    row = _delivery(world)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error.startswith("HTTP 400: ") and "InvalidRequestContent" in row.last_error
