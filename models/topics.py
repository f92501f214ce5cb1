"""Soft-power topics: keyword rules combined with sentence-embedding similarity, multi-label.

Each topic gets a rule score (0.5 for one distinct keyword, +0.15 for each further one) and,
when an encoder is configured, a similarity score: the post's embedding against the topic's
descriptions and examples in every language (the best match), scaled from the taxonomy's
similarity_floor (0) to similarity_ceiling (1). Combined: 1 - (1 - rule) (1 - similarity),
so either signal alone can pass the topic's threshold and both together reinforce.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from models import ModelIncompatible
from models.keywords import KeywordRules
from models.runtime import TextModel
from models.taxonomy import Taxonomy

RULE_FIRST = 0.5
RULE_STEP = 0.15


class TopicScorer:
    """Scores texts against a taxonomy; keeps the topics at or above their thresholds."""

    def __init__(self, taxonomy: Taxonomy, thresholds: Mapping[str, float], encoder: TextModel | None):
        self.taxonomy = taxonomy
        self.encoder = encoder
        self.rules = KeywordRules(
            {t.key: [k for words in t.keywords.values() for k in words] for t in taxonomy.topics}
        )
        self.thresholds = np.array([thresholds.get(t.key, t.threshold) for t in taxonomy.topics])
        self._prototypes: tuple[np.ndarray, np.ndarray] | None = None

    def rule_scores(self, texts: Sequence[str]) -> np.ndarray:
        """[texts x topics] scores of the keyword rules alone."""
        keys = self.taxonomy.keys
        out = np.zeros((len(texts), len(keys)), dtype=np.float32)
        for row, text in enumerate(texts):
            for topic, hits in self.rules.hits(text).items():
                out[row, keys.index(topic)] = min(1.0, RULE_FIRST + RULE_STEP * (hits - 1))
        return out

    def similarity_scores(self, embeddings: np.ndarray) -> np.ndarray:
        """[texts x topics] scaled best similarity to each topic's prototype sentences."""
        prototypes, starts = self._prototype_matrix()
        best = np.maximum.reduceat(embeddings @ prototypes.T, starts, axis=1)
        low, high = self.taxonomy.similarity_floor, self.taxonomy.similarity_ceiling
        return np.clip((best - low) / (high - low), 0.0, 1.0)

    def score(self, texts: Sequence[str], embeddings: np.ndarray | None) -> list[dict[str, float]]:
        """Topic -> score for each text, only topics at or above their threshold."""
        combined = self.rule_scores(texts)
        if embeddings is not None and len(texts):
            combined = 1 - (1 - combined) * (1 - self.similarity_scores(embeddings))
        keys = self.taxonomy.keys
        return [
            {keys[j]: round(float(row[j]), 4) for j in np.flatnonzero(row >= self.thresholds)}
            for row in combined
        ]

    def _prototype_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings of every topic's sentences, and where each topic's rows start."""
        if self._prototypes is None:
            if self.encoder is None:
                raise ModelIncompatible("topic similarity needs an embedding model ([models] embedding)")
            sentences: list[str] = []
            starts = []
            for topic in self.taxonomy.topics:
                starts.append(len(sentences))
                sentences.extend(topic.prototypes())
            self._prototypes = (self.encoder.run(sentences), np.array(starts))
        return self._prototypes
