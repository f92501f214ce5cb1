"""Channels send messages: Slack incoming webhooks, email over SMTP, generic JSON webhooks,
Microsoft Teams Workflows webhooks and Matrix rooms."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

import httpx

from alerts.messages import Message
from alerts.settings import ChannelSettings


class Channel(Protocol):
    """A configured channel.

    `send` delivers one message or raises: `ChannelUnavailable` when trying again later may
    work (the outbox retries with backoff), `DeliveryRejected` when it will not. It never
    retries by itself and never logs secrets.
    """

    name: str

    def send(self, message: Message) -> None: ...


def open_channels(
    configured: Iterable[ChannelSettings], secrets: Mapping[str, str], http: httpx.Client
) -> dict[str, Channel]:
    """One channel per configured one; secrets are looked up by the variable names."""
    from alerts.channels.email import EmailChannel
    from alerts.channels.matrix import MatrixChannel
    from alerts.channels.slack import SlackChannel
    from alerts.channels.teams import TeamsChannel
    from alerts.channels.webhook import WebhookChannel

    by_url: dict[str, type[SlackChannel | WebhookChannel | TeamsChannel]] = {
        "slack": SlackChannel,
        "webhook": WebhookChannel,
        "teams": TeamsChannel,
    }
    out: dict[str, Channel] = {}
    for c in configured:
        if c.kind == "email":
            password = secrets.get(c.password_env) if c.password_env else None
            out[c.name] = EmailChannel(c, password)
        elif c.kind == "matrix":
            out[c.name] = MatrixChannel(c, secrets.get(c.token_env) if c.token_env else None, http)
        else:
            url = secrets.get(c.url_env) if c.url_env else None
            out[c.name] = by_url[c.kind](c, url, http)
    return out
