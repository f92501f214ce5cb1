"""A page's filters from its query string, and back: every page has a stable URL encoding them.

Periods: `days=7` (the last N days up to now), `month=2026-10`, or `from=2026-10-01&to=2026-10-07`
(both days included), in UTC, as the exports read them. Lists repeat a name (`country=FR&country=DE`).
Bad values raise `BadFilter` with a message for the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from monitor.reporting.selection import INCLUDE, TONES, Period, Selection

DAYS = (1, 7, 30, 90, 365)
POST_SORTS = ("newest", "oldest", "engagement")


class BadFilter(ValueError):
    """A query parameter the page cannot use; the message says which and why."""


class Query(Protocol):
    """What a request's arguments offer (werkzeug's MultiDict)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def getlist(self, key: str) -> list[str]: ...


def words(q: Query, name: str, limit: int = 20) -> tuple[str, ...]:
    """The non-empty values of a repeated parameter."""
    return tuple(v.strip() for v in q.getlist(name)[:limit] if v.strip())


def period(q: Query, now: datetime, default_days: int) -> Period:
    """The period a page shows (module doc)."""
    month, first, last = q.get("month"), q.get("from"), q.get("to")
    try:
        if month:
            return Period.month(month)
        if first:
            end = date.fromisoformat(last) if last else now.date()
            return Period.days(date.fromisoformat(first), end)
    except ValueError as exc:
        raise BadFilter(str(exc)) from None
    days = number(q, "days", default_days, 1, 3660)
    return Period(now - timedelta(days=days), now, f"the last {days} day{'s' if days != 1 else ''}")


def number(q: Query, name: str, default: int, low: int, high: int) -> int:
    raw = q.get(name) or ""
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadFilter(f"{name} must be a whole number from {low} to {high}, not '{raw[:20]}'")
    return int(raw)


def choice(q: Query, name: str, choices: Sequence[str], default: str) -> str:
    value = q.get(name) or default
    if value not in choices:
        raise BadFilter(f"{name} must be one of {', '.join(choices)}, not '{value[:20]}'")
    return str(value)


def selection(q: Query, now: datetime, default_days: int = 7) -> Selection:
    """The posts a page or its CSV selects."""
    tones = words(q, "tone")
    bad = [t for t in tones if t not in TONES]
    if bad:
        raise BadFilter(f"tone must be one of {', '.join(TONES)}, not '{bad[0][:20]}'")
    return Selection(
        period(q, now, default_days), words(q, "country"), words(q, "group"), words(q, "platform"),
        words(q, "topic"), words(q, "account"), search=(q.get("q") or "")[:200],
        languages=words(q, "language"),
        tones=tones, replies=choice(q, "replies", INCLUDE, "include"),  # type: ignore[arg-type]
        reposts=choice(q, "reposts", INCLUDE, "include"),  # type: ignore[arg-type]
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Link:
    """A page's path and its filters, to build stable URLs that change one thing."""

    path: str
    params: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, path: str, args: Mapping[str, Any] | Query) -> Link:
        items = args.items(multi=True) if hasattr(args, "items") else []  # type: ignore[call-arg]
        return cls(path, tuple((k, v) for k, v in items if v not in ("", None) and k != "format"))

    def with_(self, **changes: Any) -> str:
        """This URL with some parameters replaced (None removes one); `page` resets unless given."""
        names = {k.rstrip("_") for k in changes}
        kept = [(k, v) for k, v in self.params if k not in names and (k != "page" or "page" in names)]
        for key, value in changes.items():
            values = value if isinstance(value, list | tuple) else [value]
            kept += [(key.rstrip("_"), str(v)) for v in values if v not in (None, "")]
        return self.path + ("?" + urlencode(kept) if kept else "")

    def get(self, name: str) -> str:
        return next((v for k, v in self.params if k == name), "")

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.params if k == name]
