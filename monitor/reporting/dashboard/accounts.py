"""The accounts table (the summary's figures per account) and one account's page.

The table's posts, engagement and follower figures are `export summary --by account` for the
same period and filters; the account page's weekly series come from the report's daily figures.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from monitor.reporting.gather import account_followers, daily_figures, days_of
from monitor.reporting.selection import Period, Selection, account_conditions
from monitor.reporting.summary import SUMMARY_COLUMNS, summarise
from monitor.schema import accounts, alert_events, collection_state, posts, profile_snapshots

ACCOUNT_SORTS = ("handle", "country", "kind", "followers", "followers_change", "posts", "engagement_per_post",
                 "last_post", "status")  # fmt: skip
KINDS_FILTER = "kind"


def _latest(column: Any, table: Any, order: Any, where: Any) -> Any:
    return select(column).where(where).order_by(order.desc()).limit(1).scalar_subquery()


def account_rows(conn: Connection, sel: Selection, kinds: tuple[str, ...], sort: str, descending: bool,
                 summary: list[tuple[Any, ...]] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """One row per account of the selection: who, followers, posts, engagement, last post, status."""
    summary = summary if summary is not None else summarise(conn, sel, "account", overperformance=False)
    figures = {r[0]: dict(zip(SUMMARY_COLUMNS, r[1:], strict=True)) for r in summary}
    s = collection_state.c
    last_post = _latest(posts.c.created_at, posts, posts.c.created_at, posts.c.account_id == accounts.c.id)
    followers = _latest(profile_snapshots.c.followers, profile_snapshots, profile_snapshots.c.observed_at,
                        (profile_snapshots.c.account_id == accounts.c.id)
                        & profile_snapshots.c.followers.is_not(None))  # fmt: skip
    conds = account_conditions(conn, sel)
    if kinds:
        conds.append(accounts.c.kind.in_(kinds))
    query = (
        select(accounts.c.id, accounts.c.platform, accounts.c.handle, accounts.c.display_name,
               accounts.c.country, accounts.c.host_country, accounts.c.kind, accounts.c.groups,
               accounts.c.status, accounts.c.active, s.consecutive_failures, s.last_success_at,
               last_post.label("last_post"), followers.label("followers"))
        .select_from(accounts.outerjoin(collection_state, s.account_id == accounts.c.id))
        .where(*conds)
    )  # fmt: skip
    rows = []
    for r in conn.execute(query):
        f = figures.get(r.handle, {})
        rows.append({
            **{k: v for k, v in r._mapping.items() if k != "id"}, "groups": list(r.groups or ()),
            "posts": f.get("posts", 0), "engagement_per_post": f.get("engagement_per_post"),
            "engagement_total": f.get("engagement_total"), "followers_change": f.get("followers_change"),
            "followers_change_pct": f.get("followers_change_pct"), "sentiment_mean": f.get("sentiment_mean"),
        })  # fmt: skip
    return sort_rows(rows, sort, descending)


def sort_rows(rows: list[dict[str, Any]], sort: str, descending: bool) -> list[dict[str, Any]]:
    """Rows ordered by one column, unknown values last whatever the direction, then by handle."""
    rows.sort(key=lambda r: r["handle"])
    known = [r for r in rows if r.get(sort) is not None]
    unknown = [r for r in rows if r.get(sort) is None]
    known.sort(key=lambda r: r[sort], reverse=descending)
    return known + unknown


def find_account(conn: Connection, platform: str, handle: str) -> dict[str, Any] | None:
    s = collection_state.c
    row = conn.execute(
        select(accounts, s.consecutive_failures, s.last_success_at, s.last_error, s.next_attempt_at)
        .select_from(accounts.outerjoin(collection_state, s.account_id == accounts.c.id))
        .where(accounts.c.platform == platform, accounts.c.handle == handle.lower())
    ).first()
    return None if row is None else {**row._mapping, "groups": list(row.groups or ())}


def weekly(days: list[date], daily: dict[date, dict[str, Any]]) -> list[dict[str, Any]]:
    """Daily figures summed per week (weeks start on Monday)."""
    weeks: dict[date, dict[str, Any]] = defaultdict(lambda: defaultdict(float))
    for d in days:
        week = weeks[d - timedelta(days=d.weekday())]
        for name, value in daily.get(d, {}).items():
            week[name] += value or 0
    out = []
    for start, w in sorted(weeks.items()):
        own = w.get("own_posts", 0)
        out.append({
            "week": start, "posts": int(w.get("posts", 0)),
            "engagement_per_post": round(w.get("engagement", 0) / own, 2) if own else None,
            "tone": round(w["tone_sum"] / w["scored"], 3) if w.get("scored") else None,
        })  # fmt: skip
    return out


def account_page(conn: Connection, account: dict[str, Any], period: Period) -> dict[str, Any]:
    """Posts per week, engagement per post per week, followers per day, and the alert history."""
    sel = Selection(period, handles=(account["handle"],), platforms=(account["platform"],))
    last = _day(period.end - timedelta(microseconds=1)) + timedelta(days=1)
    days = days_of(Period(_day(period.start), last, period.label))
    daily, _ = daily_figures(conn, sel, "account")
    followers = account_followers(conn, account["id"], period, days)
    scopes = (f"{account['platform']}:{account['handle']}", f"account:{account['handle']}")
    e = alert_events.c
    history = conn.execute(
        select(e.id, e.rule, e.scope, e.severity, e.title, e.opened_at, e.resolved_at, e.muted,
               e.acknowledged_by)
        .where(e.scope.in_(scopes)).order_by(e.opened_at.desc(), e.id.desc()).limit(20)
    )  # fmt: skip
    return {
        "weeks": weekly(days, daily),
        "followers": [{"day": d, "followers": n} for d, n in zip(days, followers, strict=True)],
        "alerts": [dict(r._mapping) for r in history],
    }


def _day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)
