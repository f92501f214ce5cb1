"""Collection settings, as the `[collect]`, `[bluesky]` and `[mastodon]` config tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FeedFilter = Literal["posts_with_replies", "posts_no_replies", "posts_with_media", "posts_and_author_threads"]


@dataclass(frozen=True, slots=True)
class CollectSettings:
    """How much history to fetch and how gently."""

    backfill_days: int = 30  # first run fetches this far back
    refresh_days: int = 7  # posts younger than this get engagement refreshes
    include_replies: bool = True
    include_reposts: bool = True
    timeout_seconds: float = 20.0
    max_retries: int = 4
    concurrency: int = 16  # accounts collected at once, across hosts
    per_host_concurrency: int = 2  # requests in flight to one host
    user_agent: str = "diplomonitor/0.1 (+https://github.com/diplomonitor/diplomonitor)"

    def __post_init__(self) -> None:
        for name in ("backfill_days", "refresh_days", "concurrency", "per_host_concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 or more")


@dataclass(frozen=True, slots=True)
class BlueskySettings:
    """The AppView to read from, and an optional login (password from the environment)."""

    appview_url: str = "https://public.api.bsky.app"
    feed_filter: FeedFilter = "posts_and_author_threads"
    # Bluesky's documented limit is 3000 requests per 5 minutes; stay well under it.
    requests_per_5min: int = 1500
    login_handle: str | None = None
    password_env: str = "DIPLOMONITOR_BLUESKY_APP_PASSWORD"

    def __post_init__(self) -> None:
        if not self.appview_url.startswith(("http://", "https://")):
            raise ValueError("appview_url must start with http:// or https://")
        if self.requests_per_5min < 1:
            raise ValueError("requests_per_5min must be at least 1")


@dataclass(frozen=True, slots=True)
class MastodonSettings:
    """Per-instance politeness; access tokens come from the environment when needed."""

    # Mastodon's default limit is 300 requests per 5 minutes per IP; stay well under it.
    requests_per_5min: int = 200
    scheme: str = "https"  # tests point instances at http://127.0.0.1:PORT
    # Tokens: DIPLOMONITOR_MASTODON_TOKEN_<HOST with dots and dashes as underscores, upper-case>
    token_env_prefix: str = "DIPLOMONITOR_MASTODON_TOKEN_"

    def __post_init__(self) -> None:
        if self.requests_per_5min < 1:
            raise ValueError("requests_per_5min must be at least 1")
        if self.scheme not in ("http", "https"):
            raise ValueError("scheme must be 'http' or 'https'")
