"""Microsoft Teams through a Workflows (Power Automate) webhook, posting an Adaptive Card.

The body is what the Workflows template "Send webhook alerts to a channel" expects: a
`message` whose one attachment is an Adaptive Card (schema 1.4, which Teams renders on
desktop, web and mobile). Post text, post bylines and digest lines go in `RichTextBlock`
`TextRun`s, which Adaptive Cards never read as markdown, so a post cannot forge a
`[label](url)` link or bold itself; a mention needs an `<at>` tag *and* an `msteams.entities`
entry, and no card we send has entities. Our own titles, headings and facts use `TextBlock`
and `FactSet`, which Teams reads as markdown: what goes there is escaped first. Links are
`Action.OpenUrl` buttons and `selectAction`s, for http(s) URLs only.

Workflows answers 202 when it accepts a card. 429 (with Retry-After) and 5xx are retried by
the outbox; 400/401/403/404 (bad card, bad signature, flow deleted) fail at once. The URL
holds the flow's signature (`sig=`): it comes from the environment and is never shown.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from alerts.channels.http import idempotency_key, post_json
from alerts.messages import Message, PostRef, Section, clean, safe_url
from alerts.settings import ChannelSettings

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.4"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
COLOURS = {"critical": "Attention", "warning": "Warning", "info": "Accent", "resolve": "Good"}
MAX_ACTIONS = 6
# Markdown that Adaptive Cards render (bold, italic, lists, links), HTML-like tags, and the
# {{DATE()}} / {{TIME()}} functions: escaped with a backslash, as CommonMark allows.
_INLINE = re.compile(r"([\\`*_\[\]<{}~])")
_LEADING = re.compile(r"^(\s*)([-+#>]|\d+[.)])")


def md_escape(text: str) -> str:
    """Text shown literally in a TextBlock or a Fact, which Teams reads as markdown."""
    flat = " ".join(clean(text).split())
    return _LEADING.sub(lambda m: m.group(1) + "\\" + m.group(2), _INLINE.sub(r"\\\1", flat))


def _run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": clean(text), **style}


def _open(url: str, title: str | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "Action.OpenUrl", "url": url}
    return {**action, "title": md_escape(title)} if title else action


def _post(p: PostRef, timezone: str) -> dict[str, Any]:
    url, profile = safe_url(p.url), safe_url(p.profile_url)
    who = _run(p.byline(), weight="Bolder", **({"selectAction": _open(url)} if url else {}))
    meta: list[dict[str, Any]] = [who, *(_run(" · " + d, isSubtle=True) for d in p.details(timezone))]
    if profile:
        meta += [_run(" · ", isSubtle=True), _run("recent posts", selectAction=_open(profile))]
    return {
        "type": "Container",
        "separator": True,
        "items": [
            {"type": "RichTextBlock", "inlines": meta},
            {"type": "RichTextBlock", "inlines": [_run(p.text)]},
        ],
    }


def _section(s: Section, timezone: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": md_escape(s.heading),
            "weight": "Bolder",
            "wrap": True,
            "separator": True,
        }
    ]
    if s.lines:
        runs = [_run(("\n" if i else "") + "• " + line) for i, line in enumerate(s.lines)]
        items.append({"type": "RichTextBlock", "inlines": runs})
    return items + [_post(p, timezone) for p in s.posts]


def adaptive_card(message: Message) -> dict[str, Any]:
    """The Adaptive Card for `message`: title by severity, facts, sections, link buttons."""
    level = message.severity if message.kind == "fire" else message.kind
    title = f"{message.symbol()} {message.headline()}".strip()
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": md_escape(title), "size": "Large", "weight": "Bolder", "wrap": True,
         "color": COLOURS.get(level, "Default")},
    ]  # fmt: skip
    if message.facts:
        facts = [{"title": md_escape(k), "value": md_escape(v)} for k, v in message.facts]
        body.append({"type": "FactSet", "facts": facts})
    for s in message.sections:
        body.extend(_section(s, message.timezone))
    if message.mute:
        runs = [_run("To mute: ", isSubtle=True), _run(message.mute, fontType="Monospace")]
        body.append({"type": "RichTextBlock", "separator": True, "inlines": runs})
    links = [(label, url) for label, url in message.links if safe_url(url)][:MAX_ACTIONS]
    card: dict[str, Any] = {
        "$schema": SCHEMA,
        "type": "AdaptiveCard",
        "version": VERSION,
        "fallbackText": md_escape(message.headline()),
        "body": body,
        "msteams": {"width": "Full"},
    }
    if links:
        card["actions"] = [_open(url, label) for label, url in links]
    return card


def teams_payload(message: Message) -> dict[str, Any]:
    """The Workflows webhook body: a message carrying the card as its one attachment."""
    attachment = {"contentType": CONTENT_TYPE, "contentUrl": None, "content": adaptive_card(message)}
    return {"type": "message", "attachments": [attachment]}


class TeamsChannel:
    """Posts an Adaptive Card to a Teams Workflows webhook whose URL is held by an environment variable."""

    def __init__(self, settings: ChannelSettings, url: str | None, http: httpx.Client):
        self.name, self.settings, self._url, self._http = settings.name, settings, url, http

    def send(self, message: Message) -> None:
        post_json(
            self._http,
            self._url,
            teams_payload(message),
            env=self.settings.url_env,
            timeout=self.settings.timeout_seconds,
            # Teams itself does not deduplicate; a flow can, on this header.
            headers={"Idempotency-Key": idempotency_key(message.key)},
        )

    def __repr__(self) -> str:
        return f"TeamsChannel({self.name!r}, url from ${self.settings.url_env})"
