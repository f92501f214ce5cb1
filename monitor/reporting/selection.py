"""What an export or a report selects: a period in UTC, filters, and the SQL they share.

The figures themselves (engagement at an age, overperformance) are defined once, in
monitor.measures.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    and_,
    exists,
    not_,
    or_,
    select,
)

from monitor.schema import accounts, post_topics, posts, scores
from monitor.sqlparts import keyword_match

AGES_HOURS = (24, 7 * 24)
Include = Literal["include", "exclude", "only"]  # how replies or reposts are selected
INCLUDE = ("include", "exclude", "only")
TONES = ("negative", "neutral", "positive")


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
    """The posts an export looks at: a period and optional filters (OR within, AND across).

    `search` keeps posts containing every word of it (case-insensitive; `#tag` matches a
    hashtag), as a keyword alert matches one word; `languages` is the language the exports show
    (the detector's, else the declared one); `tones` the sentiment label.
    """

    period: Period
    countries: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()  # accounts, by configured handle
    search: str = ""
    languages: tuple[str, ...] = ()
    tones: tuple[str, ...] = ()
    replies: Include = "include"
    reposts: Include = "include"

    def __post_init__(self) -> None:
        object.__setattr__(self, "countries", tuple(c.upper() for c in self.countries))
        object.__setattr__(self, "platforms", tuple(p.lower() for p in self.platforms))
        object.__setattr__(self, "languages", tuple(x.lower() for x in self.languages))
        object.__setattr__(self, "search", " ".join(self.search.split()))
        for name in ("replies", "reposts"):
            if getattr(self, name) not in INCLUDE:
                raise ValueError(f"{name} must be one of {', '.join(INCLUDE)}, not '{getattr(self, name)}'")
        unknown = [t for t in self.tones if t not in TONES]
        if unknown:
            raise ValueError(f"tone '{unknown[0]}' is not one of {', '.join(TONES)}")

    def within(self, period: Period) -> Selection:
        return replace(self, period=period)


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
    if sel.handles:
        conds.append(accounts.c.handle.in_([h.lstrip("@").lower() for h in sel.handles]))
    if sel.groups:
        conds.append(accounts.c.id.in_(group_account_ids(conn, sel.groups)))
    return conds


def post_conditions(conn: Connection, sel: Selection) -> list[ColumnElement[bool]]:
    """Conditions on `posts_from()` for the whole selection."""
    return [*account_conditions(conn, sel), *own_conditions(sel, conn.dialect.name)]


def own_conditions(sel: Selection, dialect: str = "sqlite") -> list[ColumnElement[bool]]:
    """The conditions on `posts` alone: the period, topics, words, language, tone, replies, reposts."""
    conds = [posts.c.created_at >= sel.period.start, posts.c.created_at < sel.period.end]
    conds += topic_conditions(sel)
    conds += [keyword_match(dialect, [word]) for word in sel.search.split(" ") if word.strip("#")]
    scored = scores.alias("score_filter")
    if sel.languages:
        detected = exists().where(scored.c.post_id == posts.c.id, scored.c.language.is_not(None))
        conds.append(or_(
            exists().where(scored.c.post_id == posts.c.id, scored.c.language.in_(sel.languages)),
            and_(posts.c.declared_language.in_(sel.languages), not_(detected)),
        ))  # fmt: skip
    if sel.tones:
        conds.append(exists().where(scored.c.post_id == posts.c.id, scored.c.sentiment_label.in_(sel.tones)))
    for flag, how in ((posts.c.is_reply, sel.replies), (posts.c.is_repost, sel.reposts)):
        if how != "include":
            conds.append(flag.is_(how == "only"))
    return conds


def topic_conditions(sel: Selection) -> list[ColumnElement[bool]]:
    """The post has one of the selection's topics (no condition without a topic filter)."""
    if not sel.topics:
        return []
    tagged = post_topics.alias("topic_filter")  # the query may join post_topics itself
    return [exists().where(tagged.c.post_id == posts.c.id, tagged.c.topic.in_(sel.topics))]
