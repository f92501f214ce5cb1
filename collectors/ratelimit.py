"""Request budgets: a sliding-window limiter, and reading the servers' rate-limit headers."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Send times drift from reservation times by a few milliseconds (thread wake-up, socket
# write); the limiter leaves this much slack so the server never counts more than the budget.
GUARD_SECONDS = 0.05


class WindowLimiter:
    """At most `limit` requests in any window of `window` seconds (not thread-safe: lock outside).

    A budget of N requests per 5 minutes is enforced as N*w/300 per w seconds, so the server's
    5-minute count stays under N and requests are spread out instead of sent in one burst.
    """

    def __init__(self, per_5min: int, window: float):
        self.window = window + GUARD_SECONDS
        self.limit = max(1, math.floor(per_5min * window / 300))
        self._sent: deque[float] = deque()

    def reserve(self, now: float, not_before: float = 0.0) -> float:
        """Book the earliest send time allowed at or after `now`; the caller waits until then."""
        t = max(now, not_before)
        if self._sent:
            t = max(t, self._sent[-1])
        if len(self._sent) >= self.limit:
            t = max(t, self._sent[-self.limit] + self.window)
        self._sent.append(t)
        while len(self._sent) > self.limit:
            self._sent.popleft()
        return t


def retry_after(headers: Mapping[str, str], wall_now: datetime) -> float | None:
    """Seconds a 429/503 asks us to wait (Retry-After as seconds or HTTP date), if it says."""
    value = _get(headers, "retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - wall_now).total_seconds())


def exhausted_for(headers: Mapping[str, str], wall_now: datetime, reserve: int = 0) -> float | None:
    """Seconds until the server's budget resets, when its headers say it is (nearly) spent.

    Reads Bluesky's `ratelimit-remaining`/`ratelimit-reset` (epoch seconds) and Mastodon's
    `X-RateLimit-Remaining`/`X-RateLimit-Reset` (an ISO time, taken relative to `Date`).
    """
    remaining = _get(headers, "ratelimit-remaining") or _get(headers, "x-ratelimit-remaining")
    reset = _get(headers, "ratelimit-reset") or _get(headers, "x-ratelimit-reset")
    if remaining is None or reset is None:
        return None
    try:
        if int(remaining) > reserve:
            return None
    except ValueError:
        return None
    reset_at = _reset_time(reset.strip())
    if reset_at is None:
        return None
    server_now = _server_date(headers) or wall_now
    return max(0.0, (reset_at - server_now).total_seconds())


def _reset_time(value: str) -> datetime | None:
    try:
        if value.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(value), UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _server_date(headers: Mapping[str, str]) -> datetime | None:
    value = _get(headers, "date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _get(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.title()) or headers.get(name.upper())
    if value is None:
        lowered = {k.lower(): v for k, v in headers.items()}
        value = lowered.get(name)
    return value
