"""Monthly figures per account, country, topic or platform (the `export summary` CSV).

Definitions (the README repeats them for analysts):
- engagement of a post: likes + reposts + replies + quotes at the latest observation.
  Engagement figures count the account's own posts (originals, replies, quotes): a repost's
  counts belong to the reposted post, so reposts count in `posts` and `repost_share` only.
- overperforming post: monitor.measures (24 h engagement at least twice the median at 24 h of
  the same account's 20 posts before it, within 30 days), the definition alerts use too.
- followers at the start: the latest count observed at or before the period's start, else
  the first observed in the period; at the end: the latest observed before the period's end.
- engagement per 1,000 followers: the engagement of the group's accounts whose end follower
  count is known, per 1,000 of those followers.

Rows stream ordered by group, so memory holds one group's engagement figures at a time
(8 bytes a post) plus one small row per group.
"""

from __future__ import annotations

import statistics
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import Connection, Row, func, or_, select

from monitor.measures import REPORTING, Ratio, ratios
from monitor.reporting import GROUPINGS
from monitor.reporting.posts_csv import number, write_csv
from monitor.reporting.selection import (
    Period,
    Selection,
    account_conditions,
    own_conditions,
    post_conditions,
    posts_from,
)
from monitor.schema import accounts, post_topics, posts, profile_snapshots, scores

SUMMARY_COLUMNS = (
    "accounts", "posts", "posts_per_day", "reply_share", "repost_share",
    "engagement_total", "engagement_median", "engagement_per_post", "engagement_per_1000_followers",
    "followers_start", "followers_end", "followers_change", "followers_change_pct",
    "overperforming_posts", "scored_posts", "sentiment_mean", "negative_share",
    "top_topics", "languages",
)  # fmt: skip


def ratio(part: float, whole: float, digits: int = 4) -> float | int | None:
    return number(part / whole, digits) if whole else None


def ranked(counts: Counter[str], limit: int | None = None) -> str | None:
    """`culture:3;climate:1`, most frequent first, then by name."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return ";".join(f"{k}:{n}" for k, n in items) or None


@dataclass(slots=True)
class GroupStats:
    """Running figures of one group while its posts stream by."""

    key: str
    accounts: set[int] = field(default_factory=set)
    posts: int = 0
    replies: int = 0
    reposts: int = 0
    engagement: array[int] = field(default_factory=lambda: array("q"))
    engagement_by_account: Counter[int] = field(default_factory=Counter)
    overperforming: int = 0
    scored: int = 0
    sentiment_sum: float = 0.0
    negative: int = 0
    topics: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)

    def add(self, r: Row[Any], overperforming: set[int]) -> None:
        """Count one post."""
        self.accounts.add(r.account_id)
        self.posts += 1
        self.replies += bool(r.is_reply)
        self.reposts += bool(r.is_repost)
        counts = (r.likes, r.reposts, r.replies, r.quotes)
        if not r.is_repost and any(c is not None for c in counts):
            total = sum(c or 0 for c in counts)
            self.engagement.append(total)
            self.engagement_by_account[r.account_id] += total
        if r.id in overperforming:
            self.overperforming += 1
        if r.sentiment_score is not None:
            self.scored += 1
            self.sentiment_sum += r.sentiment_score
            self.negative += r.sentiment_label == "negative"
        self.topics.update((r.topics or {}).keys())
        if r.language:
            self.languages[r.language] += 1


@dataclass(frozen=True, slots=True)
class Followers:
    start: int | None
    end: int | None


def follower_counts(conn: Connection, account_ids: Iterable[int], period: Period) -> dict[int, Followers]:
    """Follower counts at the start and end of the period, per account (see module doc)."""
    out = {}
    for aid in account_ids:
        base = select(profile_snapshots.c.followers).where(
            profile_snapshots.c.account_id == aid, profile_snapshots.c.followers.is_not(None)
        )
        at = profile_snapshots.c.observed_at
        before = conn.execute(base.where(at <= period.start).order_by(at.desc()).limit(1)).scalar()
        if before is None:
            before = conn.execute(
                base.where(at > period.start, at < period.end).order_by(at.asc()).limit(1)
            ).scalar()
        end = conn.execute(base.where(at < period.end).order_by(at.desc()).limit(1)).scalar()
        out[aid] = Followers(before, end)
    return out


def overperforming(conn: Connection, sel: Selection) -> Iterator[Ratio]:
    """The selection's overperforming posts (monitor.measures with REPORTING), by account and time."""
    ids = [r.id for r in conn.execute(select(accounts.c.id).where(*account_conditions(conn, sel)))]
    found = ratios(
        conn, REPORTING, ids, sel.period.start, own_conditions(sel), [posts.c.created_at < sel.period.end]
    )
    return (r for r in found if r.overperforming())


def _group_key(by: str) -> Any:
    return {
        "account": accounts.c.handle,
        "country": accounts.c.country,
        "platform": posts.c.platform,
        "topic": post_topics.c.topic,
    }[by]


def _stream(conn: Connection, sel: Selection, by: str) -> Iterator[Any]:
    key = _group_key(by).label("group_key")
    source = posts_from().outerjoin(scores, scores.c.post_id == posts.c.id)
    conds = post_conditions(conn, sel)
    if by == "topic":
        source = source.join(post_topics, post_topics.c.post_id == posts.c.id)
        if sel.topics:
            conds.append(post_topics.c.topic.in_(sel.topics))
    query = (
        select(
            key,
            posts.c.id,
            posts.c.account_id,
            posts.c.is_reply,
            posts.c.is_repost,
            posts.c.likes,
            posts.c.reposts,
            posts.c.replies,
            posts.c.quotes,
            scores.c.sentiment_label,
            scores.c.sentiment_score,
            scores.c.topics,
            func.coalesce(scores.c.language, posts.c.declared_language).label("language"),
        )
        .select_from(source)
        .where(*conds)
        .order_by(key, posts.c.id)
    )
    yield from conn.execute(query, execution_options={"yield_per": 5000})


def _members(conn: Connection, sel: Selection, by: str) -> dict[str, set[int]]:
    """The accounts the selection covers (active in the period), by group key."""
    key = {"account": accounts.c.handle, "country": accounts.c.country, "platform": accounts.c.platform}[by]
    live = or_(accounts.c.active.is_(True), accounts.c.deactivated_at >= sel.period.start)
    rows = conn.execute(select(key.label("k"), accounts.c.id).where(live, *account_conditions(conn, sel)))
    out: dict[str, set[int]] = {}
    for r in rows:
        out.setdefault(r.k, set()).add(r.id)
    return out


def summary_row(g: GroupStats, followers: dict[int, Followers], period: Period) -> tuple[Any, ...]:
    """One CSV row, in (group, *SUMMARY_COLUMNS) order."""
    known = [followers[a] for a in g.accounts if a in followers]
    both = [f for f in known if f.start is not None and f.end is not None]
    start = sum(f.start for f in both) if both else None  # type: ignore[misc]
    end = sum(f.end for f in both) if both else None  # type: ignore[misc]
    with_end = [a for a in g.accounts if a in followers and followers[a].end]
    audience = sum(followers[a].end or 0 for a in with_end)
    audience_engagement = sum(g.engagement_by_account[a] for a in with_end)
    own = len(g.engagement)
    return (
        g.key, len(g.accounts), g.posts, ratio(g.posts, period.day_count, 2),
        ratio(g.replies, g.posts), ratio(g.reposts, g.posts),
        sum(g.engagement) if own else None, number(statistics.median(g.engagement)) if own else None,
        ratio(sum(g.engagement), own, 2), ratio(audience_engagement * 1000, audience, 2),
        start, end, None if start is None else end - start,  # type: ignore[operator]
        ratio((end - start) * 100, start, 2) if start else None,  # type: ignore[operator]
        g.overperforming, g.scored, ratio(g.sentiment_sum, g.scored), ratio(g.negative, g.scored),
        ranked(g.topics, 3), ranked(g.languages),
    )  # fmt: skip


def summarise(conn: Connection, sel: Selection, by: str) -> list[tuple[Any, ...]]:
    """The summary rows of a selection grouped `by` account, country, topic or platform."""
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, not '{by}'")
    flagged = {r.post_id for r in overperforming(conn, sel)}
    members = {} if by == "topic" else _members(conn, sel, by)
    followers = follower_counts(conn, sorted(set().union(*members.values())), sel.period)
    rows: dict[str, tuple[Any, ...]] = {}
    current: GroupStats | None = None
    for r in _stream(conn, sel, by):
        if current is None or r.group_key != current.key:
            if current is not None:  # a finished group: keep its row, free its figures
                rows[current.key] = summary_row(current, followers, sel.period)
            current = GroupStats(r.group_key, accounts=set(members.get(r.group_key, ())))
        current.add(r, flagged)
    if current is not None:
        rows[current.key] = summary_row(current, followers, sel.period)
    if not sel.topics:  # groups whose accounts posted nothing still get their row
        for key, ids in members.items():
            if key not in rows:
                rows[key] = summary_row(GroupStats(key, accounts=set(ids)), followers, sel.period)
    return [rows[k] for k in sorted(rows)]


def export_summary(conn: Connection, sel: Selection, by: str, out: IO[str], *, excel: bool = False) -> int:
    """Write the summary CSV (first column named after `by`); return the number of rows."""
    return write_csv(out, (by, *SUMMARY_COLUMNS), summarise(conn, sel, by), excel=excel)
