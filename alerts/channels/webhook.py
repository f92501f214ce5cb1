"""A generic JSON webhook: the message as JSON, with its key as an idempotency header.

The text stays raw (the receiver escapes it for wherever it shows it), except lone
surrogates, which UTF-8 cannot carry: they become U+FFFD.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from alerts.channels.http import idempotency_key, post_json
from alerts.messages import Message
from alerts.settings import ChannelSettings

_SURROGATE = re.compile("[\ud800-\udfff]")


def _utf8(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_utf8(k): _utf8(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_utf8(v) for v in value]
    return value


def webhook_payload(message: Message) -> dict[str, Any]:
    """The JSON body: the message's fields, facts as an object, and its machine-readable data."""
    body = message.to_dict()
    body["facts"] = dict(message.facts)
    return _utf8(body)  # type: ignore[no-any-return]


class WebhookChannel:
    """POSTs each message as JSON to a URL held by an environment variable."""

    def __init__(self, settings: ChannelSettings, url: str | None, http: httpx.Client):
        self.name, self.settings, self._url, self._http = settings.name, settings, url, http

    def send(self, message: Message) -> None:
        headers = {**self.settings.headers, "Idempotency-Key": idempotency_key(message.key)}
        post_json(
            self._http,
            self._url,
            webhook_payload(message),
            env=self.settings.url_env,
            timeout=self.settings.timeout_seconds,
            headers=headers,
        )

    def __repr__(self) -> str:
        return f"WebhookChannel({self.name!r}, url from ${self.settings.url_env})"
