"""Collection: the one place that knows both the collectors and the store.

The CLI (`diplomonitor collect`, `accounts sync`) and the service call these same functions.
Every account is isolated: its failure is recorded on it (collection_state) and the round goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from collectors.errors import CollectorError, Gone
from collectors.protocol import Collector
from collectors.records import UNAVAILABLE, Identity, KnownPost
from collectors.settings import CollectSettings
from monitor.collection.fanout import run_each
from monitor.collection.store import (
    mark_deleted,
    recent_posts,
    save_identity,
    save_posts,
    save_profile,
    update_state,
)
from monitor.collection.walk import (
    AccountResult,
    Target,
    collect_account,
    load_targets,
    mark_gone,
    resolve_target,
)
from monitor.errors import describe

log = logging.getLogger(__name__)


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _host(collectors: dict[str, Collector]) -> Callable[[Target], str]:
    def host_of(t: Target) -> str:
        collector = collectors.get(t.platform)
        return collector.host(t.identity()) if collector else t.platform

    return host_of


@dataclass(frozen=True, slots=True)
class CollectReport:
    """What a collection round did."""

    results: tuple[AccountResult, ...] = ()
    skipped: int = 0  # accounts waiting for their next attempt (backoff, gone accounts)
    seconds: float = 0.0

    def count(self, outcome: str) -> int:
        return sum(r.outcome == outcome for r in self.results)

    @property
    def new_posts(self) -> int:
        return sum(r.new_posts for r in self.results)

    @property
    def pages(self) -> int:
        return sum(r.pages for r in self.results)

    @property
    def rejected_posts(self) -> int:
        return sum(r.rejected_posts for r in self.results)


def due_targets(
    engine: Engine, *, platform: str | None = None, handle: str | None = None, now: datetime | None = None
) -> tuple[list[Target], int]:
    """Accounts a round would collect now, and how many wait for a later attempt."""
    now = _now(now)
    with engine.connect() as conn:
        targets = load_targets(conn, platform, handle)
    due = [t for t in targets if handle or t.next_attempt_at is None or t.next_attempt_at <= now]
    return due, len(targets) - len(due)


def collect_round(
    engine: Engine,
    settings: CollectSettings,
    collectors: dict[str, Collector],
    *,
    platform: str | None = None,
    handle: str | None = None,
    since: datetime | None = None,
    now: datetime | None = None,
    stop: threading.Event | None = None,
    on_account: Callable[[AccountResult], None] | None = None,
) -> CollectReport:
    """Collect every due account once (an explicit handle is collected even while backing off)."""
    started, now = time.monotonic(), _now(now)
    due, waiting = due_targets(engine, platform=platform, handle=handle, now=now)
    due = [t for t in due if t.platform in collectors]

    def task(t: Target) -> AccountResult:
        return collect_account(engine, collectors[t.platform], t, settings, since=since, now=now, stop=stop)

    done = run_each(
        due,
        task,
        workers=settings.concurrency,
        host_of=_host(collectors),
        stop=stop,
        on_done=(lambda _t, r: on_account(r)) if on_account else None,
    )
    report = CollectReport(tuple(r for _, r in done), waiting, time.monotonic() - started)
    log.info(
        "collected %d account(s): %d ok, %d failed, %d unavailable, %d new post(s) in %.1f s",
        len(report.results),
        report.count("ok"),
        report.count("failed"),
        report.count("unavailable"),
        report.new_posts,
        report.seconds,
    )
    return report


@dataclass(frozen=True, slots=True)
class ResolveReport:
    """Handles resolved, handles changed, accounts unavailable, and failures (label, message)."""

    resolved: tuple[str, ...] = ()
    changed: tuple[tuple[str, str], ...] = ()  # (label, handle the platform reports now)
    unavailable: tuple[tuple[str, str], ...] = ()
    failed: tuple[tuple[str, str], ...] = ()


def resolve_accounts(
    engine: Engine,
    settings: CollectSettings,
    collectors: dict[str, Collector],
    *,
    now: datetime | None = None,
) -> ResolveReport:
    """Resolve every active account (handle -> DID, or instance + account id); flag gone ones."""
    now = _now(now)
    with engine.connect() as conn:
        targets = [t for t in load_targets(conn) if t.platform in collectors]

    def task(t: Target) -> tuple[str, str]:
        try:
            identity = resolve_target(engine, collectors[t.platform], t, now)
        except Gone as exc:
            return "unavailable", mark_gone(engine, t, exc, now, settings)
        except CollectorError as exc:
            return "failed", describe(exc)
        changed = identity.handle != (t.current_handle or t.handle) and identity.status == "ok"
        return ("changed", identity.handle) if changed else ("resolved", identity.platform_id)

    done = run_each(targets, task, workers=settings.concurrency, host_of=_host(collectors))
    out: dict[str, list[tuple[str, str]]] = {"resolved": [], "changed": [], "unavailable": [], "failed": []}
    for t, (kind, detail) in sorted(done, key=lambda x: x[0].account_id):
        out[kind].append((t.label, detail))
    return ResolveReport(
        tuple(label for label, _ in out["resolved"] + out["changed"]),
        tuple(out["changed"]),
        tuple(out["unavailable"]),
        tuple(out["failed"]),
    )


@dataclass(frozen=True, slots=True)
class RefreshReport:
    """What an engagement or profile refresh did."""

    accounts: int = 0
    checked: int = 0  # posts (or profiles) read again
    snapshots: int = 0  # time-series rows written because a number changed
    deleted: int = 0  # posts found gone upstream
    failed: tuple[tuple[str, str], ...] = ()


def _ready(engine: Engine, collectors: dict[str, Collector]) -> list[Target]:
    with engine.connect() as conn:
        return [
            t
            for t in load_targets(conn)
            if t.platform in collectors and t.platform_id and t.status not in UNAVAILABLE
        ]


def refresh_engagement(
    engine: Engine,
    settings: CollectSettings,
    collectors: dict[str, Collector],
    *,
    now: datetime | None = None,
    stop: threading.Event | None = None,
) -> RefreshReport:
    """Re-count posts younger than refresh_days; snapshot changed counts; mark posts gone upstream."""
    now = _now(now)
    since = now - timedelta(days=settings.refresh_days)

    def task(t: Target) -> tuple[int, int, int, str | None]:
        with engine.connect() as conn:
            rows = recent_posts(conn, t.account_id, since)
        known = [KnownPost(r.uri, r.native_id, r.created_at, r.is_repost) for r in rows]
        try:
            fresh = collectors[t.platform].refresh(t.identity(), known, now)
        except CollectorError as exc:
            return 0, 0, 0, describe(exc)
        ids = {r.uri: r.id for r in rows}
        with engine.begin() as conn:
            saved = save_posts(conn, t.account_id, fresh.posts, now)
            deleted = mark_deleted(conn, [ids[u] for u in fresh.gone if u in ids], now)
            update_state(conn, t.account_id, engagement_refreshed_at=now)
        return len(fresh.posts), saved.snapshots, deleted, None

    done = run_each(
        _ready(engine, collectors),
        task,
        workers=settings.concurrency,
        host_of=_host(collectors),
        stop=stop,
    )
    return RefreshReport(
        accounts=len(done),
        checked=sum(r[0] for _, r in done),
        snapshots=sum(r[1] for _, r in done),
        deleted=sum(r[2] for _, r in done),
        failed=tuple((t.label, r[3]) for t, r in done if r[3]),
    )


def refresh_profiles(
    engine: Engine,
    settings: CollectSettings,
    collectors: dict[str, Collector],
    *,
    now: datetime | None = None,
    stop: threading.Event | None = None,
) -> RefreshReport:
    """Snapshot follower numbers (only when they changed); record handle changes; flag gone accounts."""
    now = _now(now)
    targets = _ready(engine, collectors)
    snapshots, checked, failed = 0, 0, []
    for platform, collector in collectors.items():
        mine = [t for t in targets if t.platform == platform]
        if not mine or (stop is not None and stop.is_set()):
            continue
        try:
            found = collector.profiles([t.identity() for t in mine], now)
        except CollectorError as exc:
            failed += [(t.label, describe(exc)) for t in mine]
            continue
        for t in mine:
            profile = found.get(t.platform_id or "")
            if profile is None:
                failed.append((t.label, _recheck(engine, collector, t, settings, now)))
                continue
            checked += 1
            with engine.begin() as conn:
                snapshots += save_profile(conn, t.account_id, profile)
                if profile.handle and profile.handle != (t.current_handle or t.handle):
                    moved = Identity(
                        platform, profile.handle, profile.platform_id, t.instance, profile.display_name
                    )
                    save_identity(conn, t.account_id, moved, now)
                update_state(conn, t.account_id, profile_refreshed_at=now)
    return RefreshReport(len(targets), checked, snapshots, 0, tuple(failed))


def _recheck(
    engine: Engine, collector: Collector, t: Target, settings: CollectSettings, now: datetime
) -> str:
    """A profile the platform did not serve: resolve the account to learn why, and flag it."""
    try:
        resolve_target(engine, collector, t, now)
    except Gone as exc:
        return mark_gone(engine, t, exc, now, settings)
    except CollectorError as exc:
        return describe(exc)
    return "profile not served, account still resolves"
