"""What can go wrong while collecting, translated once at each adapter.

CollectorError                  base of everything a collector raises
├── TransientError              try the account again later (its backoff applies)
│   ├── HostUnavailable         network errors, timeouts, 5xx after retries, host paused
│   ├── RateLimited             the server asks for a longer pause than we wait in-line
│   └── BadResponse             malformed JSON or an unexpected shape
├── AuthRequired                the server wants a token or login (401, 422, failed login)
├── Gone                        the account is gone; `status` says how (AccountStatus)
└── Stopped                     the process is stopping: a wait for a host was cut short
"""

from __future__ import annotations


class CollectorError(Exception):
    """Base of all collector errors; the message is safe to store and show."""


class TransientError(CollectorError):
    """A failure worth retrying later."""


class HostUnavailable(TransientError):
    """The host did not answer usefully, even after retries."""


class RateLimited(TransientError):
    """The host asked us to wait longer than we wait in-line."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class BadResponse(TransientError):
    """The host answered something we cannot read."""


class AuthRequired(CollectorError):
    """The host requires credentials for this read."""


class Gone(CollectorError):
    """The account cannot be collected: not found, deactivated, suspended, moved."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


class Stopped(CollectorError):
    """The process is stopping: a wait for a host's budget or pause was cut short."""
