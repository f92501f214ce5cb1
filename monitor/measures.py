"""One definition of each figure that alerts, exports, the summary and the report share.

Engagement of a post: likes + reposts + replies + quotes (`sqlparts.engagement`); a repost's
counts belong to the reposted post, so a repost has none of its own.

Engagement at age A: the total of the latest snapshot observed at or before `created_at + A`
(snapshots are stored only when a count changed). It is *known* only once the post was observed
at or after that moment (a later snapshot, or `posts.engagement_at`), because until then the
counts could still have moved before A; a post first seen after A has no value at A.
`posts.engagement_at`, the last observation, tells: every save of a post's counts sets it.

Overperformance of a post, as CrowdTangle measured it: its engagement at age A divided by the
median engagement at age A of the same account's `baseline_posts` most recent earlier posts
(within `baseline_days`, those whose value at A is known), the median floored at 1 so a quiet
account does not divide by zero. A post is judged once its value at A is known and its account
has at least `min_posts` such earlier posts. Alerts take A, N, D and the threshold from the rule;
exports, the summary and the report use `REPORTING` (24 h, 20 posts, 30 days) and call a post
*overperforming* at 2x or more with some engagement.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, case, func, null, select

from monitor.schema import accounts, engagement_snapshots, posts
from monitor.sqlparts import all_of, engagement, plus_seconds


def engagement_at_age(hours: float) -> ColumnElement[Any]:
    """A post's total engagement `hours` after it was created, NULL while not known (module doc)."""
    seconds = round(hours * 3600)
    snap = engagement_snapshots.alias(f"snap_{seconds}s")
    moment = plus_seconds(posts.c.created_at, seconds)
    value = (
        select(engagement(snap))
        .where(snap.c.post_id == posts.c.id, snap.c.observed_at <= moment)
        .order_by(snap.c.observed_at.desc(), snap.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    # posts.engagement_at is when the counts were last observed (every save sets it, changed or
    # not), so it is never before a snapshot: "observed at or after the moment" is this one test.
    return case((posts.c.engagement_at >= moment, value), else_=null())


@dataclass(frozen=True, slots=True)
class Overperformance:
    """The parameters of the overperformance ratio (module doc)."""

    age_hours: float = 24.0
    baseline_posts: int = 20
    baseline_days: float = 30.0
    min_posts: int = 1
    factor: float = 2.0  # "overperforming" from this ratio on


REPORTING = Overperformance()


@dataclass(frozen=True, slots=True)
class Ratio:
    """One judged post: its engagement at the age, the median it is compared with, the ratio."""

    post_id: int
    account_id: int
    created_at: datetime
    engagement: int
    median: float
    baseline: int  # how many earlier posts the median is over
    ratio: float

    def overperforming(self, spec: Overperformance = REPORTING) -> bool:
        return self.engagement > 0 and self.ratio >= spec.factor


def ratios(
    conn: Connection,
    spec: Overperformance,
    account_ids: Sequence[int],
    start: datetime,
    judged: Sequence[ColumnElement[bool]],
    conditions: Sequence[ColumnElement[bool]],
) -> Iterator[Ratio]:
    """The ratio of every post of `account_ids` meeting `judged` whose value at the age is known,
    against its own rolling baseline, in account then time order.

    The database reads each account's posts from its `baseline_posts`-th most recent post before
    `start` on (one index seek per account), in order, where `conditions` hold (they must bound
    the end: e.g. created before the period's end); the rolling median is computed here.
    """
    if not account_ids:
        return
    oldest = start - timedelta(days=spec.baseline_days)
    earlier = posts.alias("earlier")
    nth = (  # per account, the created_at of its N-th most recent own post before `start`
        select(earlier.c.created_at)
        .where(earlier.c.account_id == accounts.c.id, earlier.c.created_at < start,
               earlier.c.created_at >= oldest, earlier.c.is_repost.is_(False))
        .order_by(earlier.c.created_at.desc())
        .offset(spec.baseline_posts - 1)
        .limit(1)
        .scalar_subquery()
    )  # fmt: skip
    cutoffs = (
        select(accounts.c.id.label("account_id"), func.coalesce(nth, oldest).label("since"))
        .where(accounts.c.id.in_(list(account_ids)))
        .cte("cutoffs")
        .prefix_with("MATERIALIZED")  # computed once per account, not once per post
    )
    value = engagement_at_age(spec.age_hours).label("e")
    is_judged = case((all_of(*judged), True), else_=False).label("judged")
    query = (
        select(posts.c.id, posts.c.account_id, posts.c.created_at, value, is_judged)
        .select_from(posts.join(cutoffs, cutoffs.c.account_id == posts.c.account_id))
        .where(posts.c.created_at >= cutoffs.c.since, posts.c.is_repost.is_(False), *conditions)
        .order_by(posts.c.account_id, posts.c.created_at, posts.c.id)
    )
    rows = conn.execute(query, execution_options={"yield_per": 5000})
    yield from rolling(((r.id, r.account_id, r.created_at, r.e, bool(r.judged)) for r in rows), spec)


def rolling(
    rows: Iterable[tuple[int, int, datetime, int | None, bool]], spec: Overperformance
) -> Iterator[Ratio]:
    """Ratios over rows (post, account, created_at, engagement at the age or None, judged?) in
    account then time order: each post against the median of its account's earlier known values."""
    window = timedelta(days=spec.baseline_days)
    account: int | None = None
    known: deque[tuple[datetime, int]] = deque()
    for post_id, account_id, created, value, judged in rows:
        if account_id != account:
            account, known = account_id, deque()
        while known and known[0][0] < created - window:
            known.popleft()
        while len(known) > spec.baseline_posts:
            known.popleft()
        if value is None:
            continue
        if judged and len(known) >= max(spec.min_posts, 1):
            median = statistics.median(v for _, v in known)
            yield Ratio(post_id, account_id, created, int(value), float(median), len(known),
                        value / max(median, 1.0))  # fmt: skip
        known.append((created, int(value)))
