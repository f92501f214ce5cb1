"""Collection settings, as the `[collect]`, `[bluesky]` and `[mastodon]` config tables."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

# getAuthorFeed filters that keep whole posts (the media-only filters drop text posts and reposts).
FeedFilter = Literal["posts_with_replies", "posts_and_author_threads", "posts_no_replies"]


@dataclass(frozen=True, slots=True)
class CollectSettings:
    """How much history to fetch and how gently."""

    backfill_days: int = 30  # first run fetches this far back
    refresh_days: int = 7  # posts younger than this get engagement refreshes
    # Replies to other accounts; an account's own threads (replies to itself) are always kept.
    include_replies: bool = True
    include_reposts: bool = True
    timeout_seconds: float = 20.0
    max_retries: int = 4
    concurrency: int = 16  # accounts collected at once, across hosts
    per_host_concurrency: int = 2  # requests in flight to one host
    user_agent: str = "diplomonitor/0.1 (+https://github.com/diplomonitor/diplomonitor)"
    retry_base_seconds: float = 1.0  # first retry of a 5xx/network error; doubles, jittered
    retry_max_seconds: float = 60.0
    max_wait_seconds: float = 120.0  # longest Retry-After / rate-limit reset waited for in-line
    budget_window_seconds: float = 10.0  # the per-host budget is enforced over windows this long
    host_failure_threshold: int = 3  # requests failing after all retries before a host pauses
    host_cooldown_seconds: float = 60.0  # how long a failing host is left alone
    gone_recheck_hours: float = 24.0  # deactivated, suspended or missing accounts: re-checked this often
    failure_backoff_minutes: float = 5.0  # first retry of a failing account; doubles up to a day

    def __post_init__(self) -> None:
        for name in (
            "backfill_days",
            "refresh_days",
            "concurrency",
            "per_host_concurrency",
            "host_failure_threshold",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in (
            "timeout_seconds",
            "retry_base_seconds",
            "retry_max_seconds",
            "max_wait_seconds",
            "budget_window_seconds",
            "host_cooldown_seconds",
            "gone_recheck_hours",
            "failure_backoff_minutes",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 or more")


@dataclass(frozen=True, slots=True)
class BlueskySettings:
    """The AppView to read from, and an optional login (password from the environment).

    URLs name the server, with or without its `/xrpc` path: both read the same.
    """

    appview_url: str = "https://public.api.bsky.app"
    # None: [collect] include_replies decides (see collectors.bluesky.author_feed_filter).
    feed_filter: FeedFilter | None = None
    page_size: int = 100  # feed items per getAuthorFeed request; the AppView serves at most 100
    # Bluesky's documented limit is 3000 requests per 5 minutes; stay well under it.
    requests_per_5min: int = 1500
    login_handle: str | None = None
    password_env: str = "DIPLOMONITOR_BLUESKY_APP_PASSWORD"
    login_url: str = "https://bsky.social"  # the PDS to log in at (the AppView serves no logins)
    # Optional file keeping the login session across restarts (refreshed, never a new login per poll).
    session_file: str | None = None

    def __post_init__(self) -> None:
        for name in ("appview_url", "login_url"):
            url = getattr(self, name)
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{name} must start with http:// or https://")
            # The SDK adds /xrpc itself, and doubles it after a trailing slash: keep the bare server.
            object.__setattr__(self, name, url.rstrip("/").removesuffix("/xrpc").rstrip("/"))
        if self.requests_per_5min < 1:
            raise ValueError("requests_per_5min must be at least 1")
        if not 1 <= self.page_size <= 100:
            raise ValueError("page_size must be between 1 and 100")


@dataclass(frozen=True, slots=True)
class MastodonSettings:
    """Per-instance politeness; access tokens come from the environment when needed."""

    # Mastodon's default limit is 300 requests per 5 minutes per IP; stay well under it.
    requests_per_5min: int = 200
    scheme: str = "https"  # tests point instances at http://127.0.0.1:PORT
    # Tokens: DIPLOMONITOR_MASTODON_TOKEN_<HOST with dots and dashes as underscores, upper-case>
    token_env_prefix: str = "DIPLOMONITOR_MASTODON_TOKEN_"
    # Instance host -> API base URL, where the API is not at SCHEME://HOST (proxies, tests).
    instance_urls: dict[str, str] = field(default_factory=dict)
    page_size: int = 40  # statuses per request; Mastodon serves at most 40

    def __post_init__(self) -> None:
        if self.requests_per_5min < 1:
            raise ValueError("requests_per_5min must be at least 1")
        if self.scheme not in ("http", "https"):
            raise ValueError("scheme must be 'http' or 'https'")
        if not 1 <= self.page_size <= 40:
            raise ValueError("page_size must be between 1 and 40")
        for host, url in self.instance_urls.items():
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"instance_urls {host!r} must start with http:// or https://")

    def base_url(self, instance: str) -> str:
        """Where the API of a home instance lives."""
        return self.instance_urls.get(instance, f"{self.scheme}://{instance}").rstrip("/")

    def token_env(self, instance: str) -> str:
        """The environment variable that may hold an access token for an instance."""
        return self.token_env_prefix + re.sub(r"[^A-Za-z0-9]", "_", instance).upper()
