"""Who a rule or a digest looks at: the active accounts, a rule's scope members, and the
conditions every metric puts on posts (scope, not deleted, reposts, topic).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, exists, select

from alerts.settings import Rule
from monitor.schema import accounts, post_topics, posts


@dataclass(frozen=True, slots=True)
class AccountRow:
    """An active account, as scopes need it."""

    id: int
    platform: str
    handle: str
    country: str
    groups: tuple[str, ...]
    created_at: datetime

    @property
    def label(self) -> str:
        return f"{self.platform}:{self.handle}"


@dataclass(frozen=True, slots=True)
class Member:
    """What one alert state watches: a whole scope, or one account of it (`per_member`)."""

    key: str  # alert_states.scope
    label: str  # for people
    accounts: tuple[AccountRow, ...]

    @property
    def account_ids(self) -> tuple[int, ...]:
        return tuple(a.id for a in self.accounts)


def load_accounts(conn: Connection) -> list[AccountRow]:
    """The active accounts (a few hundred rows at most)."""
    rows = conn.execute(
        select(accounts.c.id, accounts.c.platform, accounts.c.handle, accounts.c.country,
               accounts.c.groups, accounts.c.created_at)
        .where(accounts.c.active.is_(True)).order_by(accounts.c.platform, accounts.c.handle)
    )  # fmt: skip
    return [
        AccountRow(r.id, r.platform, r.handle, r.country, tuple(r.groups or ()), r.created_at) for r in rows
    ]


def in_scope(a: AccountRow, scope: str, value: str | None) -> bool:
    """Whether account `a` belongs to the scope (a topic scope filters posts, not accounts)."""
    v = (value or "").strip().lstrip("@").lower()
    return {
        "account": a.handle == v,
        "group": v in {g.lower() for g in a.groups},
        "country": a.country.lower() == v,
        "platform": a.platform == v,
    }.get(scope, True)


def members(rule: Rule, known: Sequence[AccountRow]) -> list[Member]:
    """The alert states a rule evaluates: one per account with `per_member`, else one."""
    chosen = tuple(a for a in known if in_scope(a, rule.scope, rule.scope_value))
    if rule.per_member:
        return [Member(a.label, a.label, (a,)) for a in chosen]
    if rule.scope == "all":
        return [Member("all", "all accounts", chosen)]
    return [Member(f"{rule.scope}:{rule.scope_value}", f"{rule.scope} {rule.scope_value}", chosen)]


def post_filters(
    ids: Sequence[int], *, include_reposts: bool = True, topic: str | None = None
) -> list[ColumnElement[bool]]:
    """Conditions on posts shared by every metric: the scope's accounts, not deleted, topic."""
    conds: list[ColumnElement[bool]] = [posts.c.account_id.in_(list(ids)), posts.c.deleted_at.is_(None)]
    if not include_reposts:
        conds.append(posts.c.is_repost.is_(False))
    if topic is not None:
        pt = post_topics.alias("scope_topic")
        conds.append(exists().where(pt.c.post_id == posts.c.id, pt.c.topic == topic))
    return conds


def rule_filters(rule: Rule, ids: Sequence[int]) -> list[ColumnElement[bool]]:
    """`post_filters` for a rule's scope."""
    topic = rule.scope_value if rule.scope == "topic" else None
    return post_filters(ids, include_reposts=rule.include_reposts, topic=topic)
