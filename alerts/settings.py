"""Alert rules and channels, as the `[[alerts.rules]]` and `[alerts.channels.NAME]` tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Metric = Literal[
    "post_count",
    "negative_share",
    "mean_sentiment",
    "topic_share",
    "engagement_total",
    "engagement_median",
    "overperformance",
    "silence",
    "keyword",
]
ScopeKind = Literal["all", "account", "group", "country", "topic", "platform"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule: a metric over a window, compared with a threshold or its own baseline."""

    name: str
    metric: Metric
    threshold: float
    scope: ScopeKind = "all"
    scope_value: str | None = None  # the account handle, group, country, topic or platform
    window_hours: float = 24.0
    comparison: Literal[">", ">=", "<", "<="] = ">="
    spike: Literal["none", "zscore", "ratio"] = "none"  # compare with the trailing baseline
    baseline_windows: int = 7
    min_posts: int = 1
    topic: str | None = None  # for topic_share
    keywords: tuple[str, ...] = ()  # for keyword
    cooldown_hours: float = 6.0
    severity: Literal["info", "warning", "critical"] = "warning"
    channels: tuple[str, ...] = ()
    notify_resolved: bool = False
    quiet_hours: str | None = None  # "22:00-07:00" in `timezone`
    timezone: str = "UTC"
    per_member: bool = False  # evaluate each account of the scope separately

    def __post_init__(self) -> None:
        if self.window_hours <= 0:
            raise ValueError("window_hours must be positive")
        if self.scope != "all" and not self.scope_value:
            raise ValueError(f"scope '{self.scope}' needs scope_value")
        if self.metric == "topic_share" and not self.topic:
            raise ValueError("metric 'topic_share' needs topic")
        if self.metric == "keyword" and not self.keywords:
            raise ValueError("metric 'keyword' needs keywords")


@dataclass(frozen=True, slots=True)
class Channel:
    """A delivery channel; secrets are named by environment variable, never written here."""

    name: str
    kind: Literal["slack", "email", "webhook"]
    url_env: str | None = None  # slack and webhook: env var holding the URL
    smtp_host: str | None = None
    smtp_port: int = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    timeout_seconds: float = 10.0
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind in ("slack", "webhook") and not self.url_env:
            raise ValueError(f"a {self.kind} channel needs url_env (the variable holding its URL)")
        if self.kind == "email" and not (self.smtp_host and self.sender and self.recipients):
            raise ValueError("an email channel needs smtp_host, sender and recipients")
