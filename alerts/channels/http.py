"""POSTing JSON to a webhook URL, with httpx errors translated to delivery errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from alerts.errors import ChannelUnavailable, DeliveryRejected


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
    if not url:
        raise ChannelUnavailable(f"environment variable {env} is not set (it holds the URL)")
    try:
        response = http.post(url, json=payload, headers=dict(headers or {}), timeout=timeout)
    except httpx.HTTPError as exc:
        # The URL is a secret (Slack's holds a token): never repeat it in the message.
        reason = str(exc).replace(url, "<url>") or exc.__class__.__name__
        raise ChannelUnavailable(f"{exc.__class__.__name__}: {reason}") from None
    if response.is_success:
        return response
    detail = f"HTTP {response.status_code}: {response.text[:200].strip()}"
    if response.status_code == 429 or response.status_code >= 500:
        raise ChannelUnavailable(detail)
    raise DeliveryRejected(detail)
