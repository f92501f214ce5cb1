"""Reception: how audiences answer watched posts, the replies (the whole thread) and the quotes
written by others, collected for posts younger than `[reception] days`.

A round goes account by account, spread across hosts like collection. It first re-counts the
account's recent posts (Bluesky getPosts, 25 per request; Mastodon a page of statuses), then
reads the thread or the quotes of a post only when its reply or quote count changed since the
last look, fastest-growing first. Each post's answers and its coverage (replies the platform
reports against replies collected) are written in one transaction: a crash mid-round loses or
duplicates nothing. Authors are private people: stored as a keyed hash unless the deployment
may keep handles; `purge_reception` removes texts after `retention_days`, keeping the scores.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, select, update
from sqlalchemy.exc import DataError, IntegrityError

from collectors.errors import CollectorError, Stopped
from collectors.protocol import Collector
from collectors.records import UNAVAILABLE, KnownPost, Post, Reception
from monitor.collection.fanout import run_each
from monitor.collection.rounds import recount
from monitor.collection.walk import Target, load_targets
from monitor.config import ReceptionSettings
from monitor.errors import MonitorError, describe
from monitor.measures import reception_figures
from monitor.schema import accounts, posts, reception_posts, reception_state
from monitor.sqlparts import insert

log = logging.getLogger(__name__)


class ReceptionUnavailable(MonitorError):
    """Reception cannot store authors as configured (no pseudonym key)."""


class Authors:
    """How the author of an answer is stored: a keyed hash, and the handle only if allowed."""

    def __init__(self, settings: ReceptionSettings, secrets: Mapping[str, str]):
        self.keep = settings.keep_authors
        key = secrets.get(settings.pseudonym_key_env, "")
        if not key and not self.keep:
            raise ReceptionUnavailable(
                f"reception stores authors pseudonymised and needs a secret key: set "
                f"{settings.pseudonym_key_env} (e.g. `openssl rand -hex 32`), kept the same across "
                "runs, or set [reception] keep_authors = true where the deployment may keep handles"
            )
        self._key = key.encode() or b"keep-authors"

    def key(self, platform: str, author_id: str) -> str:
        """The same person gives the same key on every run (repeat repliers can be counted)."""
        return hmac.new(self._key, f"{platform}:{author_id}".encode(), hashlib.sha256).hexdigest()[:32]

    def handle(self, p: Post) -> str | None:
        return p.author_handle[:255] if self.keep else None


@dataclass(frozen=True, slots=True)
class Watched:
    """A watched post whose answers are followed, with what was seen at the last look."""

    post_id: int
    uri: str
    native_id: str | None
    created_at: datetime
    replies: int | None
    quotes: int | None
    replies_seen: int | None
    quotes_seen: int | None
    quotes_listed: bool | None
    checked: bool

    def known(self) -> KnownPost:
        return KnownPost(self.uri, self.native_id, self.created_at)

    def wants(self) -> tuple[bool, bool]:
        """(read the thread?, read the quotes?): only what changed since the last look."""
        replies = bool(self.replies) and self.replies != self.replies_seen
        if self.quotes is None:  # the server does not count quotes: try its list once
            quotes = self.quotes_listed is None and not self.checked
        else:
            quotes = bool(self.quotes) and self.quotes != self.quotes_seen and self.quotes_listed is not False
        return replies, quotes

    @property
    def growth(self) -> int:
        return (self.replies or 0) - (self.replies_seen or 0) + (self.quotes or 0) - (self.quotes_seen or 0)


@dataclass(frozen=True, slots=True)
class ReceptionReport:
    """What a reception round did."""

    accounts: int = 0
    posts_checked: int = 0  # watched posts re-counted
    threads_read: int = 0  # posts whose replies or quotes were read
    new_answers: int = 0
    gone_answers: int = 0
    failed: tuple[tuple[str, str], ...] = ()


def watched_posts(conn: Connection, target: Target, days: float, now: datetime) -> list[Watched]:
    """The account's own posts younger than `days`, with their reception state."""
    s = reception_state
    rows = conn.execute(
        select(
            posts.c.id,
            posts.c.uri,
            posts.c.native_id,
            posts.c.created_at,
            posts.c.replies,
            posts.c.quotes,
            s.c.replies_seen,
            s.c.quotes_seen,
            s.c.quotes_listed,
            s.c.checked_at,
        )
        .select_from(posts.outerjoin(s, s.c.post_id == posts.c.id))
        .where(
            posts.c.account_id == target.account_id,
            posts.c.created_at >= now - timedelta(days=days),
            posts.c.is_repost.is_(False),
            posts.c.deleted_at.is_(None),
        )
        .order_by(posts.c.created_at.desc())
    )
    return [Watched(*r[:9], checked=r.checked_at is not None) for r in rows]


def save_answers(
    conn: Connection, w: Watched, found: Reception, authors: Authors, now: datetime
) -> tuple[int, int]:
    """Upsert one post's answers and its coverage; mark answers gone upstream. (new, gone)."""
    rows = [_row(w, p, "reply", p.reply_parent_uri, authors, now) for p in found.replies]
    # A post the platform lists as quoting this one quotes it, whatever its embed says.
    rows += [_row(w, p, "quote", p.quote_of_uri or w.uri, authors, now) for p in found.quotes]
    rows = [r for r in {(r["platform"], r["uri"]): r for r in rows}.values() if _fits(r)]
    t = reception_posts
    before = {u for (u,) in conn.execute(select(t.c.uri).where(t.c.post_id == w.post_id))}
    if rows:
        stmt = insert(conn, t)
        x = stmt.excluded
        changed = t.c.text.is_distinct_from(x.text)
        set_ = {
            c: x[c]
            for c in (
                "relation",
                "parent_uri",
                "author_key",
                "author_handle",
                "declared_language",
                "languages",
                "likes",
                "reposts",
                "replies",
                "quotes",
                "edited_at",
            )
        }
        set_.update(
            text=case((t.c.purged_at.is_(None), x.text), else_=None),  # retention is never undone
            author_handle=case((t.c.purged_at.is_(None), x.author_handle), else_=None),
            scored_with=case((and_(changed, t.c.purged_at.is_(None)), None), else_=t.c.scored_with),
            updated_at=x.updated_at,
            deleted_at=None,
        )
        conn.execute(stmt.on_conflict_do_update(index_elements=["platform", "uri"], set_=set_), rows)
    gone = 0
    for relation, read in (("reply", found.replies_read), ("quote", found.quotes_read)):
        if read:
            kept = [r["uri"] for r in rows if r["relation"] == relation]
            result = conn.execute(
                update(t)
                .where(
                    t.c.post_id == w.post_id,
                    t.c.relation == relation,
                    t.c.deleted_at.is_(None),
                    t.c.uri.not_in(kept),
                )
                .values(deleted_at=now, updated_at=now)
            )
            gone += result.rowcount or 0
    _save_state(conn, w, found, now)
    reception_figures(conn, [w.post_id])
    return len({r["uri"] for r in rows} - before), gone


def _row(
    w: Watched, p: Post, relation: str, parent: str | None, authors: Authors, now: datetime
) -> dict[str, Any]:
    e = p.engagement
    return {
        "post_id": w.post_id,
        "platform": p.platform,
        "uri": p.uri,
        "relation": relation,
        "parent_uri": parent,
        "author_key": authors.key(p.platform, p.author_id),
        "author_handle": authors.handle(p),
        "text": p.text,
        "declared_language": p.languages[0] if p.languages else None,
        "languages": list(p.languages),
        "created_at": p.created_at,
        "collected_at": now,
        "updated_at": now,
        "likes": e.likes,
        "reposts": e.reposts,
        "replies": e.replies,
        "quotes": e.quotes,
        "edited_at": p.edited_at,
    }


def _fits(row: dict[str, Any]) -> bool:
    limits = {"uri": 512, "parent_uri": 512, "declared_language": 16}
    too_long = [k for k, n in limits.items() if row[k] is not None and len(row[k]) > n]
    if too_long:
        log.warning("answer %s left out: %s longer than stored", row["uri"][:200], ", ".join(too_long))
    return not too_long


def _save_state(conn: Connection, w: Watched, found: Reception, now: datetime) -> None:
    t = reception_state
    live = reception_posts.c.deleted_at.is_(None) & (reception_posts.c.post_id == w.post_id)
    r = reception_posts.c
    direct = func.sum(case((and_(r.relation == "reply", r.parent_uri == w.uri), 1), else_=0))
    counts = conn.execute(
        select(
            func.coalesce(direct, 0),
            func.coalesce(func.sum(case((r.relation == "reply", 1), else_=0)), 0),
            func.coalesce(func.sum(case((r.relation == "quote", 1), else_=0)), 0),
        ).where(live)
    ).one()
    want_replies, want_quotes = w.wants()
    values: dict[str, Any] = {
        "replies_collected": int(counts[0]),
        "thread_collected": int(counts[1]),
        "quotes_collected": int(counts[2]),
        "checked_at": now,
        "replies_seen": w.replies if want_replies or found.replies_read else w.replies_seen,
        "quotes_seen": w.quotes if found.quotes_read else w.quotes_seen,
    }
    if found.replies_read:
        values["withheld"] = found.withheld
    if want_quotes:  # asked: the server lists quotes, or it does not
        values["quotes_listed"] = found.quotes_read or bool(found.quotes)
    stmt = insert(conn, t).values(post_id=w.post_id, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["post_id"], set_=values))


def collect_reception(
    engine: Engine,
    settings: ReceptionSettings,
    collectors: Mapping[str, Collector],
    authors: Authors,
    *,
    workers: int,
    now: datetime,
    stop: threading.Event | None = None,
) -> ReceptionReport:
    """One reception round over every collectable account (module doc)."""
    with engine.connect() as conn:
        targets = [
            t
            for t in load_targets(conn)
            if t.platform in collectors and t.platform_id and t.status not in UNAVAILABLE
        ]
        groups = {r.id: tuple(r.groups or ()) for r in conn.execute(select(accounts.c.id, accounts.c.groups))}

    def task(t: Target) -> tuple[int, int, int, int, str | None]:
        try:
            days = settings.days_for(groups.get(t.account_id, ()))
            return (*_account(engine, settings, collectors[t.platform], authors, t, days, now, stop), None)
        except Stopped:
            return 0, 0, 0, 0, None
        except CollectorError as exc:
            return 0, 0, 0, 0, describe(exc)

    def host_of(t: Target) -> str:
        return collectors[t.platform].host(t.identity())

    done = run_each(targets, task, workers=workers, host_of=host_of, stop=stop)
    report = ReceptionReport(
        accounts=len(done),
        posts_checked=sum(r[0] for _, r in done),
        threads_read=sum(r[1] for _, r in done),
        new_answers=sum(r[2] for _, r in done),
        gone_answers=sum(r[3] for _, r in done),
        failed=tuple((t.label, r[4]) for t, r in done if r[4]),
    )
    if report.threads_read:
        log.info(
            "reception: %d thread(s) read, %d new answer(s), %d gone",
            report.threads_read,
            report.new_answers,
            report.gone_answers,
        )
    return report


def _account(
    engine: Engine,
    settings: ReceptionSettings,
    collector: Collector,
    authors: Authors,
    t: Target,
    days: float,
    now: datetime,
    stop: threading.Event | None,
) -> tuple[int, int, int, int]:
    """Re-count the account's recent posts, then read the answers of those that changed."""
    identity = t.identity()
    since = now - timedelta(days=days)
    recount(engine, collector, t, since, now)
    with engine.connect() as conn:
        watched = sorted(watched_posts(conn, t, days, now), key=lambda w: (-w.growth, w.post_id))
    read = new = gone = 0
    for w in watched:
        want_replies, want_quotes = w.wants()
        if not (want_replies or want_quotes):
            continue
        if stop is not None and stop.is_set():
            break
        found = collector.reception(
            identity,
            w.known(),
            replies=want_replies,
            quotes=want_quotes,
            depth=settings.thread_depth,
            max_pages=settings.quote_pages,
        )
        try:
            with engine.begin() as conn:
                added, removed = save_answers(conn, w, found, authors, now)
        except (DataError, IntegrityError) as exc:  # one hostile answer: this post waits, the round goes on
            log.warning("answers to %s not stored: %s", w.uri, describe(exc)[:300])
            continue
        read, new, gone = read + 1, new + added, gone + removed
    return len(watched), read, new, gone


def purge_reception(engine: Engine, settings: ReceptionSettings, now: datetime) -> int:
    """Remove the text (and kept handles) of answers older than retention_days; scores stay."""
    if not settings.retention_days:
        return 0
    t = reception_posts
    with engine.begin() as conn:
        result = conn.execute(
            update(t)
            .where(t.c.created_at < now - timedelta(days=settings.retention_days), t.c.purged_at.is_(None))
            .values(text=None, author_handle=None, purged_at=now, updated_at=now)
        )
    purged = result.rowcount or 0
    if purged:
        log.info(
            "reception: texts of %d answer(s) older than %g days removed", purged, settings.retention_days
        )
    return purged
