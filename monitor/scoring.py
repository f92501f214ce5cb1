"""The scoring job: posts not yet scored by the current models -> models.Scorer -> scores.

A post needs scoring when `posts.scored_with` differs from the scorer's fingerprint: NULL for
a new or edited post, an older fingerprint after a model or taxonomy change. Each batch is
written in one transaction (scores, post_topics, posts.scored_with). On PostgreSQL the batch
is claimed with SELECT ... FOR UPDATE SKIP LOCKED inside that transaction, so several
processes share the backlog and never score a post twice. On SQLite (one writer at a time)
the batch is read, scored outside any transaction, then written only where the text is still
the one scored.

A configured model that is missing never stops scoring: language and keyword topics are
scored at once, and the fingerprint records which parts contributed (`Versions.parts`), so
the posts are completed (scored again) on the first run after the model appears.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, or_, select, update

from models.scorer import Score, Scorer, Versions
from monitor.schema import post_topics, posts, scores

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScoreReport:
    scored: int = 0
    batches: int = 0


def _pending(fingerprint: str, rescore: bool) -> Any:
    if rescore:
        return posts.c.id.is_not(None)
    return or_(posts.c.scored_with.is_(None), posts.c.scored_with != fingerprint)


def unscored_count(engine: Engine, scorer: Scorer, *, rescore: bool = False) -> int:
    """Posts waiting for the models there now (new, edited, or scored by other models)."""
    query = select(func.count()).select_from(posts).where(_pending(scorer.fingerprint, rescore))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def score_pending(
    engine: Engine,
    scorer: Scorer,
    *,
    limit: int | None = None,
    rescore: bool = False,
    now: datetime | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
) -> ScoreReport:
    """Score posts in batches until none is left (or `limit`, or `stop`), with the models there now."""
    versions = scorer.versions()  # looks again for a model that was missing
    for role, why in versions.missing:
        log.warning("scoring without %s: %s", role, why, extra={"fields": {"missing": role}})
    size = scorer.settings.posts_per_batch
    after, scored, batches = 0, 0, 0
    claim = engine.dialect.name == "postgresql"
    while limit is None or scored < limit:
        if stop is not None and stop.is_set():
            break
        want = size if limit is None else min(size, limit - scored)
        if not scored and not _any_pending(engine, versions.fingerprint, rescore, after):
            break
        scorer.load()  # before claiming: loading takes seconds, rows stay unlocked meanwhile
        done, last = (_claim_and_score if claim else _read_then_write)(
            engine, scorer, versions, want, after, rescore, now or datetime.now(UTC)
        )
        if last is None:
            break
        after = last
        scored += done
        batches += 1
        if progress is not None:
            progress(done)
    if scored:
        log.info("scored %d post(s) in %d batch(es)", scored, batches, extra={"fields": {"scored": scored}})
    return ScoreReport(scored=scored, batches=batches)


def _any_pending(engine: Engine, fingerprint: str, rescore: bool, after: int) -> bool:
    with engine.connect() as conn:
        query = select(posts.c.id).where(_pending(fingerprint, rescore), posts.c.id > after).limit(1)
        return conn.execute(query).first() is not None


def _batch_query(fingerprint: str, rescore: bool, after: int, want: int) -> Any:
    return (
        select(posts.c.id, posts.c.text, posts.c.declared_language, posts.c.languages)
        .where(_pending(fingerprint, rescore), posts.c.id > after)
        .order_by(posts.c.id)
        .limit(want)
    )


def _claim_and_score(
    engine: Engine, scorer: Scorer, v: Versions, want: int, after: int, rescore: bool, now: datetime
) -> tuple[int, int | None]:
    with engine.begin() as conn:
        query = _batch_query(v.fingerprint, rescore, after, want).with_for_update(skip_locked=True)
        rows = conn.execute(query).all()
        if not rows:
            return 0, None
        results = scorer.score([r.text for r in rows], [_declared(r) for r in rows])
        _write(conn, [r.id for r in rows], results, v, now)
    return len(rows), rows[-1].id


def _read_then_write(
    engine: Engine, scorer: Scorer, v: Versions, want: int, after: int, rescore: bool, now: datetime
) -> tuple[int, int | None]:
    with engine.connect() as conn:
        rows = conn.execute(_batch_query(v.fingerprint, rescore, after, want)).all()
    if not rows:
        return 0, None
    results = scorer.score([r.text for r in rows], [_declared(r) for r in rows])
    with engine.begin() as conn:
        query = select(posts.c.id, posts.c.text).where(posts.c.id.in_([r.id for r in rows]))
        current = {r.id: r.text for r in conn.execute(query)}
        keep = [(r.id, s) for r, s in zip(rows, results, strict=True) if current.get(r.id) == r.text]
        _write(conn, [i for i, _ in keep], [s for _, s in keep], v, now)  # edited meanwhile: next round
    return len(keep), rows[-1].id


def _declared(row: Any) -> list[str]:
    """The languages the platform declared, the first one first (further evidence for the rules)."""
    declared = [row.declared_language] if row.declared_language else []
    others = row.languages if isinstance(row.languages, list) else []
    return list(dict.fromkeys(declared + [x for x in others if isinstance(x, str) and x]))


def _write(
    conn: Connection, ids: Sequence[int], results: Sequence[Score], v: Versions, now: datetime
) -> None:
    if not ids:
        return
    conn.execute(delete(post_topics).where(post_topics.c.post_id.in_(ids)))
    conn.execute(delete(scores).where(scores.c.post_id.in_(ids)))
    conn.execute(scores.insert(), [_score_row(i, s, v, now) for i, s in zip(ids, results, strict=True)])
    topic_rows = [
        {"post_id": i, "topic": t, "score": x}
        for i, s in zip(ids, results, strict=True)
        for t, x in s.topics.items()
    ]
    if topic_rows:
        conn.execute(post_topics.insert(), topic_rows)
    conn.execute(update(posts).where(posts.c.id.in_(ids)).values(scored_with=v.fingerprint))


def _score_row(post_id: int, s: Score, v: Versions, now: datetime) -> dict[str, Any]:
    sentiment = s.sentiment
    return {
        "post_id": post_id,
        "scored_with": v.fingerprint,
        "scored_at": now,
        "language": s.language,
        "language_confidence": s.language_confidence,
        "language_model": v.language_model,
        "sentiment_label": sentiment.label if sentiment else None,
        "sentiment_negative": sentiment.negative if sentiment else None,
        "sentiment_neutral": sentiment.neutral if sentiment else None,
        "sentiment_positive": sentiment.positive if sentiment else None,
        "sentiment_score": sentiment.score if sentiment else None,
        "sentiment_model": v.sentiment_model,
        "sentiment_model_version": v.sentiment_version,
        "topics": s.topics,
        "topic_basis": s.topic_basis,
        "topic_model": v.topic_model,
        "topic_model_version": v.topic_version,
    }
