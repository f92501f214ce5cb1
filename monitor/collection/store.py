"""Writes to the database: idempotent upserts by natural key, one transaction per batch.

Every function takes an open `Connection`; the caller owns the transaction, so a batch of
posts and the cursor that follows them commit together or not at all.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, String, and_, select, update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from collectors.records import Engagement, Identity, Post, Profile
from monitor.schema import (
    account_handles,
    accounts,
    collection_state,
    engagement_snapshots,
    post_versions,
    posts,
    profile_snapshots,
    rejected_posts,
)
from monitor.sqlparts import insert

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=24)


def save_identity(conn: Connection, account_id: int, identity: Identity, now: datetime) -> None:
    """Record what a handle resolved to; a changed handle is kept in the handle history."""
    conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id)
        .values(
            platform_id=identity.platform_id,
            instance=identity.instance,
            current_handle=identity.handle,
            status=identity.status,
            updated_at=now,
            **({"display_name": identity.display_name} if identity.display_name else {}),
        )
    )
    stmt = insert(conn, account_handles).values(
        account_id=account_id, handle=identity.handle, first_seen_at=now, last_seen_at=now
    )
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["account_id", "handle"], set_={"last_seen_at": now})
    )


def set_account_status(conn: Connection, account_id: int, status: str, now: datetime) -> None:
    conn.execute(update(accounts).where(accounts.c.id == account_id).values(status=status, updated_at=now))


@dataclass(frozen=True, slots=True)
class SaveResult:
    inserted: int = 0
    updated: int = 0
    edited: int = 0
    snapshots: int = 0
    rejected: tuple[tuple[str, str], ...] = ()  # (uri, reason) of posts kept out of the store

    def plus(self, other: SaveResult) -> SaveResult:
        return SaveResult(self.inserted + other.inserted, self.updated + other.updated,
                          self.edited + other.edited, self.snapshots + other.snapshots,
                          self.rejected + other.rejected)  # fmt: skip


# The length of every bounded text column of posts: one source, the schema.
_LIMITS = {c.name: c.type.length for c in posts.columns if isinstance(c.type, String) and c.type.length}


def misfit(p: Post) -> str | None:
    """Why `p` cannot be stored as it is, or None: the same answer on SQLite and PostgreSQL."""
    row = post_row(0, p, p.created_at)
    for name, limit in _LIMITS.items():
        value = row.get(name)
        if isinstance(value, str) and len(value) > limit:
            return f"{name} is {len(value)} characters long, more than the {limit} stored"
    return None


def _first_line(exc: DBAPIError) -> str:
    lines = str(exc.orig or exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:500]


def _record_rejected(
    conn: Connection, account_id: int, rejected: list[tuple[Post, str]], now: datetime
) -> None:
    for p, why in rejected:
        log.warning("post %s of account %d rejected: %s", p.uri[:200], account_id, why)
        record = {"text": p.text[:2000], "url": p.url, "created_at": p.created_at.isoformat(),
                  "author_handle": p.author_handle}  # fmt: skip
        key = hashlib.sha256(f"{p.platform} {p.uri}".encode()).hexdigest()
        stmt = insert(conn, rejected_posts).values(
            account_id=account_id, platform=p.platform, key=key, uri=p.uri, reason=why, record=record,
            first_rejected_at=now, last_rejected_at=now, times=1,
        )  # fmt: skip
        again = {
            "reason": why,
            "record": record,
            "last_rejected_at": now,
            "times": rejected_posts.c.times + 1,
        }
        conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_=again))


_MUTABLE = (
    "text",
    "url",
    "declared_language",
    "languages",
    "indexed_at",
    "links",
    "hashtags",
    "mentions",
    "edited_at",
    "reply_parent_uri",
    "reply_root_uri",
    "quote_of_uri",
    "is_quote",
    "raw",
    "native_id",
)


def post_row(account_id: int, p: Post, now: datetime) -> dict[str, Any]:
    """The posts-table row for a collected post."""
    e = p.engagement
    return {
        "account_id": account_id,
        "platform": p.platform,
        "uri": p.uri,
        "native_id": p.native_id,
        "url": p.url,
        "author_handle": p.author_handle,
        "text": p.text,
        "declared_language": p.languages[0] if p.languages else None,
        "languages": list(p.languages),
        "created_at": p.created_at,
        "indexed_at": p.indexed_at,
        "collected_at": now,
        "updated_at": now,
        "is_reply": p.is_reply,
        "reply_parent_uri": p.reply_parent_uri,
        "reply_root_uri": p.reply_root_uri,
        "is_repost": p.is_repost,
        "repost_of_uri": p.repost_of_uri,
        "repost_of_author": p.repost_of_author,
        "is_quote": p.is_quote,
        "quote_of_uri": p.quote_of_uri,
        "links": list(p.links),
        "hashtags": list(p.hashtags),
        "mentions": list(p.mentions),
        "edited_at": p.edited_at,
        "deleted_at": None,
        "likes": e.likes,
        "reposts": e.reposts,
        "replies": e.replies,
        "quotes": e.quotes,
        "engagement_at": now,
        "raw": dict(p.raw),
    }


def save_posts(conn: Connection, account_id: int, batch: Iterable[Post], now: datetime) -> SaveResult:
    """Upsert posts by (platform, uri); keep edited text as a version; snapshot changed counts.

    A post that does not fit the store (a value longer than its column, or one the database
    refuses) is recorded in rejected_posts with the reason, and the others are saved: one
    hostile post never fails its page. Any other database error (an outage) propagates.
    """
    unique: dict[tuple[str, str], Post] = {}
    for p in batch:  # a page may repeat a post (Bluesky's pinned post): keep the first
        unique.setdefault((p.platform, p.uri), p)
    fit: dict[tuple[str, str], Post] = {}
    rejected: list[tuple[Post, str]] = []
    for key, p in unique.items():
        why = misfit(p)
        if why:
            rejected.append((p, why))
        else:
            fit[key] = p
    try:
        with conn.begin_nested():
            result = _upsert(conn, account_id, fit, now)
    except (DataError, IntegrityError):  # one post the database refuses: find it, keep the rest
        result = SaveResult()
        for key, p in fit.items():
            try:
                with conn.begin_nested():
                    result = result.plus(_upsert(conn, account_id, {key: p}, now))
            except (DataError, IntegrityError) as exc:
                rejected.append((p, f"refused by the database: {_first_line(exc)}"))
    if rejected:
        _record_rejected(conn, account_id, rejected, now)
    return replace(result, rejected=tuple((p.uri, why) for p, why in rejected))


def _upsert(
    conn: Connection, account_id: int, unique: dict[tuple[str, str], Post], now: datetime
) -> SaveResult:
    if not unique:
        return SaveResult()
    uris = [uri for _, uri in unique]
    platform_of = {uri: platform for platform, uri in unique}
    old = {
        (r.platform, r.uri): r
        for r in conn.execute(
            select(
                posts.c.id,
                posts.c.platform,
                posts.c.uri,
                posts.c.text,
                posts.c.likes,
                posts.c.reposts,
                posts.c.replies,
                posts.c.quotes,
            ).where(posts.c.uri.in_(uris))
        )
        if platform_of.get(r.uri) == r.platform
    }
    edited = [(old[k], p) for k, p in unique.items() if k in old and old[k].text != p.text]
    if edited:
        conn.execute(
            post_versions.insert(),
            [{"post_id": r.id, "text": r.text, "valid_until": p.edited_at or now} for r, p in edited],
        )
    stmt = insert(conn, posts)
    excluded = stmt.excluded
    set_ = {c: excluded[c] for c in _MUTABLE}
    set_.update(
        updated_at=excluded.updated_at,
        deleted_at=None,
        likes=excluded.likes,
        reposts=excluded.reposts,
        replies=excluded.replies,
        quotes=excluded.quotes,
        engagement_at=excluded.engagement_at,
    )
    edited_ids = [r.id for r, _ in edited]
    stmt = stmt.on_conflict_do_update(index_elements=["platform", "uri"], set_=set_)
    result = conn.execute(
        stmt.returning(posts.c.id, posts.c.platform, posts.c.uri),
        [post_row(account_id, p, now) for p in unique.values()],
    )
    ids = {(r.platform, r.uri): r.id for r in result}
    if edited_ids:  # an edit needs re-scoring
        conn.execute(update(posts).where(posts.c.id.in_(edited_ids)).values(scored_with=None))
    snaps = [
        snapshot_row(ids[k], p.engagement, now)
        for k, p in unique.items()
        if k not in old or _counts(old[k]) != _counts(p.engagement)
    ]
    snaps = [s for s in snaps if any(s[c] is not None for c in ("likes", "reposts", "replies", "quotes"))]
    if snaps:
        conn.execute(engagement_snapshots.insert(), snaps)
    return SaveResult(
        inserted=len(unique) - len(old), updated=len(old), edited=len(edited), snapshots=len(snaps)
    )


def _counts(x: Any) -> tuple[int | None, ...]:
    return (x.likes, x.reposts, x.replies, x.quotes)


def snapshot_row(post_id: int, e: Engagement, now: datetime) -> dict[str, Any]:
    return {
        "post_id": post_id,
        "observed_at": now,
        "likes": e.likes,
        "reposts": e.reposts,
        "replies": e.replies,
        "quotes": e.quotes,
    }


def mark_deleted(conn: Connection, post_ids: Sequence[int], now: datetime) -> int:
    """Posts gone upstream are marked, never removed."""
    if not post_ids:
        return 0
    result = conn.execute(
        update(posts)
        .where(and_(posts.c.id.in_(list(post_ids)), posts.c.deleted_at.is_(None)))
        .values(deleted_at=now, updated_at=now)
    )
    return result.rowcount or 0


def save_profile(conn: Connection, account_id: int, profile: Profile) -> bool:
    """Add a profile snapshot when a number changed since the last one."""
    last = conn.execute(
        select(profile_snapshots.c.followers, profile_snapshots.c.following, profile_snapshots.c.posts_count)
        .where(profile_snapshots.c.account_id == account_id)
        .order_by(profile_snapshots.c.observed_at.desc())
        .limit(1)
    ).first()
    now_values = (profile.followers, profile.following, profile.posts_count)
    if last is not None and tuple(last) == now_values:
        return False
    conn.execute(
        profile_snapshots.insert().values(
            account_id=account_id,
            observed_at=profile.observed_at,
            followers=profile.followers,
            following=profile.following,
            posts_count=profile.posts_count,
        )
    )
    return True


def record_success(
    conn: Connection, account_id: int, now: datetime, cursor: str | None = None, **extra: Any
) -> None:
    """The account was collected: store the cursor (same transaction as its posts)."""
    values: dict[str, Any] = {
        "last_attempt_at": now,
        "last_success_at": now,
        "last_error": None,
        "consecutive_failures": 0,
        "next_attempt_at": None,
        **extra,
    }
    if cursor is not None:
        values["cursor"] = cursor
    stmt = insert(conn, collection_state).values(account_id=account_id, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["account_id"], set_=values))


def record_failure(
    conn: Connection, account_id: int, error: str, now: datetime, base_delay: timedelta = timedelta(minutes=5)
) -> datetime:
    """The account failed: count it and back off exponentially, up to a day."""
    failures = (
        conn.execute(
            select(collection_state.c.consecutive_failures).where(collection_state.c.account_id == account_id)
        ).scalar()
        or 0
    )
    failures += 1
    next_at = now + min(base_delay * 2 ** (failures - 1), MAX_BACKOFF)
    values = {
        "last_attempt_at": now,
        "last_error": error[:2000],
        "consecutive_failures": failures,
        "next_attempt_at": next_at,
    }
    stmt = insert(conn, collection_state).values(account_id=account_id, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["account_id"], set_=values))
    return next_at


def update_state(conn: Connection, account_id: int, **values: Any) -> None:
    """Set collection_state columns (a walk's progress, refresh times), creating the row if needed."""
    stmt = insert(conn, collection_state).values(account_id=account_id, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["account_id"], set_=values))


def record_unavailable(
    conn: Connection, account_id: int, status: str, message: str, now: datetime, recheck: timedelta
) -> datetime:
    """The account is gone (deactivated, suspended, not found...): flag it, look again much later."""
    set_account_status(conn, account_id, status, now)
    next_at = now + recheck
    values = {"last_attempt_at": now, "last_error": message[:2000], "next_attempt_at": next_at}
    stmt = insert(conn, collection_state).values(account_id=account_id, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["account_id"], set_=values))
    return next_at


def recent_posts(conn: Connection, account_id: int, since: datetime) -> list[Any]:
    """The account's posts created since `since` and not gone upstream (for engagement refresh)."""
    return list(
        conn.execute(
            select(posts.c.id, posts.c.uri, posts.c.native_id, posts.c.created_at, posts.c.is_repost)
            .where(
                posts.c.account_id == account_id, posts.c.created_at >= since, posts.c.deleted_at.is_(None)
            )
            .order_by(posts.c.created_at.desc())
        )
    )
