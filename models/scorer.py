"""The scorer: language, sentiment and topics of many texts at once, each distinct text once.

`Scorer` is cheap to build; `versions()` finds the models on disk (no loading), `load()`
loads them, and `score()` loads them on first use. A missing model raises ModelUnavailable
every time it is asked for, so the scorer starts working as soon as the model appears.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.language import Detected, LanguageDetector
from models.locate import Located, locate
from models.runtime import TextModel, load_text_model
from models.sentiment import Sentiment, label_matrix, to_sentiments
from models.settings import ModelSettings
from models.taxonomy import Taxonomy, load_taxonomy
from models.topics import TopicScorer

log = logging.getLogger(__name__)
CACHE_SIZE = 20_000  # distinct texts remembered across batches (reposts, boosts, re-runs)


@dataclass(frozen=True, slots=True)
class Score:
    """Everything the models say about one post."""

    language: str | None
    language_confidence: float | None
    sentiment: Sentiment | None  # None for a post without text
    topics: dict[str, float]


@dataclass(frozen=True, slots=True)
class Versions:
    """Names and versions stored beside each score; `fingerprint` identifies the whole set."""

    language_model: str
    sentiment_model: str | None
    sentiment_version: str | None
    topic_model: str
    topic_version: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class _Result:
    detected: Detected
    sentiment: Sentiment | None
    topics: dict[str, float]


class Scorer:
    """Scores texts with the models named in the settings; loads them on first use."""

    def __init__(self, settings: ModelSettings, *, base_dir: Path | None = None):
        self.settings = settings
        self.base_dir = base_dir or Path.cwd()
        self.cache_dir = self._path(settings.cache_dir)
        self.detector = LanguageDetector(settings.languages, settings.language_min_confidence)
        self.taxonomy: Taxonomy = load_taxonomy(
            self._path(settings.topics_file) if settings.topics_file else None
        )
        self.sentiment: TextModel | None = None
        self.encoder: TextModel | None = None
        self.topics: TopicScorer | None = None
        self._labels: np.ndarray | None = None
        self._versions: Versions | None = None
        self._cache: OrderedDict[str, _Result] = OrderedDict()

    def _path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def locate(self) -> dict[str, Located]:
        """The configured transformer models on disk, by role; ModelUnavailable if one is missing."""
        kw = {"cache_dir": self.cache_dir, "base_dir": self.base_dir}
        return {role: locate(name, role=role, **kw) for role, name in self.roles().items() if name}

    def roles(self) -> dict[str, str]:
        """Configured model names by role ('' = switched off)."""
        return {"sentiment": self.settings.sentiment, "embedding": self.settings.embedding}

    def versions(self) -> Versions:
        """What the current models are, found on disk without loading them."""
        if self._versions is None:
            self._versions = _versions(self.settings, self.locate(), self.detector, self.taxonomy)
        return self._versions

    @property
    def fingerprint(self) -> str:
        return self.versions().fingerprint

    def load(self) -> None:
        """Load every model now (idempotent)."""
        if self.topics is not None:
            return
        located = self.locate()
        s = self.settings
        common = {
            "runtime": s.runtime, "quantize": s.quantize, "cache_dir": self.cache_dir,
            "batch_size": s.batch_size, "max_length": s.max_length, "threads": s.threads,
        }  # fmt: skip
        self.detector.load()
        if "sentiment" in located:
            self.sentiment = load_text_model(located["sentiment"], "classifier", **common)  # type: ignore[arg-type]
            id2label = {int(k): str(v) for k, v in self.sentiment.config.id2label.items()}
            self._labels = label_matrix(id2label, s.label_map, located["sentiment"].name)
        if "embedding" in located:
            self.encoder = load_text_model(located["embedding"], "encoder", **common)  # type: ignore[arg-type]
        self.topics = TopicScorer(self.taxonomy, s.topic_thresholds, self.encoder)
        if self.encoder is not None:
            self.topics.similarity_scores(self.encoder.run([""]))  # embed the prototypes now
        self._versions = _versions(s, located, self.detector, self.taxonomy)

    def score(self, texts: Sequence[str], declared: Sequence[str | None] | None = None) -> list[Score]:
        """One Score per text, in order; identical texts are computed once."""
        self.load()
        declared = declared if declared is not None else [None] * len(texts)
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        for text, result in zip(todo, self._compute(todo), strict=True):
            self._cache[text] = result
        out = [self._final(self._cache[t], d) for t, d in zip(texts, declared, strict=True)]
        for text in texts:
            self._cache.move_to_end(text)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return out

    def _final(self, r: _Result, declared: str | None) -> Score:
        language = self.detector.choose(r.detected, declared)
        confidence = r.detected.confidence if language == r.detected.language and language else None
        return Score(language, confidence, r.sentiment, r.topics)

    def _compute(self, texts: list[str]) -> list[_Result]:
        if not texts or self.topics is None:
            return []
        detected = self.detector.detect(texts)
        full = [i for i, t in enumerate(texts) if t.strip()]  # posts without text get no tone or topics
        body = [texts[i] for i in full]
        sentiments: list[Sentiment | None] = [None] * len(texts)
        topics: list[dict[str, float]] = [{} for _ in texts]
        if body:
            if self.sentiment is not None and self._labels is not None:
                for i, s in zip(full, to_sentiments(self.sentiment.run(body), self._labels), strict=True):
                    sentiments[i] = s
            embeddings = self.encoder.run(body) if self.encoder is not None else None
            for i, t in zip(full, self.topics.score(body, embeddings), strict=True):
                topics[i] = t
        return [_Result(d, s, t) for d, s, t in zip(detected, sentiments, topics, strict=True)]


def _versions(
    s: ModelSettings, located: dict[str, Located], detector: LanguageDetector, taxonomy: Taxonomy
) -> Versions:
    sentiment = located.get("sentiment")
    embedding = located.get("embedding")
    precision = f"{s.runtime}-{'int8' if s.quantize else 'fp32'}"
    topic_version = f"{embedding.version if embedding else 'rules'}+taxonomy:{taxonomy.version}"
    identity = {
        "language": detector.model_name, "min_confidence": s.language_min_confidence,
        "sentiment": [sentiment.name, sentiment.version] if sentiment else None,
        "embedding": [embedding.name, embedding.version] if embedding else None,
        "taxonomy": taxonomy.version, "thresholds": sorted(s.topic_thresholds.items()),
        "label_map": sorted(s.label_map.items()), "precision": precision, "max_length": s.max_length,
    }  # fmt: skip
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return Versions(
        language_model=detector.model_name[:255],
        sentiment_model=sentiment.name[:255] if sentiment else None,
        sentiment_version=f"{sentiment.version}:{precision}" if sentiment else None,
        topic_model=(embedding.name if embedding else "keyword rules")[:255],
        topic_version=f"{topic_version}:{precision}"[:255],
        fingerprint=f"dm1:{digest[:24]}",
    )
