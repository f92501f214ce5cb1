"""Slack incoming webhooks, with Block Kit.

Every piece of text that is not ours is escaped for Slack (`&`, `<`, `>`), so a post can
never ping `<!channel>`, mention a user or forge a `<url|label>` link; post excerpts are
also sent `verbatim`, so Slack does not turn bare names (`@channel`, `@everyone`) or URLs
into mentions or links either. Bidi overrides and control characters are removed first.
"""

from __future__ import annotations

from typing import Any

import httpx

from alerts.channels.http import post_json
from alerts.messages import Message, PostRef, Section, clean, safe_url
from alerts.settings import ChannelSettings

MAX_BLOCKS = 50
ICONS = {
    "critical": ":rotating_light:",
    "warning": ":warning:",
    "info": ":information_source:",
    "resolve": ":white_check_mark:",
    "digest": ":newspaper:",
    "test": ":wave:",
}


def slack_escape(text: str) -> str:
    """Text made inert for Slack mrkdwn: only &, < and > are special."""
    return clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_link(url: str | None, label: str) -> str:
    """A `<url|label>` link for an http(s) URL, else the escaped label alone."""
    safe = safe_url(url)
    if safe is None:
        return slack_escape(label)
    return f"<{slack_escape(safe).replace('|', '%7C')}|{slack_escape(label)}>"


def _mrkdwn(text: str, verbatim: bool = False) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text[:3000], "verbatim": verbatim}


def _post_block(p: PostRef, timezone: str) -> dict[str, Any]:
    meta = [slack_link(p.url, p.byline()), *map(slack_escape, p.details(timezone))]
    if safe_url(p.profile_url):
        meta.append(slack_link(p.profile_url, "recent posts"))
    quoted = "\n".join("> " + line for line in slack_escape(p.text).splitlines() or [""])
    return {"type": "section", "text": _mrkdwn(" · ".join(meta) + "\n" + quoted, verbatim=True)}


def _section_blocks(s: Section, timezone: str) -> list[dict[str, Any]]:
    text = f"*{slack_escape(s.heading)}*"
    if s.lines:
        text += "\n" + "\n".join("• " + slack_escape(line) for line in s.lines)
    blocks = [{"type": "section", "text": _mrkdwn(text, verbatim=True)}]
    return blocks + [_post_block(p, timezone) for p in s.posts]


def _icon(message: Message) -> str:
    return ICONS.get(message.severity if message.kind == "fire" else message.kind, "")


def slack_payload(message: Message) -> dict[str, Any]:
    """The webhook body: the notification `text` (severity first) and Block Kit `blocks`."""
    title = f"{_icon(message)} *{slack_escape(message.title)}*".strip()
    blocks: list[dict[str, Any]] = [{"type": "section", "text": _mrkdwn(title)}]
    facts = [_mrkdwn(f"*{slack_escape(k)}*\n{slack_escape(v)}", verbatim=True) for k, v in message.facts]
    for i in range(0, len(facts), 10):  # Slack allows 10 fields per section
        blocks.append({"type": "section", "fields": facts[i : i + 10]})
    for s in message.sections:
        blocks.extend(_section_blocks(s, message.timezone))
    links = [slack_link(url, label) for label, url in message.links if safe_url(url)]
    tail: list[dict[str, Any]] = []
    if links:
        tail.append({"type": "section", "text": _mrkdwn("*Look next:* " + " · ".join(links), verbatim=True)})
    context = slack_escape(f"diplomonitor · {message.severity}")
    if message.mute:
        context += " · mute with `" + slack_escape(message.mute).replace("`", "'") + "`"
    tail.append({"type": "context", "elements": [_mrkdwn(context, verbatim=True)]})
    blocks = blocks[: MAX_BLOCKS - len(tail)] + tail
    return {"text": slack_escape(message.headline()), "blocks": blocks, "unfurl_links": False}


class SlackChannel:
    """Posts to a Slack incoming webhook whose URL is held by an environment variable."""

    def __init__(self, settings: ChannelSettings, url: str | None, http: httpx.Client):
        self.name, self.settings, self._url, self._http = settings.name, settings, url, http

    def send(self, message: Message) -> None:
        post_json(
            self._http,
            self._url,
            slack_payload(message),
            env=self.settings.url_env,
            timeout=self.settings.timeout_seconds,
        )

    def __repr__(self) -> str:
        return f"SlackChannel({self.name!r}, url from ${self.settings.url_env})"
