"""Matrix through the client-server API, against a loopback homeserver that authenticates,
checks room membership and event content, and deduplicates transaction ids as the spec says
(tests/alerts/receivers.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import Engine, select

from alerts.channels import open_channels
from alerts.channels.matrix import event_content
from alerts.errors import ChannelUnavailable, DeliveryRejected
from alerts.settings import ChannelSettings
from monitor.alerting.evaluate import evaluate_rules
from monitor.alerting.outbox import deliver_pending
from monitor.compose import build_channels
from monitor.schema import deliveries
from tests.alerts.conftest import free_port, rule, settings
from tests.alerts.receivers import Homeserver, serve
from tests.alerts.samples import FORGED, HOSTILE_POST, POST, RTL, alert
from tests.conftest import NOW

ROOM = "!ops:example.org"
S = timedelta(seconds=1)
# The spec's recommended tags (m.room.message msgtypes, "Clients should limit the HTML they
# render") and the attributes it permits on them.
TAGS = {"del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol", "sup", "sub", "li",
        "b", "i", "u", "strong", "em", "s", "code", "hr", "br", "div", "table", "thead", "tbody", "tr", "th",
        "td", "caption", "pre", "span", "img", "details", "summary"}  # fmt: skip
ATTRIBUTES = {"span": {"data-mx-bg-color", "data-mx-color"}, "a": {"href", "target"}}


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text, of a formatted_body."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text += data


def html_problems(html: str) -> list[str]:
    """Tags or attributes outside the spec's list, or links that are not http(s)."""
    parser = Tags()
    parser.feed(html)
    parser.close()
    problems = [f"tag {t}" for t, _ in parser.tags if t not in TAGS]
    problems += [f"{t} {a}" for t, attrs in parser.tags for a in attrs if a not in ATTRIBUTES.get(t, set())]
    problems += [
        f"href {a['href']}"
        for t, a in parser.tags
        if t == "a" and not (a.get("href") or "").startswith("http")
    ]
    return problems


@pytest.fixture
def homeserver() -> Iterator[Homeserver]:
    with serve(Homeserver(), "") as state:
        yield state  # type: ignore[misc]


def matrix_channel(hs: Homeserver, **kw: Any) -> ChannelSettings:
    return ChannelSettings(**{"name": "matrix", "kind": "matrix", "homeserver": hs.url, "room_id": ROOM,
                      "token_env": "MATRIX_TOKEN", **kw})  # fmt: skip


def matrix(hs: Homeserver, token: str | None = "syt_Ym90_secret", **kw: Any) -> Any:
    secrets = {"MATRIX_TOKEN": token} if token else {}
    return open_channels([matrix_channel(hs, **kw)], secrets, httpx.Client())["matrix"]


def test_event_as_the_spec_gives_it(homeserver: Homeserver) -> None:
    """PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId} with the message key as
    txnId; plain body, org.matrix.custom.html with the recommended tags only, empty m.mentions."""
    matrix(homeserver).send(alert(posts=(POST,)))
    (request,) = homeserver.requests
    assert request["method"] == "PUT"
    assert request["path"] == "/_matrix/client/v3/rooms/%21ops%3Aexample.org/send/m.room.message/fire%3A7"
    assert request["headers"]["authorization"] == "Bearer syt_Ym90_secret"
    (event,) = homeserver.events
    content = event["content"]
    assert (event["room_id"], event["type"]) == (ROOM, "m.room.message")
    assert set(content) == {"msgtype", "body", "format", "formatted_body", "m.mentions"}
    assert (content["msgtype"], content["format"], content["m.mentions"]) == (
        "m.text",
        "org.matrix.custom.html",
        {},
    )
    post = HOSTILE_POST.replace(RTL, RTL[1:]).replace("@room", "@\u2060room")
    assert content["body"] == "\n".join([
        "⚠️ Warning: storm <b>: negative share 62% >= 40% (bluesky:fr.bsky.social)",
        "Rule: storm <b>",
        "Scope: bluesky:fr.bsky.social",
        "Condition: negative share 62% >= 40%",
        "Window: 2026-10-15 08:00 – 2026-10-15 14:00 CEST (06:00 – 12:00 UTC)",
        "Severity: warning",
        "",
        "Posts behind it",
        "- France Diplomatie (FR, ministry) @fr.bsky.social · 2026-10-15 14:00 CEST (12:00 UTC)"
        " · 12 interactions · most negative · keyword: culture",
        "  https://bsky.app/profile/fr.bsky.social/post/3kabc",
        "  https://bsky.app/profile/fr.bsky.social",
        f"  > {post}",
        "",
        "Look next:",
        "- The post: https://bsky.app/profile/fr.bsky.social/post/3kabc",
        "- Recent posts of France Diplomatie: https://bsky.app/profile/fr.bsky.social",
        "- Dashboard: https://dash.example.org/",
        "",
        "To mute: diplomonitor alerts mute 'storm <b>' --scope bluesky:fr.bsky.social --hours 24",
    ])  # fmt: skip
    html = content["formatted_body"]
    assert html_problems(html) == []
    assert html.startswith('<p><strong><span data-mx-color="#b26a00">⚠️ Warning: storm &lt;b&gt;')
    assert (
        '<li><a href="https://bsky.app/profile/fr.bsky.social/post/3kabc">France Diplomatie (FR, ministry) '
        "@fr.bsky.social</a> · 2026-10-15 14:00 CEST (12:00 UTC) · 12 interactions · most negative · "
        'keyword: culture · <a href="https://bsky.app/profile/fr.bsky.social">recent posts</a><blockquote>'
        "Culture week &lt;script&gt;alert(1)&lt;/script&gt; [your invoice](https://evil.example/pay) "
        "@everyone @\u2060room @channel &lt;!channel&gt; &lt;at&gt;Minister&lt;/at&gt; &amp; gpj.exe "
        "**bold** {{DATE(2017-02-14T06:00:00Z)}}</blockquote></li>"
    ) in html
    assert html.endswith(
        "<p><em>To mute:</em> <code>diplomonitor alerts mute &#x27;storm &lt;b&gt;&#x27; --scope "
        "bluesky:fr.bsky.social --hours 24</code></p>"
    )


def test_hostile_text_cannot_tag_link_or_ping(homeserver: Homeserver) -> None:
    matrix(homeserver).send(alert(posts=(POST, FORGED)))
    content = homeserver.events[0]["content"]
    parser = Tags()
    parser.feed(content["formatted_body"])
    hrefs = {a["href"] for t, a in parser.tags if t == "a"}
    assert hrefs == {"https://bsky.app/profile/fr.bsky.social/post/3kabc", "https://bsky.app/profile/fr.bsky.social",
                     "https://dash.example.org/"}  # fmt: skip
    assert html_problems(content["formatted_body"]) == []
    assert "[your invoice](https://evil.example/pay)" in parser.text  # shown, not a link
    for text in (content["body"], content["formatted_body"]):
        assert "\u202e" not in text and "javascript:" not in text
        assert "@room" not in text.lower()  # legacy push rule .m.rule.roomnotif matches "@room"
    assert content["m.mentions"] == {}  # modern push rules: no one is mentioned


@pytest.mark.parametrize(("kind", "severity", "msgtype"), [
    ("fire", "critical", "m.text"), ("fire", "warning", "m.text"), ("fire", "info", "m.notice"),
    ("resolve", "critical", "m.notice"),
])  # fmt: skip
def test_only_warning_and_critical_alerts_notify(kind: str, severity: str, msgtype: str) -> None:
    """m.notice is silenced by the default push rule .m.rule.suppress_notices."""
    m = alert(severity)
    if kind == "resolve":
        from dataclasses import replace

        m = replace(m, kind="resolve")
    assert event_content(m)["msgtype"] == msgtype


def test_a_repeated_transaction_id_posts_once(homeserver: Homeserver) -> None:
    """The homeserver answers a retransmission (same txnId, same path, same device) with the
    first event id; a different room is a different path, so it posts there."""
    channel = matrix(homeserver)
    channel.send(alert())
    channel.send(alert())
    assert [r["path"] for r in homeserver.requests] == [homeserver.requests[0]["path"]] * 2
    assert [e["event_id"] for e in homeserver.events] == ["$event1"]
    homeserver.rooms.add("!press:example.org")
    matrix(homeserver, room_id="!press:example.org").send(alert())
    assert [(e["room_id"], e["event_id"]) for e in homeserver.events] == [
        (ROOM, "$event1"), ("!press:example.org", "$event2"),
    ]  # fmt: skip


@pytest.mark.parametrize(("answer", "wait"), [
    ((429, {"errcode": "M_LIMIT_EXCEEDED", "error": "Too many requests", "retry_after_ms": 2500}, {}), 2.5),
    ((429, {"errcode": "M_LIMIT_EXCEEDED", "error": "Too many", "retry_after_ms": 2500},
      {"Retry-After": "7"}), 7.0),
    ((429, {"errcode": "M_LIMIT_EXCEEDED", "error": "Too many requests"}, {}), None),
    ((502, {"errcode": "M_UNKNOWN", "error": "Bad gateway"}, {}), None),
    ((403, {"errcode": "M_RESOURCE_LIMIT_EXCEEDED", "error": "full", "admin_contact": "mailto:a"}, {}), None),
])  # fmt: skip
def test_transient_answers(homeserver: Homeserver, answer: Any, wait: float | None) -> None:
    homeserver.answers.append(answer)
    with pytest.raises(ChannelUnavailable, match=f"HTTP {answer[0]} {answer[1]['errcode']}") as caught:
        matrix(homeserver).send(alert())
    assert caught.value.retry_after == wait  # type: ignore[attr-defined]
    assert homeserver.events == []


def test_permanent_answers(homeserver: Homeserver) -> None:
    """Real refusals from the homeserver: unknown token, missing token, a room the bot is not in."""
    with pytest.raises(
        DeliveryRejected, match=r"HTTP 401 M_UNKNOWN_TOKEN: .*access token was not recognised"
    ) as e1:
        matrix(homeserver, token="syt_stolen").send(alert())
    with pytest.raises(DeliveryRejected, match=r"HTTP 403 M_FORBIDDEN: .*room !elsewhere:example\.org"):
        matrix(homeserver, room_id="!elsewhere:example.org").send(alert())
    homeserver.answers.append((401, {"errcode": "M_MISSING_TOKEN", "error": "Missing access token"}, {}))
    with pytest.raises(DeliveryRejected, match="HTTP 401 M_MISSING_TOKEN"):
        matrix(homeserver).send(alert())
    for status in (400, 404):
        homeserver.answers.append((status, {"errcode": "M_UNKNOWN", "error": "nope"}, {}))
        with pytest.raises(DeliveryRejected, match=f"HTTP {status} M_UNKNOWN: nope"):
            matrix(homeserver).send(alert())
    homeserver.answers.append((404, "not json at all", {}))
    with pytest.raises(DeliveryRejected, match="HTTP 404 no errcode"):
        matrix(homeserver).send(alert())
    assert "syt_" not in str(e1.value) and homeserver.events == []


def test_unset_token_or_unreachable_homeserver_is_transient(homeserver: Homeserver) -> None:
    with pytest.raises(ChannelUnavailable, match="MATRIX_TOKEN is not set"):
        matrix(homeserver, token=None).send(alert())
    down = ChannelSettings(name="matrix", kind="matrix", homeserver=f"http://127.0.0.1:{free_port()}",
                           room_id=ROOM, token_env="MATRIX_TOKEN")  # fmt: skip
    with pytest.raises(ChannelUnavailable, match="ConnectError") as caught:
        open_channels([down], {"MATRIX_TOKEN": "syt_Ym90_secret"}, httpx.Client())["matrix"].send(alert())
    assert "syt_" not in str(caught.value) and "syt_" not in repr(matrix(homeserver))
    assert homeserver.requests == []


@pytest.mark.parametrize(("fields", "error"), [
    ({"room_id": None}, "homeserver, room_id and token_env are needed"),
    ({"homeserver": "matrix.example.org"}, "is not an http"),
    ({"room_id": "#ops:example.org"}, "starts with '!'"),
])  # fmt: skip
def test_channel_settings_are_checked(fields: dict[str, Any], error: str) -> None:
    base = {"name": "m", "kind": "matrix", "homeserver": "https://matrix.example.org", "room_id": ROOM,
            "token_env": "T"}  # fmt: skip
    with pytest.raises(ValueError, match=error):
        ChannelSettings(**{**base, **fields})


def _setup(hs: Homeserver) -> Any:
    channel = matrix_channel(hs)
    s = settings((rule(name="busy", threshold=5, channels=("matrix",)),), (channel,),
                 {"MATRIX_TOKEN": "syt_Ym90_secret"})  # fmt: skip
    return s, build_channels(s)


def _delivery(engine: Engine) -> Any:
    with engine.connect() as conn:
        (row,) = conn.execute(select(deliveries))
    return row


def test_outage_then_a_lost_answer_then_recovery_posts_once(world: Engine, homeserver: Homeserver) -> None:
    """Down (502), then the event is stored but the answer lost (504 from the proxy): the outbox
    retries with the same txnId and the homeserver answers with the first event, posting nothing."""
    s, channels = _setup(homeserver)
    evaluate_rules(world, s.alerts, now=NOW)
    homeserver.answers.append((502, {"errcode": "M_UNKNOWN", "error": "Bad gateway"}, {}))
    assert deliver_pending(world, s.alerts, channels, now=NOW).failed == 1
    homeserver.lose = 1
    assert deliver_pending(world, s.alerts, channels, now=NOW + 61 * S).failed == 1
    assert len(homeserver.events) == 1
    assert deliver_pending(world, s.alerts, channels, now=NOW + 182 * S).sent == 1
    assert deliver_pending(world, s.alerts, channels, now=NOW + timedelta(hours=2)).sent == 0
    row = _delivery(world)
    assert (row.status, row.attempts) == ("sent", 3)
    txns = {unquote(r["path"].rsplit("/", 1)[1]) for r in homeserver.requests}
    assert txns == {f"fire:{row.event_id}"} and len(homeserver.requests) == 3
    (event,) = homeserver.events
    assert event["content"]["body"].startswith("⚠️ Warning: busy: posts 6 >= 5 (all accounts)\n")


def test_retry_after_ms_is_honoured_by_the_outbox(world: Engine, homeserver: Homeserver) -> None:
    """M_LIMIT_EXCEEDED with retry_after_ms 300000: the next try waits 300 s, not 60."""
    s, channels = _setup(homeserver)
    evaluate_rules(world, s.alerts, now=NOW)
    homeserver.answers.append(
        (429, {"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", "retry_after_ms": 300000}, {})
    )
    deliver_pending(world, s.alerts, channels, now=NOW)
    assert _delivery(world).next_attempt_at == NOW + 300 * S
    assert deliver_pending(world, s.alerts, channels, now=NOW + 299 * S).sent == 0
    assert deliver_pending(world, s.alerts, channels, now=NOW + 300 * S).sent == 1
    assert len(homeserver.requests) == 2 and len(homeserver.events) == 1


def test_a_revoked_token_fails_the_delivery_at_once(world: Engine, homeserver: Homeserver) -> None:
    s, channels = _setup(homeserver)
    evaluate_rules(world, s.alerts, now=NOW)
    homeserver.token = "syt_new_token"  # the bot was logged out
    assert deliver_pending(world, s.alerts, channels, now=NOW).failed == 1
    row = _delivery(world)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error.startswith("HTTP 401 M_UNKNOWN_TOKEN: Unknown access token")
    assert json.dumps(row.payload).count("syt_") == 0
