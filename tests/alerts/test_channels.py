"""Channels against real loopback servers: Slack and webhooks over HTTP, email over SMTP."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime
from typing import Any

import httpx
import pytest

from alerts.channels import build_notifiers
from alerts.channels.slack import slack_escape, slack_link
from alerts.compose import AlertInfo, alert_message
from alerts.errors import ChannelUnavailable, DeliveryRejected
from alerts.messages import PostRef
from alerts.settings import Channel
from tests.alerts.conftest import HOSTILE, Mailbox, Receiver, email_channel, free_port, rule
from tests.conftest import NOW

FORGED = "<https://evil.example|click here>"


def message() -> Any:
    posts = [
        PostRef("fr.bsky.social", HOSTILE, "https://example.org/p/1", NOW.isoformat(), 12, "most negative"),
        PostRef("evil|author", FORGED, "javascript:alert(1)", None, None),
    ]
    r = rule(name="storm <b>", metric="negative_share", threshold=0.4, channels=("slack",))
    info = AlertInfo(7, "group eu", 0.62, 0.62, None, NOW.replace(hour=6), NOW, NOW)
    return alert_message(r, info, posts, kind="fire", key="fire:7")


def notifiers(channel: Channel, secrets: dict[str, str]) -> Any:
    return build_notifiers([channel], secrets, httpx.Client())[channel.name]


def test_slack_escaping_defuses_mentions_scripts_and_forged_links() -> None:
    assert slack_escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert slack_link("https://x.example/a|b>", "<!here>") == "<https://x.example/a%7Cb&gt;|&lt;!here&gt;>"
    assert slack_link("javascript:alert(1)", "label") == "label"


def test_slack_block_kit_through_a_real_http_receiver(receiver: Receiver) -> None:
    slack = notifiers(Channel(name="slack", kind="slack", url_env="SLACK_URL"), {"SLACK_URL": receiver.url})
    slack.send(message())
    (request,) = receiver.requests
    assert request["path"] == "/services/T0/B0/secret-token"
    body = receiver.json()
    raw = request["body"]
    for hostile in ("<!channel>", "<@U123>", "<script>", FORGED, "<b>"):
        assert hostile not in raw  # not even inside JSON strings
    texts = [b["text"]["text"] for b in body["blocks"] if "text" in b]
    assert texts[0] == ":rotating_light: *storm &lt;b&gt;: negative share 62% &gt;= 40% (group eu)*"
    post = next(t for t in texts if "fr.bsky.social" in t)
    assert post.startswith(
        "<https://example.org/p/1|fr.bsky.social> · 2026-10-15 12:00 UTC · 12 interactions"
    )
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt; &lt;script&gt;" in post
    forged = next(t for t in texts if "evil|author" in t)
    assert forged.startswith("evil|author\n")  # no link for a javascript: URL
    assert "&lt;https://evil.example|click here&gt;" in forged
    fields = [f["text"] for b in body["blocks"] for f in b.get("fields", [])]
    assert "*Condition*\nnegative share 62% &gt;= 40%" in fields and "*Scope*\ngroup eu" in fields
    assert body["text"] == "storm &lt;b&gt;: negative share 62% &gt;= 40% (group eu)"


def test_webhook_posts_the_message_as_json_with_an_idempotency_key(receiver: Receiver) -> None:
    hook = notifiers(Channel(name="hook", kind="webhook", url_env="HOOK", headers={"X-Team": "press"}),
                     {"HOOK": receiver.url})  # fmt: skip
    hook.send(message())
    headers = {k.lower(): v for k, v in receiver.requests[0]["headers"].items()}
    assert (headers["idempotency-key"], headers["x-team"]) == ("fire:7", "press")
    body = receiver.json()
    assert body["data"]["value"] == 0.62 and body["data"]["rule"] == "storm <b>"
    assert body["facts"]["Scope"] == "group eu"
    assert body["sections"][0]["posts"][0]["text"] == " ".join(HOSTILE.split())  # raw: the receiver escapes


@pytest.mark.parametrize(("status", "error"), [(500, ChannelUnavailable), (429, ChannelUnavailable),
                                               (404, DeliveryRejected), (400, DeliveryRejected)])  # fmt: skip
def test_http_errors_are_translated(receiver: Receiver, status: int, error: type[Exception]) -> None:
    receiver.status, receiver.body = status, "no_service"
    slack = notifiers(Channel(name="slack", kind="slack", url_env="SLACK_URL"), {"SLACK_URL": receiver.url})
    with pytest.raises(error, match=f"HTTP {status}: no_service"):
        slack.send(message())


def test_unreachable_or_unset_url_is_transient_and_never_shows_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T0/B0/secret-token"
    slack = notifiers(Channel(name="slack", kind="slack", url_env="SLACK_URL"), {"SLACK_URL": url})
    with pytest.raises(ChannelUnavailable) as caught:
        slack.send(message())
    assert "secret-token" not in str(caught.value)
    unset = notifiers(Channel(name="slack", kind="slack", url_env="SLACK_URL"), {})
    with pytest.raises(ChannelUnavailable, match="SLACK_URL is not set"):
        unset.send(message())
    assert "secret-token" not in repr(slack)


def test_email_with_tls_and_login_to_several_recipients(smtp: tuple[str, Mailbox]) -> None:
    security, box = smtp
    mail = notifiers(email_channel(security, box), {"SMTP_PASSWORD": "s3cret"})
    mail.send(message())
    (envelope,) = box.messages
    assert box.logins == ["monitor"]
    assert envelope.rcpt_tos == ["press@example.org", "desk@example.org"]
    parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert parsed["Subject"] == "[warning] storm <b>: negative share 62% >= 40% (group eu)"
    assert parsed["To"] == "press@example.org, desk@example.org"
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert HOSTILE.split()[2] in plain and "https://example.org/p/1" in plain
    assert "javascript:" not in plain and "javascript:" not in html
    for hostile in ("<!channel>", "<script>", "<https://evil", "<b>"):
        assert hostile not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<a href="https://example.org/p/1">fr.bsky.social</a>' in html
    assert "storm &lt;b&gt;" in html


def test_email_errors_are_translated(smtp: tuple[str, Mailbox]) -> None:
    security, box = smtp
    wrong = notifiers(email_channel(security, box), {"SMTP_PASSWORD": "wrong"})
    with pytest.raises(DeliveryRejected, match="SMTP login refused: 535"):
        wrong.send(message())
    unset = notifiers(email_channel(security, box), {})
    with pytest.raises(ChannelUnavailable, match="SMTP_PASSWORD is not set"):
        unset.send(message())
    untrusted = notifiers(email_channel(security, box, ca_file=None), {"SMTP_PASSWORD": "s3cret"})
    with pytest.raises(ChannelUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        untrusted.send(message())
    down = notifiers(email_channel(security, Mailbox(free_port(), box.cert)), {"SMTP_PASSWORD": "s3cret"})
    with pytest.raises(ChannelUnavailable, match="ConnectionRefusedError"):
        down.send(message())
    assert box.messages == []


def test_message_round_trips_through_json() -> None:
    m = message()
    assert type(m).from_dict(m.to_dict()) == m
    assert m.key == "fire:7" and isinstance(datetime.fromisoformat(m.data["opened_at"]), datetime)
