"""What can go wrong when a channel sends a message.

    DeliveryError            a message was not delivered (base)
    ├── ChannelUnavailable   transient: network down, timeout, HTTP 429/5xx, SMTP 4xx,
    │                        Matrix M_LIMIT_EXCEEDED, a secret not set yet; the outbox retries
    │                        with backoff, and not before `retry_after` when the server said so
    └── DeliveryRejected     permanent: HTTP 4xx, SMTP 5xx, bad credentials, Matrix M_FORBIDDEN
                             or M_UNKNOWN_TOKEN; the outbox marks the delivery failed and says why

Third-party errors (httpx, smtplib, ssl) are translated once, in the channel that meets them.
"""

from __future__ import annotations


class DeliveryError(Exception):
    """A message was not delivered; the message says why, without secrets."""


class ChannelUnavailable(DeliveryError):
    """The channel cannot take the message now; trying again later may succeed.

    `retry_after` is the wait in seconds the server asked for (HTTP Retry-After, Matrix
    `retry_after_ms`), or None when it did not say.
    """

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class DeliveryRejected(DeliveryError):
    """The channel refused the message; trying again will not help until the config changes."""
