"""The scoring job: texts not yet scored by the current models -> models.Classifier -> scores.

Two kinds of text are scored by the same models: the watched accounts' posts (`posts` ->
`scores` and `post_topics`) and the audience's replies and quotes (`reception_posts` ->
`reception_scores`; after each batch the watched posts' reply figures are recomputed,
monitor.measures.reception_figures). Posts go first: a backlog of answers never delays them.

A text needs scoring when its `scored_with` differs from the classifier's fingerprint: NULL
for a new or edited text, an older fingerprint after a model or taxonomy change. Answers
whose text was removed by retention, or that left their thread, are not scored. Each batch
is written in one transaction (scores, topics, scored_with). On PostgreSQL the batch is
claimed with SELECT ... FOR UPDATE SKIP LOCKED inside that transaction, so several processes
share the backlog and never score a text twice. On SQLite (one writer at a time) the batch
is read, scored outside any transaction, then written only where the text is still the one
scored.

A configured model that is missing never stops scoring: language and keyword topics are
scored at once, and the fingerprint records which parts contributed (`Versions.parts`), so
the texts are completed (scored again) on the first run after the model appears.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Connection, Engine, Table, delete, func, or_, select, update

from models.protocol import Classifier
from models.scorer import Score, Versions
from monitor.measures import reception_figures
from monitor.schema import post_topics, posts, reception_posts, reception_scores, scores

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScoreReport:
    scored: int = 0  # watched accounts' posts
    answers: int = 0  # the audience's replies and quotes
    batches: int = 0


@dataclass(frozen=True, slots=True)
class _Texts:
    """One kind of scored text: where it lives, where its scores go."""

    table: Table
    scores: Table
    key: Column[Any]  # the scores' column naming the text
    topics: Table | None  # one row per (text, topic), for posts
    live: tuple[Any, ...]  # texts that can be scored at all

    def pending(self, fingerprint: str, rescore: bool) -> list[Any]:
        c = self.table.c
        todo = c.id.is_not(None) if rescore else or_(c.scored_with.is_(None), c.scored_with != fingerprint)
        return [todo, *self.live]


POSTS = _Texts(posts, scores, scores.c.post_id, post_topics, ())
ANSWERS = _Texts(
    reception_posts,
    reception_scores,
    reception_scores.c.reception_id,
    None,
    (reception_posts.c.text.is_not(None), reception_posts.c.deleted_at.is_(None)),
)


def unscored_count(engine: Engine, scorer: Classifier, *, rescore: bool = False) -> int:
    """Texts waiting for the models there now (new, edited, or scored by other models): posts
    and answers together."""
    fingerprint = scorer.versions().fingerprint
    with engine.connect() as conn:
        return sum(
            int(
                conn.execute(
                    select(func.count()).select_from(t.table).where(*t.pending(fingerprint, rescore))
                ).scalar_one()
            )
            for t in (POSTS, ANSWERS)
        )


def score_pending(
    engine: Engine,
    scorer: Classifier,
    *,
    limit: int | None = None,
    rescore: bool = False,
    now: datetime | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
) -> ScoreReport:
    """Score posts, then answers, in batches until none is left (or `limit` texts, or `stop`)."""
    versions = scorer.versions()  # looks again for a model that was missing
    for role, why in versions.missing:
        log.warning("scoring without %s: %s", role, why, extra={"fields": {"missing": role}})
    counts: list[int] = []
    batches = 0
    for texts in (POSTS, ANSWERS):
        left = None if limit is None else limit - sum(counts)
        done, n = _score_all(engine, scorer, versions, texts, left, rescore, now, stop, progress)
        counts.append(done)
        batches += n
    report = ScoreReport(scored=counts[0], answers=counts[1], batches=batches)
    if report.scored or report.answers:
        log.info("scored %d post(s) and %d answer(s) in %d batch(es)", report.scored, report.answers, batches,
                 extra={"fields": {"scored": report.scored, "answers": report.answers}})  # fmt: skip
    return report


def _score_all(
    engine: Engine,
    scorer: Classifier,
    versions: Versions,
    texts: _Texts,
    limit: int | None,
    rescore: bool,
    now: datetime | None,
    stop: threading.Event | None,
    progress: Callable[[int], None] | None,
) -> tuple[int, int]:
    size = scorer.posts_per_batch
    after, scored, batches = 0, 0, 0
    claim = engine.dialect.name == "postgresql"
    while limit is None or scored < limit:
        if stop is not None and stop.is_set():
            break
        want = size if limit is None else min(size, limit - scored)
        if not scored and not _any_pending(engine, texts, versions.fingerprint, rescore, after):
            break
        scorer.load()  # before claiming: loading takes seconds, rows stay unlocked meanwhile
        done, last = (_claim_and_score if claim else _read_then_write)(
            engine, scorer, versions, texts, want, after, rescore, now or datetime.now(UTC)
        )
        if last is None:
            break
        after = last
        scored += done
        batches += 1
        if progress is not None:
            progress(done)
    return scored, batches


def _any_pending(engine: Engine, texts: _Texts, fingerprint: str, rescore: bool, after: int) -> bool:
    with engine.connect() as conn:
        t = texts.table
        query = select(t.c.id).where(*texts.pending(fingerprint, rescore), t.c.id > after).limit(1)
        return conn.execute(query).first() is not None


def _batch_query(texts: _Texts, fingerprint: str, rescore: bool, after: int, want: int) -> Any:
    t = texts.table
    return (
        select(t.c.id, t.c.text, t.c.declared_language, t.c.languages)
        .where(*texts.pending(fingerprint, rescore), t.c.id > after)
        .order_by(t.c.id)
        .limit(want)
    )


def _claim_and_score(
    engine: Engine, scorer: Classifier, v: Versions, texts: _Texts, want: int, after: int, rescore: bool,
    now: datetime,
) -> tuple[int, int | None]:  # fmt: skip
    with engine.begin() as conn:
        query = _batch_query(texts, v.fingerprint, rescore, after, want).with_for_update(skip_locked=True)
        rows = conn.execute(query).all()
        if not rows:
            return 0, None
        results = scorer.score([r.text or "" for r in rows], [_declared(r) for r in rows])
        _write(conn, texts, [r.id for r in rows], results, v, now)
    return len(rows), rows[-1].id


def _read_then_write(
    engine: Engine, scorer: Classifier, v: Versions, texts: _Texts, want: int, after: int, rescore: bool,
    now: datetime,
) -> tuple[int, int | None]:  # fmt: skip
    with engine.connect() as conn:
        rows = conn.execute(_batch_query(texts, v.fingerprint, rescore, after, want)).all()
    if not rows:
        return 0, None
    results = scorer.score([r.text or "" for r in rows], [_declared(r) for r in rows])
    with engine.begin() as conn:
        t = texts.table
        query = select(t.c.id, t.c.text).where(t.c.id.in_([r.id for r in rows]), *texts.live)
        current = {r.id: r.text for r in conn.execute(query)}
        keep = [
            (r.id, s)
            for r, s in zip(rows, results, strict=True)
            if r.id in current and current[r.id] == r.text
        ]
        _write(
            conn, texts, [i for i, _ in keep], [s for _, s in keep], v, now
        )  # edited meanwhile: next round
    return len(keep), rows[-1].id


def _declared(row: Any) -> list[str]:
    """The languages the platform declared, the first one first (further evidence for the rules)."""
    declared = [row.declared_language] if row.declared_language else []
    others = row.languages if isinstance(row.languages, list) else []
    return list(dict.fromkeys(declared + [x for x in others if isinstance(x, str) and x]))


def _write(
    conn: Connection, texts: _Texts, ids: Sequence[int], results: Sequence[Score], v: Versions, now: datetime
) -> None:
    if not ids:
        return
    key = texts.key
    if texts.topics is not None:
        conn.execute(delete(texts.topics).where(texts.topics.c.post_id.in_(ids)))
    conn.execute(delete(texts.scores).where(key.in_(ids)))
    conn.execute(
        texts.scores.insert(),
        [{key.name: i, **_score_row(s, v, now)} for i, s in zip(ids, results, strict=True)],
    )
    if texts.topics is not None:
        topic_rows = [
            {"post_id": i, "topic": t, "score": x}
            for i, s in zip(ids, results, strict=True)
            for t, x in s.topics.items()
        ]
        if topic_rows:
            conn.execute(texts.topics.insert(), topic_rows)
    table = texts.table
    conn.execute(update(table).where(table.c.id.in_(ids)).values(scored_with=v.fingerprint))
    if texts is ANSWERS:  # the watched posts' reply figures follow their replies' scores
        answered = select(reception_posts.c.post_id).where(reception_posts.c.id.in_(ids)).distinct()
        reception_figures(conn, sorted(conn.execute(answered).scalars()))


def _score_row(s: Score, v: Versions, now: datetime) -> dict[str, Any]:
    sentiment = s.sentiment
    return {
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
