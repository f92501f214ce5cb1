"""Slack incoming webhooks, with Block Kit.

Every piece of text that is not ours is escaped for Slack (`&`, `<`, `>`), so a post can
never ping `<!channel>`, mention a user or forge a `<url|label>` link; post excerpts are
also sent `verbatim`, so Slack does not turn bare names or URLs into links either.
"""

from __future__ import annotations

from typing import Any

import httpx

from alerts.channels.http import post_json
from alerts.messages import Message, PostRef, Section, safe_url
from alerts.settings import Channel

MAX_BLOCKS = 50
ICONS = {
    "fire": ":rotating_light:",
    "resolve": ":white_check_mark:",
    "digest": ":newspaper:",
    "test": ":wave:",
}


def slack_escape(text: str) -> str:
    """Text made inert for Slack mrkdwn: only &, < and > are special."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_link(url: str | None, label: str) -> str:
    """A `<url|label>` link for an http(s) URL, else the escaped label alone."""
    safe = safe_url(url)
    if safe is None:
        return slack_escape(label)
    return f"<{slack_escape(safe).replace('|', '%7C')}|{slack_escape(label)}>"


def _mrkdwn(text: str, verbatim: bool = False) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text[:3000], "verbatim": verbatim}


def _post_block(p: PostRef) -> dict[str, Any]:
    meta = [slack_link(p.url, p.author)]
    if p.created_at:
        meta.append(slack_escape(p.created_at[:16].replace("T", " ")) + " UTC")
    if p.engagement is not None:
        meta.append(f"{p.engagement} interactions")
    if p.note:
        meta.append(slack_escape(p.note))
    quoted = "\n".join("> " + line for line in slack_escape(p.text).splitlines() or [""])
    return {"type": "section", "text": _mrkdwn(" · ".join(meta) + "\n" + quoted, verbatim=True)}


def _section_blocks(s: Section) -> list[dict[str, Any]]:
    text = f"*{slack_escape(s.heading)}*"
    if s.lines:
        text += "\n" + "\n".join("• " + slack_escape(line) for line in s.lines)
    return [{"type": "section", "text": _mrkdwn(text, verbatim=True)}, *(_post_block(p) for p in s.posts)]


def slack_payload(message: Message) -> dict[str, Any]:
    """The webhook body: a fallback `text` and Block Kit `blocks`."""
    title = f"{ICONS.get(message.kind, '')} *{slack_escape(message.title)}*".strip()
    blocks: list[dict[str, Any]] = [{"type": "section", "text": _mrkdwn(title)}]
    facts = [_mrkdwn(f"*{slack_escape(k)}*\n{slack_escape(v)}", verbatim=True) for k, v in message.facts]
    for i in range(0, len(facts), 10):  # Slack allows 10 fields per section
        blocks.append({"type": "section", "fields": facts[i : i + 10]})
    for s in message.sections:
        blocks.extend(_section_blocks(s))
    blocks = blocks[: MAX_BLOCKS - 1]
    context = f"diplomonitor · {message.severity}"
    blocks.append({"type": "context", "elements": [_mrkdwn(slack_escape(context), verbatim=True)]})
    return {"text": slack_escape(message.title), "blocks": blocks, "unfurl_links": False}


class SlackChannel:
    """Posts to a Slack incoming webhook whose URL is held by an environment variable."""

    def __init__(self, settings: Channel, url: str | None, http: httpx.Client):
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
