"""A generic JSON webhook: the message as JSON, with its key as an idempotency header."""

from __future__ import annotations

from typing import Any

import httpx

from alerts.channels.http import post_json
from alerts.messages import Message
from alerts.settings import Channel


def webhook_payload(message: Message) -> dict[str, Any]:
    """The JSON body: the message's fields, facts as an object, and its machine-readable data."""
    body = message.to_dict()
    body["facts"] = dict(message.facts)
    return body


class WebhookChannel:
    """POSTs each message as JSON to a URL held by an environment variable."""

    def __init__(self, settings: Channel, url: str | None, http: httpx.Client):
        self.name, self.settings, self._url, self._http = settings.name, settings, url, http

    def send(self, message: Message) -> None:
        headers = {**self.settings.headers, "Idempotency-Key": message.key or "none"}
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
