"""Arbitrary Unicode post text and author names through every channel's rendering: nothing raises,
everything encodes as UTF-8, and no channel lets the text open a tag, a link or a mention.

Texts mix any code point (lone surrogates, controls, bidi overrides included) with fragments
that are live somewhere: Slack `<!channel>`, markdown links, HTML, `@room`, `<at>`, {{DATE}}.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from html import escape
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.channels.email import build_email
from alerts.channels.matrix import event_content
from alerts.channels.slack import slack_payload
from alerts.channels.teams import teams_payload
from alerts.channels.webhook import webhook_payload
from alerts.messages import Message, PostRef, Section, clean, safe_url
from tests.alerts.receivers import walk
from tests.alerts.samples import POST, alert
from tests.alerts.test_channels_matrix import Tags, html_problems
from tests.conftest import NOW

FRAGMENTS = [
    "<!channel>", "<!here>", "<@U123>", "<https://evil.example|click>", "[x](https://evil.example)",
    "<script>alert(1)</script>", "<a href='https://evil.example'>x</a>", "@room", "@ROOM", "@everyone",
    "<at>Boss</at>", "{{DATE(2017-02-14T06:00:00Z)}}", "**b**", "_i_", "`c`", "&amp;", "&lt;", "\u202e",
    "\u2066", "\x00", "\r\n", "\ud800", "> ", "- ", "1. ", "# ", "\\", "|", "]", "(", "مرحبا", "سلام",
]  # fmt: skip
ANY_CHAR = st.characters(exclude_categories=())  # surrogates too
TEXT = st.lists(st.one_of(st.text(ANY_CHAR, max_size=12), st.sampled_from(FRAGMENTS)), max_size=10).map(
    "".join
)
URLS = st.sampled_from(
    [None, "https://bsky.app/profile/a.bsky.social/post/3k", "javascript:alert(1)",
     "https://evil.example/a|b>c<d", "http://x.example/\u202eabc", "https://[::1"]
)  # fmt: skip
EMAIL_TAGS = {"html", "body", "h2", "h3", "table", "tr", "th", "td", "ul", "li", "div", "blockquote", "a",
              "p", "code"}  # fmt: skip
_SLACK_LINK = re.compile(r"<https?://[^<>|\s]*\|[^<>]*>")
_MD_LIVE = re.compile(r"(?<!\\)[\[\]<*_`{}]")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def messages(text: str, name: str, url: str | None) -> list[Message]:
    post = replace(POST, text=text, name=name or None, url=url, profile_url=url)
    other = PostRef(name or "x", text, url)
    digest = Message("digest", "digest", "info", (("Period", "p"),),
                     (Section("Alerts", lines=(text, name)), Section("Top posts", posts=(post, other))),
                     key="digest:d:2026-10-15T08:00:00+00:00", timezone="Europe/Paris")  # fmt: skip
    return [alert(posts=(post, other)), alert("critical", posts=(post,)), digest]


def urls_in(m: Message) -> set[str]:
    found = {url for p in m.posts() for url in (p.url, p.profile_url)} | {u for _, u in m.links}
    return {u for u in found if safe_url(u)}


def utf8_json(payload: Any) -> str:
    """Encoded as httpx encodes a JSON body (UTF-8, raw characters): raises on a lone surrogate."""
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return data.decode("utf-8")


@FUZZ
@given(TEXT, TEXT, URLS)
def test_slack(text: str, name: str, url: str | None) -> None:
    for m in messages(text, name, url):
        raw = utf8_json(payload := slack_payload(m))
        assert "\u202e" not in raw
        texts = [payload["text"]] + [
            t["text"]
            for b in payload["blocks"]
            for t in [b.get("text") or {}, *b.get("fields", []), *b.get("elements", [])]
            if t
        ]
        for t in texts:
            links = _SLACK_LINK.findall(t)
            assert {link[1:].split("|")[0].replace("&amp;", "&") for link in links} <= {
                u.replace("|", "%7C").replace("<", "&lt;").replace(">", "&gt;") for u in urls_in(m)
            }
            assert "<" not in _SLACK_LINK.sub("", t)  # no <!channel>, <@U1> or <url|label> of theirs


@FUZZ
@given(TEXT, TEXT, URLS)
def test_email(text: str, name: str, url: str | None) -> None:
    for m in messages(text, name, url):
        mail = build_email(m, "dm@example.org", ("press@example.org",), NOW)
        mail.as_bytes()
        html = mail.get_body(("html",)).get_content()
        parser = Tags()
        parser.feed(html)
        assert {t for t, _ in parser.tags} <= EMAIL_TAGS
        assert {a["href"] for t, a in parser.tags if t == "a"} <= {
            escape(u, quote=False) for u in urls_in(m)
        } | urls_in(m)
        assert escape(clean(text)) in html and "\u202e" not in html
        assert all(a.get("dir") == "auto" for t, a in parser.tags if t == "blockquote")


@FUZZ
@given(TEXT, TEXT, URLS)
def test_teams(text: str, name: str, url: str | None) -> None:
    for m in messages(text, name, url):
        payload = teams_payload(m)
        raw = utf8_json(payload)
        assert "\u202e" not in raw and "entities" not in raw
        card = payload["attachments"][0]["content"]
        markdown = [e["text"] for e in walk(card["body"]) if e["type"] == "TextBlock"]
        markdown += [
            v for e in walk(card["body"]) if e["type"] == "FactSet" for f in e["facts"] for v in f.values()
        ]
        markdown += [card["fallbackText"], *(a["title"] for a in card.get("actions", []))]
        assert [t for t in markdown if _MD_LIVE.search(t)] == []
        runs = [r for e in walk(card["body"]) if e["type"] == "RichTextBlock" for r in e["inlines"]]
        assert clean(text) in [r["text"] for r in runs]
        targets = {a["url"] for a in card.get("actions", [])} | {r["selectAction"]["url"] for r in runs
                                                                  if "selectAction" in r}  # fmt: skip
        assert targets <= urls_in(m)


@FUZZ
@given(TEXT, TEXT, URLS)
def test_matrix(text: str, name: str, url: str | None) -> None:
    for m in messages(text, name, url):
        content = event_content(m)
        utf8_json(content)
        assert content["m.mentions"] == {}
        assert html_problems(content["formatted_body"]) == []
        parser = Tags()
        parser.feed(content["formatted_body"])
        assert {a["href"] for t, a in parser.tags if t == "a"} <= urls_in(m)
        for body in (content["body"], content["formatted_body"]):
            assert "@room" not in body.lower() and "\u202e" not in body


@FUZZ
@given(TEXT, TEXT, URLS)
def test_webhook(text: str, name: str, url: str | None) -> None:
    for m in messages(text, name, url):
        body = json.loads(utf8_json(webhook_payload(m)))
        posted = body["sections"][-1]["posts"][0]["text"]
        assert posted == re.sub("[\ud800-\udfff]", "\ufffd", text)  # raw, only made encodable
