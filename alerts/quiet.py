"""Quiet hours: a daily local-time interval during which deliveries wait instead of being sent."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_SPAN = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


@dataclass(frozen=True, slots=True)
class QuietHours:
    """From `start` to `end` local time every day; an interval may wrap past midnight."""

    start: time
    end: time
    tz: ZoneInfo

    @staticmethod
    def zone(name: str) -> ZoneInfo:
        """The IANA time zone `name`; ValueError naming the field if unknown."""
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone '{name}' is not an IANA time zone (e.g. Europe/Paris)") from None

    @classmethod
    def parse(cls, span: str, timezone: str) -> QuietHours:
        """Parse "22:00-07:00" in the zone `timezone`."""
        found = _SPAN.match(span)
        if not found:
            raise ValueError(f"quiet_hours '{span}' is not HH:MM-HH:MM (e.g. 22:00-07:00)")
        h1, m1, h2, m2 = (int(g) for g in found.groups())
        if (h1, m1) == (h2, m2):
            raise ValueError("quiet_hours must not start and end at the same time")
        return cls(time(h1, m1), time(h2, m2), cls.zone(timezone))

    def contains(self, when: datetime) -> bool:
        """Whether the UTC moment `when` falls in the quiet hours."""
        t = when.astimezone(self.tz).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    @property
    def span(self) -> str:
        """`22:00-07:00`, as `parse` reads it."""
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def release(self, when: datetime) -> datetime:
        """`when` itself outside quiet hours, else the (UTC) moment the quiet hours end."""
        if not self.contains(when):
            return when
        local = when.astimezone(self.tz)
        day = (
            local.date() if local.time().replace(tzinfo=None) < self.end else local.date() + timedelta(days=1)
        )
        return datetime.combine(day, self.end, tzinfo=self.tz).astimezone(UTC)
