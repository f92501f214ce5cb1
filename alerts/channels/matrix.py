"""Matrix through the client-server API: one `m.room.message` per message, sent as a bot account.

`PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}` with the message key as
the transaction id: the homeserver treats a request with the same txnId and path from the
same device as a retransmission and answers with the first event's id instead of posting
again, so a retried delivery (a lost response, a sender that died) cannot post twice.

The content has a plain `body` and a `formatted_body` in `org.matrix.custom.html` that uses
only tags from the spec's recommended list (`p`, `strong`, `em`, `h4`, `ul`, `li`,
`blockquote`, `a href`, `code`, `br`, `span data-mx-color`), every piece of text HTML-escaped.
An empty `m.mentions` says the message mentions no one, so neither `@room` nor a display name
in a post can ping a room (and `@room` is also broken with a word joiner for homeservers
older than intentional mentions). Alerts that fire at warning or critical are `m.text`; the
rest are `m.notice`, which the default push rules keep silent.

Errors: 429 / `M_LIMIT_EXCEEDED` wait for Retry-After or `retry_after_ms`; `M_FORBIDDEN`,
`M_UNKNOWN_TOKEN`, `M_MISSING_TOKEN`, `M_NOT_FOUND`, `M_BAD_JSON`, `M_NOT_JSON` and
`M_TOO_LARGE` are permanent; otherwise 5xx is transient and other 4xx permanent.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any
from urllib.parse import quote

import httpx

from alerts.channels.http import check_status, retry_after, send_json
from alerts.errors import ChannelUnavailable, DeliveryRejected
from alerts.messages import Message, PostRef, Section, clean, safe_url
from alerts.settings import ChannelSettings

COLOURS = {"critical": "#b00020", "warning": "#b26a00", "info": "#1f5fa8", "resolve": "#2e7d32"}
PERMANENT = {
    "M_FORBIDDEN": "the bot account may not post in this room (invite it, or raise its power level)",
    "M_UNKNOWN_TOKEN": "the access token was not recognised (logged out or expired: make a new one)",
    "M_MISSING_TOKEN": "no access token reached the homeserver",
    "M_NOT_FOUND": "no such room on this homeserver",
    "M_BAD_JSON": "the homeserver refused the event's content",
    "M_NOT_JSON": "the homeserver refused the event's content",
    "M_TOO_LARGE": "the event is larger than the homeserver accepts",
}
_ROOM_PING = re.compile(r"@(room)", re.IGNORECASE)


def _defuse(text: str) -> str:
    return _ROOM_PING.sub("@\u2060\\1", clean(text))


def _h(text: str) -> str:
    return escape(_defuse(text), quote=True)


def _a(url: str, label: str) -> str:
    return f'<a href="{escape(url, quote=True)}">{_h(label)}</a>'


def _post_html(p: PostRef, timezone: str) -> str:
    url, profile = safe_url(p.url), safe_url(p.profile_url)
    meta = [_a(url, p.byline()) if url else _h(p.byline()), *map(_h, p.details(timezone))]
    if profile:
        meta.append(_a(profile, "recent posts"))
    return f"<li>{' · '.join(meta)}<blockquote>{_h(p.text)}</blockquote></li>"


def _section_html(s: Section, timezone: str) -> str:
    out = f"<h4>{_h(s.heading)}</h4>"
    items = [f"<li>{_h(line)}</li>" for line in s.lines] + [_post_html(p, timezone) for p in s.posts]
    return out + (f"<ul>{''.join(items)}</ul>" if items else "")


def formatted_body(message: Message) -> str:
    """The HTML body, with only tags from the spec's recommended list."""
    level = message.severity if message.kind == "fire" else message.kind
    title = _h(f"{message.symbol()} {message.headline()}".strip())
    colour = COLOURS.get(level)
    parts = [f'<p><strong><span data-mx-color="{colour}">{title}</span></strong></p>' if colour
             else f"<p><strong>{title}</strong></p>"]  # fmt: skip
    if message.facts:
        parts.append(
            "<p>" + "<br>".join(f"<strong>{_h(k)}:</strong> {_h(v)}" for k, v in message.facts) + "</p>"
        )
    parts += [_section_html(s, message.timezone) for s in message.sections]
    links = [_a(url, label) for label, url in message.links if safe_url(url)]
    if links:
        parts.append("<p><strong>Look next:</strong> " + " · ".join(links) + "</p>")
    if message.mute:
        parts.append(f"<p><em>To mute:</em> <code>{_h(message.mute)}</code></p>")
    return "".join(parts)


def plain_body(message: Message) -> str:
    """The plain `body`: what notifications and clients without HTML show."""
    lines = [f"{message.symbol()} {message.headline()}".strip()]
    lines += [f"{k}: {v}" for k, v in message.facts]
    for s in message.sections:
        lines += ["", s.heading, *(f"- {line}" for line in s.lines)]
        for p in s.posts:
            lines.append("- " + " · ".join([p.byline(), *p.details(message.timezone)]))
            lines += [f"  {url}" for url in (safe_url(p.url), safe_url(p.profile_url)) if url]
            lines.append(f"  > {p.text}")
    links = [f"{label}: {url}" for label, url in message.links if safe_url(url)]
    if links:
        lines += ["", "Look next:", *(f"- {link}" for link in links)]
    if message.mute:
        lines += ["", f"To mute: {message.mute}"]
    return "\n".join(_defuse(line) for line in lines)


def event_content(message: Message) -> dict[str, Any]:
    """The `m.room.message` content: m.text for warning and critical alerts, else m.notice."""
    loud = message.kind == "fire" and message.severity in ("warning", "critical")
    return {
        "msgtype": "m.text" if loud else "m.notice",
        "body": plain_body(message),
        "format": "org.matrix.custom.html",
        "formatted_body": formatted_body(message),
        "m.mentions": {},
    }


def send_path(room_id: str, txn_id: str) -> str:
    """The send endpoint's path, room id and transaction id percent-encoded."""
    return f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/send/m.room.message/{quote(txn_id, safe='')}"


def _raise_for(response: httpx.Response, room_id: str) -> None:
    try:
        error = response.json()
    except ValueError:
        error = {}
    error = error if isinstance(error, dict) else {}
    code, text = str(error.get("errcode") or ""), str(error.get("error") or "")[:200]
    detail = f"HTTP {response.status_code} {code or 'no errcode'}: {text}".strip()
    if code == "M_LIMIT_EXCEEDED" or response.status_code == 429:
        wait = retry_after(response)
        if wait is None and isinstance(error.get("retry_after_ms"), int | float):
            wait = max(float(error["retry_after_ms"]) / 1000, 0.0)
        raise ChannelUnavailable(detail, retry_after=wait)
    if code in PERMANENT:
        raise DeliveryRejected(f"{detail} ({PERMANENT[code]}; room {room_id})")
    if code == "M_RESOURCE_LIMIT_EXCEEDED":  # the homeserver is full until its admin acts
        raise ChannelUnavailable(detail)
    check_status(response, detail)


class MatrixChannel:
    """Sends to one Matrix room as the account whose access token an environment variable holds."""

    def __init__(self, settings: ChannelSettings, token: str | None, http: httpx.Client):
        self.name, self.settings, self._token, self._http = settings.name, settings, token, http

    def send(self, message: Message) -> None:
        s = self.settings
        if not self._token:
            raise ChannelUnavailable(f"environment variable {s.token_env} is not set (Matrix access token)")
        url = (s.homeserver or "").rstrip("/") + send_path(s.room_id or "", message.key or message.title)
        headers = {"Authorization": f"Bearer {self._token}"}
        response = send_json(
            self._http,
            "PUT",
            url,
            event_content(message),
            env=None,
            timeout=s.timeout_seconds,
            headers=headers,
        )
        if not response.is_success:
            _raise_for(response, s.room_id or "")

    def __repr__(self) -> str:
        return f"MatrixChannel({self.name!r}, {self.settings.room_id} on {self.settings.homeserver})"
