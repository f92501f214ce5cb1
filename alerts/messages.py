"""What a channel sends: a message with facts, sections and quoted posts, stored as JSON.

A message holds raw text; each channel escapes it for its own format (Slack mrkdwn, HTML),
so hostile post text is neutralised exactly once, where it is rendered.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

Kind = Literal["fire", "resolve", "digest", "test"]
EXCERPT_CHARS = 280
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class PostRef:
    """A post quoted in a message."""

    author: str
    text: str
    url: str | None = None
    created_at: str | None = None  # ISO 8601, UTC
    engagement: int | None = None
    note: str | None = None  # why it is quoted, e.g. "5.2x the account's median at 6 h"


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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (the outbox stores it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Message:
        """The message stored by `to_dict`."""
        sections = tuple(
            Section(s["heading"], tuple(s.get("lines", ())), tuple(PostRef(**p) for p in s.get("posts", ())))
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
        )

    def posts(self) -> tuple[PostRef, ...]:
        """Every quoted post, in order."""
        return tuple(p for s in self.sections for p in s.posts)


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """Text on one line, whitespace collapsed, cut at `limit` characters with an ellipsis."""
    flat = _SPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL without spaces or control characters, else None."""
    if not url or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None
