"""One account's collection: resolve it, walk its history down to the floor, page by page.

Each page's posts and the walk's progress commit in one transaction. The newest position
(the `cursor` watermark) moves only when a walk reaches its floor, so a crash at any point
resumes from the last committed page: nothing skipped, and upserts make repeats harmless.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import DBAPIError

from collectors.errors import CollectorError, Gone, Stopped
from collectors.protocol import Collector
from collectors.records import UNAVAILABLE, Floor, Identity
from collectors.settings import CollectSettings
from monitor.collection.store import (
    record_failure,
    record_success,
    record_unavailable,
    save_identity,
    save_posts,
    update_state,
)
from monitor.errors import describe
from monitor.schema import accounts, collection_state

log = logging.getLogger(__name__)
Outcome = Literal["ok", "failed", "unavailable", "stopped"]


@dataclass(frozen=True, slots=True)
class Target:
    """An active account with its collection state, as read at the start of a round."""

    account_id: int
    platform: str
    handle: str
    platform_id: str | None
    instance: str | None
    current_handle: str | None
    status: str
    cursor: str | None = None
    backfilled_from: datetime | None = None
    walk_cursor: str | None = None
    walk_top: str | None = None
    walk_since: datetime | None = None
    next_attempt_at: datetime | None = None

    @property
    def label(self) -> str:
        return f"{self.platform}:{self.handle}"

    def identity(self) -> Identity:
        handle = self.current_handle or self.handle
        return Identity(self.platform, handle, self.platform_id or "", self.instance, status=self.status)  # type: ignore[arg-type]


def load_targets(conn: Connection, platform: str | None = None, handle: str | None = None) -> list[Target]:
    """Active accounts (optionally one platform or one handle) with their collection state."""
    s = collection_state
    cols = [
        accounts.c.id,
        accounts.c.platform,
        accounts.c.handle,
        accounts.c.platform_id,
        accounts.c.instance,
        accounts.c.current_handle,
        accounts.c.status,
        s.c.cursor,
        s.c.backfilled_from,
        s.c.walk_cursor,
        s.c.walk_top,
        s.c.walk_since,
        s.c.next_attempt_at,
    ]
    query = select(*cols).select_from(accounts.outerjoin(s, s.c.account_id == accounts.c.id))
    query = query.where(accounts.c.active.is_(True)).order_by(accounts.c.id)
    if platform:
        query = query.where(accounts.c.platform == platform)
    if handle:
        wanted = handle.strip().lstrip("@").lower()
        query = query.where((accounts.c.handle == wanted) | (accounts.c.current_handle == wanted))
    return [Target(*row) for row in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class AccountResult:
    """What one account's collection did."""

    label: str
    outcome: Outcome
    new_posts: int = 0
    updated_posts: int = 0
    pages: int = 0
    message: str | None = None
    rejected_posts: int = 0  # posts kept out of the store (rejected_posts says why)


def resolve_target(engine: Engine, collector: Collector, target: Target, now: datetime) -> Identity:
    """Resolve the account (by id once known) and store what it resolved to; raises Gone."""
    identity = collector.resolve(target.handle, target.platform_id)
    with engine.begin() as conn:
        save_identity(conn, target.account_id, identity, now)
    return identity


def mark_gone(engine: Engine, target: Target, exc: Gone, now: datetime, settings: CollectSettings) -> str:
    """Flag an account the platform says is gone; it is looked at again after gone_recheck_hours."""
    message = f"{exc.status}: {exc}"
    with engine.begin() as conn:
        recheck = timedelta(hours=settings.gone_recheck_hours)
        record_unavailable(conn, target.account_id, exc.status, str(exc), now, recheck)
    return message


def collect_account(
    engine: Engine,
    collector: Collector,
    target: Target,
    settings: CollectSettings,
    *,
    since: datetime | None,
    now: datetime,
    stop: threading.Event | None,
) -> AccountResult:
    """Collect one account; every failure but the database's is recorded on the account, not raised."""
    try:
        if target.platform_id is None or target.status in UNAVAILABLE:
            identity = resolve_target(engine, collector, target, now)
        else:
            identity = target.identity()
        return _walk(engine, collector, target, identity, settings, since=since, now=now, stop=stop)
    except Gone as exc:
        return AccountResult(
            target.label, "unavailable", message=mark_gone(engine, target, exc, now, settings)
        )
    except Stopped:  # the service is stopping: not the account's failure, no backoff
        return AccountResult(target.label, "stopped", message="stopped; resumes next round")
    except CollectorError as exc:
        message = describe(exc)
    except DBAPIError:
        # The database, not the account, failed: the job fails and runs again next period,
        # instead of every account being put on failure backoff by an outage.
        raise
    except Exception as exc:  # a bug must not stop the other accounts; it is logged in full
        log.exception("collecting %s failed", target.label)
        message = f"internal error: {describe(exc)}"
    with engine.begin() as conn:
        record_failure(
            conn, target.account_id, message, now, timedelta(minutes=settings.failure_backoff_minutes)
        )
    return AccountResult(target.label, "failed", message=message)


def plan(
    target: Target, since: datetime | None, now: datetime, backfill_days: int
) -> tuple[Floor, str | None, bool]:
    """(floor, page cursor to start from, resuming an interrupted walk?) for this round."""
    if since is not None and (target.backfilled_from is None or since < target.backfilled_from):
        return Floor(time=since), None, False
    if target.walk_cursor is not None:
        floor = Floor(time=target.walk_since) if target.walk_since else Floor(marker=target.cursor)
        return floor, target.walk_cursor, True
    if target.cursor:
        return Floor(marker=target.cursor), None, False
    return Floor(time=now - timedelta(days=backfill_days)), None, False


def _walk(
    engine: Engine,
    collector: Collector,
    target: Target,
    identity: Identity,
    settings: CollectSettings,
    *,
    since: datetime | None,
    now: datetime,
    stop: threading.Event | None,
) -> AccountResult:
    floor, start, resuming = plan(target, since, now, settings.backfill_days)
    top = target.walk_top if resuming else None
    new = updated = pages = rejected = 0
    for page in collector.pages(identity, floor, start):
        if pages == 0 and not resuming:
            top = page.top or target.walk_top
        pages += 1
        with engine.begin() as conn:
            saved = save_posts(conn, target.account_id, page.posts, now)
            if page.done:
                record_success(conn, target.account_id, now, cursor=top, **_finished(target, floor))
            else:
                update_state(
                    conn, target.account_id, walk_cursor=page.cursor, walk_top=top, walk_since=floor.time
                )
        new, updated, rejected = new + saved.inserted, updated + saved.updated, rejected + len(saved.rejected)
        if not page.done and stop is not None and stop.is_set():
            why = "stopped; resumes next round"
            return AccountResult(target.label, "stopped", new, updated, pages, why, rejected)
    return AccountResult(target.label, "ok", new, updated, pages, rejected_posts=rejected)


def _finished(target: Target, floor: Floor) -> dict[str, Any]:
    values: dict[str, Any] = {"walk_cursor": None, "walk_top": None, "walk_since": None}
    if floor.time is not None:
        old = target.backfilled_from
        values["backfilled_from"] = floor.time if old is None else min(old, floor.time)
    return values
