"""Channels against real loopback servers: Slack and webhooks over HTTP, email over SMTP."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
import pytest

from alerts.channels import open_channels
from alerts.channels.email import build_email
from alerts.channels.http import retry_after
from alerts.channels.slack import slack_escape, slack_link, slack_payload
from alerts.compose import AlertInfo, alert_message
from alerts.errors import ChannelUnavailable, DeliveryRejected
from alerts.messages import PostRef
from alerts.settings import ChannelSettings
from tests.alerts.conftest import HOSTILE, Mailbox, Receiver, email_channel, free_port, rule
from tests.conftest import NOW

FORGED = "<https://evil.example|click here>"


def message(severity: str = "warning") -> Any:
    posts = [
        PostRef("fr.bsky.social", HOSTILE + " \u202eevil", "https://example.org/p/1", NOW.isoformat(), 12,
                "most negative", name="France Diplomatie", country="FR", account_kind="ministry",
                profile_url="https://bsky.app/profile/fr.bsky.social"),
        PostRef("evil|author", FORGED, "javascript:alert(1)", None, None),
    ]  # fmt: skip
    r = rule(name="storm <b>", metric="negative_share", threshold=0.4, channels=("slack",), severity=severity,
             timezone="Europe/Paris")  # fmt: skip
    info = AlertInfo(7, "group eu", 0.62, 0.62, None, NOW.replace(hour=6), NOW, NOW)
    return alert_message(r, info, posts, kind="fire", key="fire:7", dashboard_url="https://dash.example.org/")


def notifiers(channel: ChannelSettings, secrets: dict[str, str]) -> Any:
    return open_channels([channel], secrets, httpx.Client())[channel.name]


def test_slack_escaping_defuses_mentions_scripts_and_forged_links() -> None:
    assert slack_escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert slack_link("https://x.example/a|b>", "<!here>") == "<https://x.example/a%7Cb&gt;|&lt;!here&gt;>"
    assert slack_link("javascript:alert(1)", "label") == "label"


def test_slack_block_kit_through_a_real_http_receiver(receiver: Receiver) -> None:
    slack = notifiers(
        ChannelSettings(name="slack", kind="slack", url_env="SLACK_URL"), {"SLACK_URL": receiver.url}
    )
    slack.send(message())
    (request,) = receiver.requests
    assert request["path"] == "/services/T0/B0/secret-token"
    body = receiver.json()
    raw = request["body"]
    for hostile in ("<!channel>", "<@U123>", "<script>", FORGED, "<b>", "\\u202e"):
        assert hostile not in raw  # not even inside JSON strings
    texts = [b["text"]["text"] for b in body["blocks"] if "text" in b]
    assert texts[0] == ":warning: *storm &lt;b&gt;: negative share 62% &gt;= 40% (group eu)*"
    post = next(t for t in texts if "fr.bsky.social" in t)
    assert post.startswith(
        "<https://example.org/p/1|France Diplomatie (FR, ministry) @fr.bsky.social> · "
        "2026-10-15 14:00 CEST (12:00 UTC) · 12 interactions · most negative · "
        "<https://bsky.app/profile/fr.bsky.social|recent posts>\n"
    )
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt; &lt;script&gt;" in post
    forged = next(t for t in texts if "evil|author" in t)
    assert forged.startswith("@evil|author\n")  # no link for a javascript: URL
    assert "&lt;https://evil.example|click here&gt;" in forged
    fields = [f["text"] for b in body["blocks"] for f in b.get("fields", [])]
    assert "*Condition*\nnegative share 62% &gt;= 40%" in fields and "*Scope*\ngroup eu" in fields
    assert "*Window*\n2026-10-15 08:00 – 2026-10-15 14:00 CEST (06:00 – 12:00 UTC)" in fields
    assert texts[-1] == (
        "*Look next:* <https://example.org/p/1|The post> · "
        "<https://bsky.app/profile/fr.bsky.social|Recent posts of France Diplomatie> · "
        "<https://dash.example.org/|Dashboard>"
    )
    assert body["blocks"][-1]["elements"][0]["text"] == (
        "diplomonitor · warning · mute with `diplomonitor alerts mute 'storm &lt;b&gt;' --hours 24`"
    )
    assert body["text"] == "Warning: storm &lt;b&gt;: negative share 62% &gt;= 40% (group eu)"


@pytest.mark.parametrize(("severity", "icon", "headline"), [
    ("critical", ":rotating_light:", "Critical: "), ("warning", ":warning:", "Warning: "),
    ("info", ":information_source:", "Info: "),
])  # fmt: skip
def test_icon_and_notification_text_follow_severity(severity: str, icon: str, headline: str) -> None:
    """Slack's `text` is what phones show in the notification; only critical gets the siren."""
    payload = slack_payload(message(severity=severity))
    assert payload["blocks"][0]["text"]["text"].startswith(f"{icon} *storm")
    assert payload["text"].startswith(f"{headline}storm")
    resolved = slack_payload(replace(message(severity=severity), kind="resolve", title="Back to normal: x"))
    assert (resolved["text"], resolved["blocks"][0]["text"]["text"]) == (
        "Resolved: Back to normal: x", ":white_check_mark: *Back to normal: x*",
    )  # fmt: skip


def test_webhook_posts_the_message_as_json_with_an_idempotency_key(receiver: Receiver) -> None:
    hook = notifiers(
        ChannelSettings(name="hook", kind="webhook", url_env="HOOK", headers={"X-Team": "press"}),
        {"HOOK": receiver.url},
    )
    hook.send(message())
    headers = {k.lower(): v for k, v in receiver.requests[0]["headers"].items()}
    assert (headers["idempotency-key"], headers["x-team"]) == ("fire:7", "press")
    body = receiver.json()
    assert body["data"]["value"] == 0.62 and body["data"]["rule"] == "storm <b>"
    assert body["facts"]["Scope"] == "group eu"
    assert body["sections"][0]["posts"][0]["text"] == HOSTILE + " \u202eevil"  # raw: the receiver escapes
    assert (
        body["sections"][0]["posts"][0]["name"] == "France Diplomatie" and body["timezone"] == "Europe/Paris"
    )


@pytest.mark.parametrize(("status", "error"), [(500, ChannelUnavailable), (429, ChannelUnavailable),
                                               (404, DeliveryRejected), (400, DeliveryRejected)])  # fmt: skip
def test_http_errors_are_translated(receiver: Receiver, status: int, error: type[Exception]) -> None:
    receiver.status, receiver.body = status, "no_service"
    slack = notifiers(
        ChannelSettings(name="slack", kind="slack", url_env="SLACK_URL"), {"SLACK_URL": receiver.url}
    )
    with pytest.raises(error, match=f"HTTP {status}: no_service") as caught:
        slack.send(message())
    assert getattr(caught.value, "retry_after", None) is None  # the server named no wait


def test_retry_after_in_seconds_or_as_a_date() -> None:
    def wait(value: str) -> float | None:
        return retry_after(httpx.Response(429, headers={"Retry-After": value}), now=NOW)

    assert (wait("30"), wait("Thu, 15 Oct 2026 12:02:00 GMT"), wait("Thu, 15 Oct 2026 11:00:00 GMT")) == (
        30.0, 120.0, 0.0,
    )  # fmt: skip
    assert (wait("soon"), wait("99999999"), retry_after(httpx.Response(503), now=NOW)) == (
        None,
        86400.0,
        None,
    )


def test_unreachable_or_unset_url_is_transient_and_never_shows_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T0/B0/secret-token"
    slack = notifiers(ChannelSettings(name="slack", kind="slack", url_env="SLACK_URL"), {"SLACK_URL": url})
    with pytest.raises(ChannelUnavailable) as caught:
        slack.send(message())
    assert "secret-token" not in str(caught.value)
    unset = notifiers(ChannelSettings(name="slack", kind="slack", url_env="SLACK_URL"), {})
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
    # RFC 5322: "+0000" is UTC; "-0000" (what email.utils.formatdate writes) means "zone unknown".
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", str(parsed["Date"]))
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert HOSTILE.split()[2] in plain and "https://example.org/p/1" in plain
    assert "javascript:" not in plain and "javascript:" not in html
    assert "\u202e" not in plain and "\u202e" not in html
    for hostile in ("<!channel>", "<script>", "<https://evil", "<b>"):
        assert hostile not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<a href="https://example.org/p/1">France Diplomatie (FR, ministry) @fr.bsky.social</a>' in html
    assert re.findall(r"<blockquote dir=\"auto\"[^>]*>", html) and html.count("<blockquote") == 2
    assert html.count('<blockquote dir="auto"') == 2  # Arabic and Persian posts read right to left
    assert "storm &lt;b&gt;" in html
    assert "- France Diplomatie (FR, ministry) @fr.bsky.social · 2026-10-15 14:00 CEST (12:00 UTC)" in plain
    assert plain.endswith(
        "Look next\n---------\n- The post: https://example.org/p/1\n"
        "- Recent posts of France Diplomatie: https://bsky.app/profile/fr.bsky.social\n"
        "- Dashboard: https://dash.example.org/\n\nTo mute: diplomonitor alerts mute 'storm <b>' --hours 24\n"
    )
    assert (
        "<p>To mute: <code>diplomonitor alerts mute &#x27;storm &lt;b&gt;&#x27; --hours 24</code></p>" in html
    )


def test_email_date_is_utc_plus_zero() -> None:
    mail = build_email(message(), "dm@example.org", ("a@example.org",), NOW)
    assert mail["Date"] == "Thu, 15 Oct 2026 12:00:00 +0000"
    resolved = build_email(replace(message(), kind="resolve"), "dm@example.org", ("a@example.org",), NOW)
    assert resolved["Subject"].startswith("[resolved] ")


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
