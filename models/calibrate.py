"""Fitting an encoder's calibration and topic thresholds, and int8 against full precision.

What `diplomonitor models eval --fit-calibration` and `--compare-runtime` run, on the posts of
a labelled file (models.evaluate).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models import ModelUnavailable
from models.evaluate import Labelled, LabelledFileError, predict
from models.scorer import Scorer
from models.settings import Calibration, ModelSettings


def agreement(first: Sequence[str | None], second: Sequence[str | None]) -> float:
    """Share of posts given the same label by two runs (posts either run left out are skipped)."""
    both = [(a, b) for a, b in zip(first, second, strict=True) if a is not None and b is not None]
    return round(sum(a == b for a, b in both) / len(both), 4) if both else 1.0


@dataclass(frozen=True, slots=True)
class Fitted:
    """Suggested calibration of an encoder and topic thresholds, with the F1 they reach on the file."""

    floor: float
    ceiling: float
    thresholds: dict[str, float]
    micro_f1: float


def fit_calibration(
    similarity: np.ndarray, rules: np.ndarray, gold: Sequence[frozenset[str]], keys: Sequence[str],
    default_threshold: float = 0.5,
) -> Fitted:  # fmt: skip
    """Floor and ceiling from the raw best similarities, then per-topic thresholds maximising F1.

    floor: the median similarity of (post, topic) pairs the analyst did not label, so an
    unrelated topic scores about 0; ceiling: the 90th percentile of labelled pairs, so a
    clearly matching topic scores 1. Thresholds are searched from 0.3 to 0.95 for topics with
    at least 3 labelled posts; the others keep the default.
    """
    labels = np.array([[k in g for k in keys] for g in gold], dtype=bool)
    positives, negatives = similarity[labels], similarity[~labels]
    if not len(positives) or not len(negatives):
        raise LabelledFileError("fitting needs posts with and without each kind of topic label")
    floor = float(np.median(negatives))
    ceiling = max(float(np.percentile(positives, 90)), floor + 0.02)
    scaled = np.clip((similarity - floor) / (ceiling - floor), 0.0, 1.0)
    combined = 1 - (1 - rules) * (1 - scaled)
    thresholds = {}
    for j, key in enumerate(keys):
        column, truth = combined[:, j], labels[:, j]
        best = default_threshold
        if truth.sum() >= 3:
            grid = np.round(np.arange(0.3, 0.951, 0.05), 2)
            best = float(max(grid, key=lambda t: (_f1(column >= t, truth), -abs(t - default_threshold))))
        thresholds[key] = best
    chosen = combined >= np.array([thresholds[k] for k in keys])
    return Fitted(round(floor, 4), round(ceiling, 4), thresholds, round(_f1(chosen, labels), 4))


def _f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    tp = int((predicted & truth).sum())
    wrong = int((predicted ^ truth).sum())
    return 2 * tp / (2 * tp + wrong) if tp + wrong else 1.0


def compare_precision(settings: ModelSettings, base_dir: Path, posts: Sequence[Labelled]) -> dict[str, Any]:
    """Label agreement between int8 and full precision of the configured runtime, same posts."""
    runs = {}
    for quantize in (True, False):
        scorer = Scorer(dataclasses.replace(settings, quantize=quantize), base_dir=base_dir)
        versions = scorer.versions()
        if "sentiment" not in versions.parts:
            why = dict(versions.missing).get("sentiment", "[models] sentiment is switched off")
            raise ModelUnavailable(f"--compare-runtime needs the sentiment model: {why}")
        runs[quantize] = predict(scorer, posts)
    int8, full = runs[True], runs[False]
    return {
        "runtime": settings.runtime,
        "posts": len(posts),
        "sentiment_agreement": agreement([p.sentiment for p in int8], [p.sentiment for p in full]),
        "topic_agreement": round(
            sum(a.topics == b.topics for a, b in zip(int8, full, strict=True)) / len(posts), 4
        ),
    }


def fit(settings: ModelSettings, base_dir: Path, posts: Sequence[Labelled]) -> Fitted:
    """Fit the configured encoder's calibration and the topic thresholds on labelled posts."""
    raw = dataclasses.replace(
        settings, calibration={**settings.calibration, settings.embedding: Calibration(-1.0, 1.0)}
    )
    scorer = Scorer(raw, base_dir=base_dir)
    versions = scorer.load()
    if "embedding" not in versions.parts or scorer.topics is None or scorer.topics.encoder is None:
        why = dict(versions.missing).get("embedding", "[models] embedding is switched off")
        raise ModelUnavailable(f"--fit-calibration needs the embedding model: {why}")
    texts = [p.text for p in posts]
    languages = [scorer.detector.languages_of(d, ()) for d in scorer.detector.detect(texts)]
    similarity = scorer.topics.best_similarity(scorer.topics.encoder.run(texts))
    rules = scorer.topics.rule_scores(texts, languages)
    keys = scorer.taxonomy.keys
    default = {t.key: t.threshold for t in scorer.taxonomy.topics}
    fitted = fit_calibration(similarity, rules, [p.topics for p in posts], keys)
    thresholds = {k: v for k, v in fitted.thresholds.items() if v != default[k]}
    return dataclasses.replace(fitted, thresholds=thresholds)
