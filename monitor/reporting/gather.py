"""The monthly report's figures, gathered in SQL (aggregates and top-N only, never whole tables).

`gather_report(conn, sel)` returns a `ReportData`; `monitor.reporting.html.render_report` turns it
into one self-contained HTML file. A report for chosen countries shows each account; a report
for all countries shows each country.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, case, distinct, func, or_, select

from monitor.measures import engagement_at_age
from monitor.reporting.selection import (
    Period,
    Selection,
    account_conditions,
    post_conditions,
    posts_from,
)
from monitor.reporting.summary import overperforming, summarise
from monitor.schema import accounts, post_topics, posts, profile_snapshots, scores
from monitor.sqlparts import engagement, utc_day

TOP_POSTS = 10
MAX_SERIES = 8
NEGATIVE = case((scores.c.sentiment_label == "negative", 1), else_=0)
OWN_ENGAGEMENT = case((posts.c.is_repost.is_(False), engagement(posts)), else_=0)


@dataclass(frozen=True, slots=True)
class Totals:
    posts: int = 0
    accounts: int = 0
    engagement: int = 0
    own_posts: int = 0
    scored: int = 0
    negative: int = 0
    tone: float | None = None


class ThemeFigures(NamedTuple):
    """A theme's posts, how many of them were scored for tone, and how many of those were negative."""

    posts: int
    scored: int
    negative: int


@dataclass(frozen=True, slots=True)
class TopPost:
    url: str | None
    text: str
    created_at: datetime
    account: str
    country: str
    engagement: int
    e24: int | None
    sentiment: str | None
    ratio: float | None = None  # engagement at 24 h / the account's median at 24 h


@dataclass
class ReportData:
    """Everything the report shows, already aggregated."""

    sel: Selection
    previous: Period
    by: str  # "account" or "country": what the volume and follower series are
    generated_at: datetime
    totals: Totals
    previous_totals: Totals
    days: list[date]
    daily: dict[date, dict[str, Any]]  # day -> posts, scored, tone_sum, negative
    volume: dict[str, dict[date, int]]  # series -> day -> posts
    topics: dict[str, ThemeFigures]
    previous_topics: dict[str, ThemeFigures]
    languages: dict[str, int]
    top_engagement: list[TopPost]
    top_overperformance: list[TopPost]
    followers: dict[str, list[int | None]]  # series -> follower count at the end of each day
    groups: list[tuple[Any, ...]] = field(default_factory=list)  # summary rows by `by`
    labels: dict[str, str] = field(default_factory=dict)  # series key -> display label


def gather_report(conn: Connection, sel: Selection, now: datetime | None = None) -> ReportData:
    """All figures of the report for one selection (usually a month, optionally some countries)."""
    by = "account" if sel.countries or sel.groups else "country"
    previous = sel.period.previous()
    days = _days(sel.period)
    daily, volume = _daily(conn, sel, by)
    return ReportData(
        sel=sel, previous=previous, by=by, generated_at=now or datetime.now(UTC),
        totals=totals(conn, sel), previous_totals=totals(conn, sel.within(previous)),
        days=days, daily=daily, volume=volume,
        topics=_topics(conn, sel), previous_topics=_topics(conn, sel.within(previous)),
        languages=_languages(conn, sel), top_engagement=_top_engagement(conn, sel),
        top_overperformance=_top_overperformance(conn, sel), followers=_followers(conn, sel, by, days),
        groups=summarise(conn, sel, by), labels=_labels(conn, by),
    )  # fmt: skip


def _days(period: Period) -> list[date]:
    first = period.start.date()
    return [first + timedelta(days=i) for i in range(round(period.day_count))]


def totals(conn: Connection, sel: Selection) -> Totals:
    """Posts, accounts, engagement of own posts, scored and negative posts, mean tone."""
    row = conn.execute(
        select(
            func.count(posts.c.id),
            func.count(distinct(posts.c.account_id)),
            func.coalesce(func.sum(OWN_ENGAGEMENT), 0),
            func.coalesce(func.sum(case((posts.c.is_repost.is_(False), 1), else_=0)), 0),
            func.count(scores.c.sentiment_score),
            func.coalesce(func.sum(NEGATIVE), 0),
            func.avg(scores.c.sentiment_score),
        )
        .select_from(posts_from().outerjoin(scores, scores.c.post_id == posts.c.id))
        .where(*post_conditions(conn, sel))
    ).one()
    posts_n, accounts_n, engagement, own, scored, negative, tone = row
    return Totals(int(posts_n), int(accounts_n), int(engagement), int(own), int(scored), int(negative),
                  None if tone is None else float(tone))  # fmt: skip


def _series_key(by: str) -> Any:
    return accounts.c.handle if by == "account" else accounts.c.country


def _daily(conn: Connection, sel: Selection, by: str) -> tuple[dict[date, dict[str, Any]], dict[str, Any]]:
    day = utc_day(posts.c.created_at).label("day")
    key = _series_key(by).label("series")
    query = (
        select(day, key, func.count(posts.c.id).label("posts"),
               func.count(scores.c.sentiment_score).label("scored"),
               func.sum(scores.c.sentiment_score).label("tone_sum"), func.sum(NEGATIVE).label("negative"))
        .select_from(posts_from().outerjoin(scores, scores.c.post_id == posts.c.id))
        .where(*post_conditions(conn, sel))
        .group_by(day, key)
    )  # fmt: skip
    daily: dict[date, dict[str, Any]] = defaultdict(
        lambda: {"posts": 0, "scored": 0, "tone_sum": 0.0, "negative": 0}
    )
    volume: dict[str, dict[date, int]] = defaultdict(dict)
    for r in conn.execute(query):
        d = date.fromisoformat(r.day)
        for name in ("posts", "scored", "tone_sum", "negative"):
            daily[d][name] += getattr(r, name) or 0
        volume[r.series][d] = r.posts
    return dict(daily), dict(volume)


def _topics(conn: Connection, sel: Selection) -> dict[str, ThemeFigures]:
    query = (
        select(
            post_topics.c.topic,
            func.count(posts.c.id),
            func.count(scores.c.sentiment_label),
            func.coalesce(func.sum(NEGATIVE), 0),
        )
        .select_from(
            posts_from()
            .join(post_topics, post_topics.c.post_id == posts.c.id)
            .outerjoin(scores, scores.c.post_id == posts.c.id)
        )
        .where(*post_conditions(conn, sel))
        .group_by(post_topics.c.topic)
    )
    return {r[0]: ThemeFigures(int(r[1]), int(r[2]), int(r[3])) for r in conn.execute(query)}


def _languages(conn: Connection, sel: Selection) -> dict[str, int]:
    lang = func.coalesce(scores.c.language, posts.c.declared_language, "unknown").label("lang")
    query = (
        select(lang, func.count(posts.c.id))
        .select_from(posts_from().outerjoin(scores, scores.c.post_id == posts.c.id))
        .where(*post_conditions(conn, sel))
        .group_by(lang)
    )
    return {r[0]: int(r[1]) for r in conn.execute(query)}


def _post_columns() -> list[Any]:
    return [
        posts.c.id, posts.c.url, posts.c.text, posts.c.created_at, posts.c.account_id,
        func.coalesce(accounts.c.display_name, accounts.c.handle).label("account"), accounts.c.country,
        engagement(posts).label("engagement"), engagement_at_age(24).label("e24"),
        scores.c.sentiment_label,
    ]  # fmt: skip


def _top_query(conn: Connection, sel: Selection) -> Any:
    return (
        select(*_post_columns())
        .select_from(posts_from().outerjoin(scores, scores.c.post_id == posts.c.id))
        .where(*post_conditions(conn, sel), posts.c.is_repost.is_(False))
    )


def _top_post(r: Any, ratio: float | None = None) -> TopPost:
    return TopPost(
        r.url, r.text, r.created_at, r.account, r.country, r.engagement, r.e24, r.sentiment_label, ratio
    )


def _top_engagement(conn: Connection, sel: Selection) -> list[TopPost]:
    eng = engagement(posts)
    query = _top_query(conn, sel).order_by(eng.desc(), posts.c.id).limit(TOP_POSTS)
    return [_top_post(r) for r in conn.execute(query)]


def _top_overperformance(conn: Connection, sel: Selection) -> list[TopPost]:
    """The overperforming posts with the highest ratio."""
    best = heapq.nsmallest(TOP_POSTS, overperforming(conn, sel), key=lambda r: (-r.ratio, r.post_id))
    wanted = _top_query(conn, sel).where(posts.c.id.in_([b.post_id for b in best]))
    by_id = {r.id: r for r in conn.execute(wanted)} if best else {}
    return [_top_post(by_id[b.post_id], b.ratio) for b in best if b.post_id in by_id]


def _followers(conn: Connection, sel: Selection, by: str, days: list[date]) -> dict[str, list[int | None]]:
    """Followers at the end of each day per series; accounts known at both ends only."""
    live = or_(accounts.c.active.is_(True), accounts.c.deactivated_at >= sel.period.start)
    members = conn.execute(
        select(accounts.c.id, _series_key(by).label("k")).where(live, *account_conditions(conn, sel))
    )
    out: dict[str, list[int | None]] = {}
    for m in members:
        series = _account_followers(conn, m.id, sel.period, days)
        if series[0] is None or series[-1] is None:
            continue
        total = out.setdefault(m.k, [0] * len(days))
        out[m.k] = [(t or 0) + (v or 0) for t, v in zip(total, series, strict=True)]
    return out


def _account_followers(
    conn: Connection, account_id: int, period: Period, days: list[date]
) -> list[int | None]:
    at = profile_snapshots.c.observed_at
    base = select(at, profile_snapshots.c.followers).where(
        profile_snapshots.c.account_id == account_id, profile_snapshots.c.followers.is_not(None)
    )
    before = conn.execute(base.where(at <= period.start).order_by(at.desc()).limit(1)).first()
    during = conn.execute(base.where(at > period.start, at < period.end).order_by(at)).all()
    if before is None and not during:
        return [None] * len(days)
    points = ([before] if before else []) + list(during)
    value, out, i = points[0].followers, [], 0  # before the first observation: the first value
    for d in days:
        day_end = datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(days=1)
        while i < len(points) and points[i].observed_at < day_end:
            value, i = points[i].followers, i + 1
        out.append(value)
    return out


def _labels(conn: Connection, by: str) -> dict[str, str]:
    if by != "account":
        return {}
    rows = conn.execute(select(accounts.c.handle, accounts.c.display_name))
    return {r.handle: r.display_name or r.handle for r in rows}
