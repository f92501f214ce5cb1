"""Soft-power topics: keyword rules of the post's language combined with embedding similarity.

Each topic gets a rule score (0.5 for one distinct keyword, +0.15 for each further one; a weak
keyword counts half, so one alone scores 0.25; a topic with under a third of the keywords of
the post's strongest topic is a passing mention and scores 0), read
with the keyword lists of the languages the post is in only, and, when a calibrated encoder is
there, a similarity score: the post's embedding against the topic's descriptions and examples
in every language (the best match), scaled from the encoder's calibration floor (0) to its
ceiling (1). Combined: 1 - (1 - rule) (1 - similarity), so either signal alone can pass the
topic's threshold and both together reinforce.

Every result says what it rests on (`Basis`), so that "no topic" and "no rules for this
language" are told apart in storage, exports and reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from models import ModelIncompatible
from models.keywords import LanguageRules
from models.runtime import TextModel
from models.settings import Calibration
from models.taxonomy import Taxonomy

RULE_FIRST = 0.5
RULE_STEP = 0.15
MAX_TOPICS = 2  # the strongest two: analysts give a third topic to 3% of posts (tuning half)
# A passing mention is no topic: rules of a topic count only with at least this share of the
# keywords of the post's strongest topic (one keyword beside a topic with three is dropped).
RELATIVE = 0.34


def rule_score(hits: float) -> float:
    """0.5 for one keyword, +0.15 per further one, at most 1; below one keyword, in proportion."""
    return RULE_FIRST * hits if hits < 1 else min(1.0, RULE_FIRST + RULE_STEP * (hits - 1))


class Basis:
    """What a post's topics rest on (stored in scores.topic_basis)."""

    RULES = "rules"  # keyword rules of the post's language(s)
    RULES_EMBEDDING = "rules+embedding"
    EMBEDDING = "embedding"  # no keyword rules for the post's language: the encoder alone
    NO_RULES = "no_rules"  # no keyword rules for the post's language and no encoder: cannot tell


class TopicScorer:
    """Scores texts against a taxonomy; keeps the topics at or above their thresholds."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        thresholds: Mapping[str, float],
        encoder: TextModel | None = None,
        calibration: Calibration | None = None,
    ):
        if encoder is not None and calibration is None:
            raise ModelIncompatible("topic similarity needs the encoder's calibration ([models] calibration)")
        self.taxonomy = taxonomy
        self.encoder = encoder
        self.calibration = calibration
        self.rules = LanguageRules(taxonomy.keywords_by_language(), taxonomy.signals)
        self.thresholds = np.array([thresholds.get(t.key, t.threshold) for t in taxonomy.topics])
        self._index = {key: j for j, key in enumerate(taxonomy.keys)}
        self._prototypes: tuple[np.ndarray, np.ndarray] | None = None

    def rule_scores(self, texts: Sequence[str], languages: Sequence[Sequence[str | None]]) -> np.ndarray:
        """[texts x topics] scores of the keyword rules of each text's languages."""
        out = np.zeros((len(texts), len(self._index)), dtype=np.float32)
        for row, (text, langs) in enumerate(zip(texts, languages, strict=True)):
            hits = self.rules.hits(text, langs)
            top = max(hits.values(), default=0.0)
            for topic, found in hits.items():
                if found >= RELATIVE * top:
                    out[row, self._index[topic]] = rule_score(found)
        return out

    def best_similarity(self, embeddings: np.ndarray) -> np.ndarray:
        """[texts x topics] raw best cosine similarity to each topic's prototype sentences."""
        prototypes, starts = self._prototype_matrix()
        return np.maximum.reduceat(embeddings @ prototypes.T, starts, axis=1)

    def similarity_scores(self, embeddings: np.ndarray) -> np.ndarray:
        """[texts x topics] best similarity scaled by the encoder's calibration to [0, 1]."""
        if self.calibration is None:
            raise ModelIncompatible("topic similarity needs the encoder's calibration ([models] calibration)")
        low, high = self.calibration.floor, self.calibration.ceiling
        return np.clip((self.best_similarity(embeddings) - low) / (high - low), 0.0, 1.0)

    def combine(
        self,
        texts: Sequence[str],
        languages: Sequence[Sequence[str | None]],
        similarity: Sequence[np.ndarray | None],
    ) -> list[tuple[dict[str, float], str]]:
        """(topic -> score at or above its threshold, basis) per text."""
        combined = self.rule_scores(texts, languages)
        keys = self.taxonomy.keys
        out = []
        for row, langs, sim in zip(combined, languages, similarity, strict=True):
            ruled = self.rules.covers(langs)
            if sim is not None:
                row = 1 - (1 - row) * (1 - sim)
                basis = Basis.RULES_EMBEDDING if ruled else Basis.EMBEDDING
            else:
                basis = Basis.RULES if ruled else Basis.NO_RULES
            above = np.flatnonzero(row >= self.thresholds)
            if len(above) > MAX_TOPICS:  # the strongest, ties in taxonomy order
                above = np.sort(above[np.argsort(-row[above], kind="stable")[:MAX_TOPICS]])
            kept = {keys[j]: round(float(row[j]), 4) for j in above}
            out.append((kept, basis))
        return out

    def score(
        self,
        texts: Sequence[str],
        languages: Sequence[Sequence[str | None]],
        embeddings: np.ndarray | None = None,
    ) -> list[tuple[dict[str, float], str]]:
        """(topic -> score, basis) per text; embeddings: the encoder's, or None for rules only."""
        sims: list[np.ndarray | None] = [None] * len(texts)
        if embeddings is not None and len(texts):
            sims = list(self.similarity_scores(embeddings))
        return self.combine(texts, languages, sims)

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
