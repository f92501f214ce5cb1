"""What can go wrong when a channel sends a message.

    DeliveryError            a message was not delivered (base)
    ├── ChannelUnavailable   transient: network down, timeout, HTTP 429/5xx, SMTP 4xx,
    │                        a secret not set yet; the outbox retries with backoff
    └── DeliveryRejected     permanent: HTTP 4xx, SMTP 5xx, bad credentials; the outbox
                             marks the delivery failed and says why

Third-party errors (httpx, smtplib, ssl) are translated once, in the channel that meets them.
"""

from __future__ import annotations


class DeliveryError(Exception):
    """A message was not delivered; the message says why, without secrets."""


class ChannelUnavailable(DeliveryError):
    """The channel cannot take the message now; trying again later may succeed."""


class DeliveryRejected(DeliveryError):
    """The channel refused the message; trying again will not help until the config changes."""
