"""What an export or a report selects: a period in UTC, filters, and the SQL they share.

The figures themselves (engagement at an age, overperformance) are defined once, in
monitor.measures.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    exists,
    select,
)

from monitor.schema import accounts, post_topics, posts

AGES_HOURS = (24, 7 * 24)


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open interval [start, end) of UTC time, with a label for people."""

    start: datetime
    end: datetime
    label: str

    @classmethod
    def month(cls, text: str) -> Period:
        """The calendar month `YYYY-MM`, from its first instant to the next month's, in UTC."""
        try:
            first = datetime.strptime(text, "%Y-%m").replace(tzinfo=UTC)
        except ValueError:
            raise ValueError(f"month '{text}' is not YYYY-MM (e.g. 2026-10)") from None
        return cls(first, _month_after(first), first.strftime("%B %Y"))

    @classmethod
    def days(cls, first: date, last: date) -> Period:
        """From the start of day `first` to the end of day `last`, both included, in UTC."""
        if last < first:
            raise ValueError(f"the last day {last} is before the first day {first}")
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
        return cls(start, end, f"{first.isoformat()} to {last.isoformat()}")

    def previous(self) -> Period:
        """The period of the same kind just before: the previous month, or as many days."""
        if self.start.day == 1 and self.start.time() == time() and self.end == _month_after(self.start):
            return Period.month((self.start - timedelta(days=1)).strftime("%Y-%m"))
        span = self.end - self.start
        return Period(self.start - span, self.start, f"the previous {span.days} days")

    @property
    def day_count(self) -> float:
        return (self.end - self.start) / timedelta(days=1)


def _month_after(first: datetime) -> datetime:
    return first + timedelta(days=calendar.monthrange(first.year, first.month)[1])


@dataclass(frozen=True, slots=True)
class Selection:
    """The posts an export looks at: a period and optional filters (OR within, AND across)."""

    period: Period
    countries: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "countries", tuple(c.upper() for c in self.countries))
        object.__setattr__(self, "platforms", tuple(p.lower() for p in self.platforms))

    def within(self, period: Period) -> Selection:
        return Selection(period, self.countries, self.groups, self.platforms, self.topics)


def posts_from() -> FromClause:
    """posts joined to their account: every query here selects from this."""
    return posts.join(accounts, accounts.c.id == posts.c.account_id)


def group_account_ids(conn: Connection, groups: tuple[str, ...]) -> list[int]:
    """Accounts tagged with any of `groups` (the accounts table is small; JSON stays portable)."""
    wanted = set(groups)
    rows = conn.execute(select(accounts.c.id, accounts.c.groups))
    return [r.id for r in rows if wanted & set(r.groups or ())]


def account_conditions(conn: Connection, sel: Selection) -> list[ColumnElement[bool]]:
    """Conditions on `accounts` for the country, group and platform filters."""
    conds: list[ColumnElement[bool]] = []
    if sel.countries:
        conds.append(accounts.c.country.in_(sel.countries))
    if sel.platforms:
        conds.append(accounts.c.platform.in_(sel.platforms))
    if sel.groups:
        conds.append(accounts.c.id.in_(group_account_ids(conn, sel.groups)))
    return conds


def post_conditions(conn: Connection, sel: Selection) -> list[ColumnElement[bool]]:
    """Conditions on `posts_from()` for the whole selection."""
    return [*account_conditions(conn, sel), *own_conditions(sel)]


def own_conditions(sel: Selection) -> list[ColumnElement[bool]]:
    """The conditions on `posts` alone: the period and the topics."""
    conds = [posts.c.created_at >= sel.period.start, posts.c.created_at < sel.period.end]
    if sel.topics:
        tagged = post_topics.alias("topic_filter")  # the query may join post_topics itself
        conds.append(exists().where(tagged.c.post_id == posts.c.id, tagged.c.topic.in_(sel.topics)))
    return conds
