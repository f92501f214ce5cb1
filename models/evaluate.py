"""Scoring checked against posts an analyst labelled: what `diplomonitor models eval` prints.

A labelled file has one JSON object a line: `text`, optional `lang` (ISO 639-1), `topics`
(a list of taxonomy ids, empty for an off-topic post), optional `sentiment` (negative,
neutral, positive) and optional `id`. `read_labelled` checks every line and reports all the
bad ones at once; `evaluate` compares the scorer's answers with the labels: per-topic
precision, recall and F1, micro and macro averages, the same per language, the worst
confusions with example texts, language accuracy, and sentiment accuracy and macro-F1 per
language where labels exist. models.calibrate fits an encoder's calibration on the same file
and compares int8 with full precision.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models import ModelError
from models.scorer import Scorer
from models.settings import CANONICAL_LABELS

NONE = "(none)"
EXAMPLES = 2  # example texts kept per confusion
EXAMPLE_CHARS = 120


class LabelledFileError(ModelError):
    """A labelled file that cannot be read; the message names every bad line."""


@dataclass(frozen=True, slots=True)
class Labelled:
    """One post an analyst labelled."""

    text: str
    topics: frozenset[str]
    lang: str | None = None
    sentiment: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Predicted:
    """What the scorer said about one post (the parts `evaluate` compares)."""

    topics: frozenset[str]
    language: str | None
    sentiment: str | None = None
    basis: str | None = None


@dataclass(frozen=True, slots=True)
class Counts:
    """Precision, recall and F1 from true positives, false positives and false negatives."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        if not self.tp + self.fp + self.fn:
            return 1.0
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn)

    def summary(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "support": self.tp + self.fn,
            "predicted": self.tp + self.fp,
        }


@dataclass(frozen=True, slots=True)
class Confusion:
    """A labelled topic the scorer missed and what it said instead (or a topic it added)."""

    expected: str  # the missed topic, or NONE for a topic added to a post that did not have it
    predicted: str  # the topic given instead, or NONE when nothing replaced it
    count: int
    examples: tuple[str, ...]


@dataclass
class Report:
    """Everything `models eval` prints, ready for --json."""

    posts: int
    topics: dict[str, dict[str, float | int]]
    micro: dict[str, float | int]
    macro_f1: float
    languages: dict[str, dict[str, Any]]
    confusions: list[Confusion]
    language_accuracy: float | None
    sentiment: dict[str, dict[str, Any]] = field(default_factory=dict)
    no_rules: int = 0  # posts in a language without keyword rules and no encoder

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["confusions"] = [asdict(c) for c in self.confusions]
        return out


def read_labelled(path: str | Path, known_topics: Iterable[str]) -> list[Labelled]:
    """The posts of a labelled JSONL file; LabelledFileError lists every bad line."""
    known = set(known_topics)
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelledFileError(f"cannot read {path}: {exc}") from None
    posts, problems = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            posts.append(_labelled(json.loads(line), known))
        except (ValueError, TypeError) as exc:
            problems.append(f"line {number}: {exc}")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise LabelledFileError(f"{path}: {len(problems)} bad line(s): {shown}")
    if not posts:
        raise LabelledFileError(f"{path}: no labelled posts")
    return posts


def _labelled(row: Any, known: set[str]) -> Labelled:
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    text, topics = row.get("text"), row.get("topics")
    if not isinstance(text, str):
        raise ValueError("'text' must be a string")
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise ValueError("'topics' must be a list of topic ids (empty for an off-topic post)")
    unknown = sorted(set(topics) - known)
    if unknown:
        raise ValueError(f"unknown topic id(s) {unknown}: the taxonomy has {sorted(known)}")
    lang, sentiment = row.get("lang"), row.get("sentiment")
    if lang is not None and not (isinstance(lang, str) and len(lang) == 2 and lang.isalpha()):
        raise ValueError(f"'lang' must be an ISO 639-1 code such as 'en', not {lang!r}")
    if sentiment is not None and sentiment not in CANONICAL_LABELS:
        raise ValueError(f"'sentiment' must be one of {list(CANONICAL_LABELS)}, not {sentiment!r}")
    ident = row.get("id")
    return Labelled(text, frozenset(topics), lang and lang.lower(), sentiment, str(ident) if ident else None)


def evaluate(posts: Sequence[Labelled], predicted: Sequence[Predicted], keys: Sequence[str]) -> Report:
    """Compare the scorer's answers with the labels, post by post."""
    per_topic = {k: Counts() for k in keys}
    per_lang: dict[str, list[tuple[Labelled, Predicted]]] = defaultdict(list)
    for post, pred in zip(posts, predicted, strict=True):
        for k in keys:
            per_topic[k] += Counts(int(k in post.topics and k in pred.topics),
                                   int(k in pred.topics and k not in post.topics),
                                   int(k in post.topics and k not in pred.topics))  # fmt: skip
        per_lang[post.lang or pred.language or "?"].append((post, pred))
    micro = sum(per_topic.values(), Counts())
    seen = [c for c in per_topic.values() if c.tp + c.fn]
    labelled_langs = [(p.lang, q.language) for p, q in zip(posts, predicted, strict=True) if p.lang]
    return Report(
        posts=len(posts),
        topics={k: c.summary() for k, c in per_topic.items()},
        micro=micro.summary(),
        macro_f1=round(float(np.mean([c.f1 for c in seen])) if seen else 1.0, 4),
        languages={lang: _language(rows) for lang, rows in sorted(per_lang.items())},
        confusions=confusions(posts, predicted),
        language_accuracy=_share(labelled_langs),
        sentiment=sentiment_by_language(posts, predicted),
        no_rules=sum(q.basis == "no_rules" for q in predicted),
    )


def _language(rows: list[tuple[Labelled, Predicted]]) -> dict[str, Any]:
    total = Counts()
    for post, pred in rows:
        total += Counts(len(post.topics & pred.topics), len(pred.topics - post.topics),
                        len(post.topics - pred.topics))  # fmt: skip
    out: dict[str, Any] = {"posts": len(rows), **total.summary()}
    out["no_rules"] = sum(q.basis == "no_rules" for _, q in rows)
    labelled = [(p.lang, q.language) for p, q in rows if p.lang]
    out["language_accuracy"] = _share(labelled)
    return out


def _share(pairs: Sequence[tuple[object, object]]) -> float | None:
    """Share of pairs whose two sides agree; None without pairs."""
    return round(sum(a == b for a, b in pairs) / len(pairs), 4) if pairs else None


def confusions(posts: Sequence[Labelled], predicted: Sequence[Predicted], top: int = 10) -> list[Confusion]:
    """The most frequent (missed topic, topic given instead) pairs, with example texts."""
    counts: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    for post, pred in zip(posts, predicted, strict=True):
        missed, extra = sorted(post.topics - pred.topics), sorted(pred.topics - post.topics)
        pairs = [(m, e) for m in missed for e in extra] or [(m, NONE) for m in missed]
        if not missed:
            pairs = [(NONE, e) for e in extra]
        for pair in pairs:
            counts[pair] += 1
            if len(examples[pair]) < EXAMPLES:
                text = " ".join(post.text.split())
                examples[pair].append(text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…")
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [Confusion(e, p, n, tuple(examples[e, p])) for (e, p), n in ranked]


def sentiment_by_language(
    posts: Sequence[Labelled], predicted: Sequence[Predicted]
) -> dict[str, dict[str, Any]]:
    """Accuracy and macro-F1 of sentiment per language (and 'all'), where both sides exist."""
    pairs: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for post, pred in zip(posts, predicted, strict=True):
        if post.sentiment and pred.sentiment:
            lang = post.lang or pred.language or "?"
            pairs[lang].append((post.sentiment, pred.sentiment))
            pairs["all"].append((post.sentiment, pred.sentiment))
    return {lang: _sentiment(rows) for lang, rows in sorted(pairs.items())}


def _sentiment(rows: list[tuple[str, str]]) -> dict[str, Any]:
    f1s = []
    for label in CANONICAL_LABELS:
        c = Counts(sum(g == p == label for g, p in rows), sum(p == label != g for g, p in rows),
                   sum(g == label != p for g, p in rows))  # fmt: skip
        if c.tp + c.fn:
            f1s.append(c.f1)
    accuracy = sum(g == p for g, p in rows) / len(rows)
    return {"posts": len(rows), "accuracy": round(accuracy, 4), "macro_f1": round(float(np.mean(f1s)), 4)}


def predict(scorer: Scorer, posts: Sequence[Labelled]) -> list[Predicted]:
    """The scorer's answers for labelled posts (no declared language: the text alone decides)."""
    scores = scorer.score([p.text for p in posts])
    return [
        Predicted(frozenset(s.topics), s.language, s.sentiment.label if s.sentiment else None, s.topic_basis)
        for s in scores
    ]
