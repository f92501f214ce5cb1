"""Sentiment: a sequence classifier's probabilities folded into negative / neutral / positive."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from models import ModelIncompatible
from models.settings import CANONICAL_LABELS


@dataclass(frozen=True, slots=True)
class Sentiment:
    """Tone of one text; the three probabilities sum to 1, score = positive - negative."""

    label: str
    negative: float
    neutral: float
    positive: float

    @property
    def score(self) -> float:
        return self.positive - self.negative


def label_matrix(id2label: Mapping[int, str], label_map: Mapping[str, str], model: str) -> np.ndarray:
    """[model labels x 3] 0/1 matrix summing each model label into its canonical label."""
    matrix = np.zeros((len(id2label), len(CANONICAL_LABELS)), dtype=np.float32)
    unknown = []
    for index, raw in sorted(id2label.items()):
        canonical = label_map.get(raw) or label_map.get(raw.lower()) or raw.lower()
        if canonical not in CANONICAL_LABELS:
            unknown.append(raw)
            continue
        matrix[int(index), CANONICAL_LABELS.index(canonical)] = 1.0
    if unknown or not matrix[:, 0].any() or not matrix[:, 2].any():
        raise ModelIncompatible(
            f"sentiment model {model} has labels {[id2label[i] for i in sorted(id2label)]}: map them with "
            '[models] label_map, e.g. label_map = { LABEL_0 = "negative", LABEL_1 = "neutral", '
            'LABEL_2 = "positive" } (negative and positive are required)'
        )
    return matrix


def to_sentiments(logits: np.ndarray, matrix: np.ndarray) -> list[Sentiment]:
    """Softmax over the model's labels, summed into the canonical three."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    folded = probs @ matrix
    return [
        Sentiment(CANONICAL_LABELS[int(np.argmax(row))], float(row[0]), float(row[1]), float(row[2]))
        for row in folded
    ]
