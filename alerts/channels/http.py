"""Sending JSON over HTTP, with httpx errors translated to delivery errors."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from alerts.errors import ChannelUnavailable, DeliveryRejected

MAX_RETRY_AFTER = 86400.0  # a server asking for more than a day is not taken at its word


def send_json(
    http: httpx.Client,
    method: str,
    url: str | None,
    payload: Any,
    *,
    env: str | None,
    timeout: float,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """Send `payload` and return the response whatever its status; network errors are transient."""
    if not url:
        raise ChannelUnavailable(f"environment variable {env} is not set (it holds the URL)")
    try:
        return http.request(method, url, json=payload, headers=dict(headers or {}), timeout=timeout)
    except httpx.HTTPError as exc:
        # The URL may be a secret (Slack's and Teams' hold a token): never repeat it in the message.
        reason = str(exc).replace(url, "<url>") or exc.__class__.__name__
        raise ChannelUnavailable(f"{exc.__class__.__name__}: {reason}") from None


def check_status(response: httpx.Response, detail: str | None = None) -> httpx.Response:
    """2xx returns; 429 and 5xx are transient (with the server's Retry-After), other 4xx permanent."""
    if response.is_success:
        return response
    detail = detail or f"HTTP {response.status_code}: {response.text[:200].strip()}"
    if response.status_code == 429 or response.status_code >= 500:
        raise ChannelUnavailable(detail, retry_after=retry_after(response))
    raise DeliveryRejected(detail)


def post_json(
    http: httpx.Client,
    url: str | None,
    payload: Any,
    *,
    env: str | None,
    timeout: float,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST `payload`; 2xx returns, 429/5xx/network errors are transient, other 4xx permanent."""
    response = send_json(http, "POST", url, payload, env=env, timeout=timeout, headers=headers)
    return check_status(response)


def idempotency_key(key: str) -> str:
    """The message key as an ASCII header value (a digest named "presse-été" has a non-ASCII key)."""
    return quote(key, safe=":/@+-._~!$'()*,;=") or "none"


def retry_after(response: httpx.Response, now: datetime | None = None) -> float | None:
    """The Retry-After header in seconds (RFC 9110: delay-seconds or an HTTP date), or None."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
