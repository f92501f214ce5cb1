"""Alert rules, channels and digests, as the `[[alerts.rules]]`, `[alerts.channels.NAME]` and
`[[alerts.digests]]` tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from alerts.quiet import QuietHours

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
Comparison = Literal[">", ">=", "<", "<="]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Metrics computed per post or per account: no window-over-window spike for them.
NO_SPIKE = ("overperformance", "silence")


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule: a metric over a window, compared with a threshold or its own baseline."""

    name: str
    metric: Metric
    threshold: float
    scope: ScopeKind = "all"
    scope_value: str | None = None  # the account handle, group, country, topic or platform
    window_hours: float = 24.0
    comparison: Comparison = ">="
    spike: Literal["none", "zscore", "ratio"] = "none"  # compare with the trailing baseline
    baseline_windows: int = 7  # spike: how many previous windows form the baseline
    min_posts: int = 1  # posts needed in the window (overperformance: baseline posts)
    topic: str | None = None  # for topic_share
    keywords: tuple[str, ...] = ()  # for keyword; "#tag" matches the post's hashtags
    age_hours: float = 6.0  # overperformance: engagement compared at this age
    baseline_posts: int = 20  # overperformance: the account's recent posts forming the median
    baseline_days: float = 30.0  # overperformance: how far back those posts are looked for
    include_reposts: bool = True
    cooldown_hours: float = 6.0
    severity: Literal["info", "warning", "critical"] = "warning"
    channels: tuple[str, ...] = ()
    notify_resolved: bool = False
    quiet_hours: str | None = None  # "22:00-07:00" in `timezone`: deliveries wait until the end
    timezone: str = "UTC"
    per_member: bool = False  # evaluate each account of the scope separately
    top_posts: int = 3  # posts quoted in the alert

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("name must not be empty")
        positive = ("window_hours", "age_hours", "baseline_days", "baseline_windows", "baseline_posts")
        for attr in positive:
            if getattr(self, attr) <= 0:
                raise ValueError(f"{attr} must be positive")
        for attr in ("min_posts", "cooldown_hours", "top_posts"):
            if getattr(self, attr) < 0:
                raise ValueError(f"{attr} must not be negative")
        if self.scope != "all" and not self.scope_value:
            raise ValueError(f"scope_value is needed for scope '{self.scope}'")
        if self.metric == "topic_share" and not self.topic:
            raise ValueError("topic is needed for metric 'topic_share'")
        if self.metric == "keyword" and not any(k.strip().lstrip("#") for k in self.keywords):
            raise ValueError("keywords are needed for metric 'keyword'")
        if self.spike != "none" and self.metric in NO_SPIKE:
            raise ValueError(f"spike does not apply to metric '{self.metric}'")
        if self.spike == "zscore" and self.baseline_windows < 2:
            raise ValueError("baseline_windows must be at least 2 for a z-score")
        QuietHours.zone(self.timezone)
        self.quiet()  # validates quiet_hours

    def quiet(self) -> QuietHours | None:
        """The rule's quiet hours, or None."""
        return QuietHours.parse(self.quiet_hours, self.timezone) if self.quiet_hours else None

    def compares(self, value: float) -> bool:
        """Whether `value` meets the rule's comparison with its threshold."""
        t = self.threshold
        return {">": value > t, ">=": value >= t, "<": value < t, "<=": value <= t}[self.comparison]


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """A delivery channel; secrets are named by environment variable, never written here."""

    name: str
    kind: Literal["slack", "email", "webhook", "teams", "matrix"]
    url_env: str | None = None  # slack, webhook and teams: env var holding the URL
    smtp_host: str | None = None
    smtp_port: int = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    ca_file: str | None = None  # a private CA to trust (TLS to the SMTP or HTTP server)
    timeout_seconds: float = 10.0
    headers: dict[str, str] = field(default_factory=dict)  # webhook: extra, non-secret headers
    homeserver: str | None = None  # matrix: the homeserver's base URL, e.g. https://matrix.example.org
    room_id: str | None = None  # matrix: the room's internal id, e.g. !AbCdEf:example.org
    token_env: str | None = None  # matrix: env var holding the bot account's access token

    def __post_init__(self) -> None:
        if self.kind in ("slack", "webhook", "teams") and not self.url_env:
            raise ValueError(f"url_env is needed for a {self.kind} channel (the variable holding its URL)")
        if self.kind == "email" and not (self.smtp_host and self.sender and self.recipients):
            raise ValueError("smtp_host, sender and recipients are needed for an email channel")
        if self.kind == "matrix":
            _check_matrix(self)
        if self.username and not self.password_env:
            raise ValueError("password_env is needed with username (the variable holding the password)")
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")


def _check_matrix(c: ChannelSettings) -> None:
    if not (c.homeserver and c.room_id and c.token_env):
        raise ValueError("homeserver, room_id and token_env are needed for a matrix channel")
    parts = urlsplit(c.homeserver)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(
            f"homeserver '{c.homeserver}' is not an http(s) URL (e.g. https://matrix.example.org)"
        )
    if not c.room_id.startswith("!") or len(c.room_id) < 2 or any(ch.isspace() for ch in c.room_id):
        raise ValueError(
            f"room_id '{c.room_id}' is not a room id: it starts with '!' "
            "(Element: Room settings > Advanced > Internal room ID)"
        )


@dataclass(frozen=True, slots=True)
class Digest:
    """A daily or weekly summary: top posts, notable shifts and the alerts of the period."""

    name: str
    channels: tuple[str, ...]
    period: Literal["daily", "weekly"] = "daily"
    hour: int = 8  # local hour at which the period ends and the digest is sent
    weekday: str = "monday"  # weekly digests
    timezone: str = "UTC"
    scope: ScopeKind = "all"
    scope_value: str | None = None
    top_posts: int = 5
    shifts: int = 5  # how many notable shifts (by sending country) to list

    def __post_init__(self) -> None:
        if not self.channels:
            raise ValueError("channels must name at least one channel")
        if not 0 <= self.hour <= 23:
            raise ValueError("hour must be between 0 and 23")
        if self.weekday.lower() not in WEEKDAYS:
            raise ValueError(f"weekday must be one of {', '.join(WEEKDAYS)}")
        if self.scope != "all" and not self.scope_value:
            raise ValueError(f"scope_value is needed for scope '{self.scope}'")
        QuietHours.zone(self.timezone)
