"""What a channel sends: a message with facts, sections and quoted posts, stored as JSON.

A message holds raw text; each channel escapes it for its own format (Slack mrkdwn, HTML,
Adaptive Cards, Matrix HTML), so hostile post text is neutralised exactly once, where it is
rendered. What every format needs alike lives here: `clean` (no bidi overrides, controls or
lone surrogates), times in the message's zone with UTC in brackets, a post's byline and
details, and the notification line that follows severity.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Kind = Literal["fire", "resolve", "digest", "test"]
EXCERPT_CHARS = 280
_SPACE = re.compile(r"\s+")
# Bidi embeddings, overrides and isolates (a post could flip the text after it, e.g. a link
# label, with U+202E), C0/C1 controls but tab and newline, and lone surrogates.
_UNSAFE = re.compile("[\u202a-\u202e\u2066-\u2069\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# What a notification says first, by kind and then by severity.
LEVELS = {"critical": "Critical", "warning": "Warning", "info": "Info"}
UTC_NAMES = ("UTC", "Etc/UTC")
SYMBOLS = {"critical": "🚨", "warning": "⚠️", "info": "ℹ️", "resolve": "✅", "digest": "📰", "test": "👋"}


@dataclass(frozen=True, slots=True)
class PostRef:
    """A post quoted in a message."""

    author: str  # the account's handle
    text: str
    url: str | None = None
    created_at: str | None = None  # ISO 8601, UTC
    engagement: int | None = None
    note: str | None = None  # why it is quoted, e.g. "5.2x the account's median at 6 h"
    name: str | None = None  # the account's configured name (else the name it shows)
    country: str | None = None  # sending country, ISO 3166-1 alpha-2
    account_kind: str | None = None  # ministry, embassy, ...
    profile_url: str | None = None  # the account's recent posts on its platform
    matched: tuple[str, ...] = ()  # keyword alerts: the keywords this post matched

    def byline(self) -> str:
        """ "France Diplomatie (FR, ministry) @fr.bsky.social", or the handle with what is known."""
        about = ", ".join(x for x in (self.country, (self.account_kind or "").replace("_", " ")) if x)
        handle = "@" + self.author.lstrip("@")
        who = f"{self.name} " if self.name and self.name != self.author else ""
        return f"{who}({about}) {handle}" if about else f"{who}{handle}"

    def details(self, timezone: str = "UTC") -> list[str]:
        """When, how much engagement, why quoted and which keyword, as short phrases."""
        out = [local_time(self.created_at, timezone)] if self.created_at else []
        if self.engagement is not None:
            out.append(f"{self.engagement} interactions")
        if self.note:
            out.append(self.note)
        if self.matched:
            out.append("keyword: " + ", ".join(self.matched))
        return out


@dataclass(frozen=True, slots=True)
class Section:
    """A heading with lines of text and quoted posts."""

    heading: str
    lines: tuple[str, ...] = ()
    posts: tuple[PostRef, ...] = ()


@dataclass(frozen=True, slots=True)
class Message:
    """One notification: an alert firing or resolving, a digest, or a test."""

    kind: Kind
    title: str
    severity: str = "info"
    facts: tuple[tuple[str, str], ...] = ()  # (label, value) pairs shown as a table
    sections: tuple[Section, ...] = ()
    key: str = ""  # stable id: receivers can drop a repeat of the same key
    data: dict[str, Any] = field(default_factory=dict)  # machine-readable summary (webhooks)
    timezone: str = "UTC"  # times are shown in this zone, UTC in brackets
    links: tuple[tuple[str, str], ...] = ()  # (label, http(s) URL): where to look next
    mute: str | None = None  # the command line that mutes this alert

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (the outbox stores it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Message:
        """The message stored by `to_dict` (messages stored before a field existed get its default)."""
        sections = tuple(
            Section(s["heading"], tuple(s.get("lines", ())), tuple(_post(p) for p in s.get("posts", ())))
            for s in d.get("sections", ())
        )
        return cls(
            kind=d["kind"],
            title=d["title"],
            severity=d.get("severity", "info"),
            facts=tuple((str(a), str(b)) for a, b in d.get("facts", ())),
            sections=sections,
            key=d.get("key", ""),
            data=dict(d.get("data", {})),
            timezone=d.get("timezone", "UTC"),
            links=tuple((str(a), str(b)) for a, b in d.get("links", ())),
            mute=d.get("mute"),
        )

    def posts(self) -> tuple[PostRef, ...]:
        """Every quoted post, in order."""
        return tuple(p for s in self.sections for p in s.posts)

    def symbol(self) -> str:
        """An emoji for the kind, and for an alert firing its severity."""
        return SYMBOLS.get(self.severity if self.kind == "fire" else self.kind, "")

    def headline(self) -> str:
        """The notification line: severity first for an alert, so a phone's preview says it."""
        if self.kind == "fire":
            return f"{LEVELS.get(self.severity, self.severity.title())}: {self.title}"
        if self.kind == "resolve":
            return f"Resolved: {self.title}"
        return self.title


def _post(p: dict[str, Any]) -> PostRef:
    return PostRef(**{**p, "matched": tuple(p.get("matched") or ())})


def clean(text: str) -> str:
    """Text without bidi overrides or isolates, control characters or lone surrogates."""
    return _UNSAFE.sub("", text)


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """Text on one line, whitespace collapsed, cut at `limit` characters with an ellipsis."""
    flat = _SPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL without spaces or control characters, else None."""
    if not url or any(c.isspace() or ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in url):
        return None
    if _UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an invalid IPv6 host
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or UTC if it is unknown here (a stored message outlives its config)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _utc(when: str | datetime) -> datetime:
    moment = datetime.fromisoformat(when) if isinstance(when, str) else when
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def local_time(when: str | datetime, timezone: str = "UTC") -> str:
    """ "2026-10-15 14:00 CEST (12:00 UTC)", or "2026-10-15 12:00 UTC" in UTC."""
    utc = _utc(when)
    if timezone in UTC_NAMES:
        return f"{utc:%Y-%m-%d %H:%M} UTC"
    local = utc.astimezone(zone(timezone))
    return f"{local:%Y-%m-%d %H:%M} {local:%Z} ({_clock(utc, local)} UTC)"


def local_span(start: str | datetime, end: str | datetime, timezone: str = "UTC") -> str:
    """ "2026-10-15 08:00 – 2026-10-15 14:00 CEST (06:00 – 12:00 UTC)"; UTC alone in UTC."""
    s, e = _utc(start), _utc(end)
    if timezone in UTC_NAMES:
        return f"{s:%Y-%m-%d %H:%M} – {e:%Y-%m-%d %H:%M} UTC"
    ls, le = s.astimezone(zone(timezone)), e.astimezone(zone(timezone))
    first = f"{ls:%Y-%m-%d %H:%M}" + (f" {ls:%Z}" if ls.tzname() != le.tzname() else "")
    same_days = s.date() == e.date() == ls.date() == le.date()
    utc = f"{s:%H:%M} – {e:%H:%M}" if same_days else f"{s:%Y-%m-%d %H:%M} – {e:%Y-%m-%d %H:%M}"
    return f"{first} – {le:%Y-%m-%d %H:%M} {le:%Z} ({utc} UTC)"


def _clock(utc: datetime, local: datetime) -> str:
    """The UTC time, with its date only where it differs from the local date shown beside it."""
    return f"{utc:%H:%M}" if utc.date() == local.date() else f"{utc:%Y-%m-%d %H:%M}"
