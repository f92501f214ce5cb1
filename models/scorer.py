"""The scorer: language, sentiment and topics of many texts at once, each distinct text once.

`Scorer` is cheap to build; `versions()` finds the models on disk (no loading), `load()`
loads them, and `score()` loads them on first use. A configured model that is missing never
stops scoring: language and keyword topics are always scored, sentiment and embeddings when
their model is there. `Versions.parts` says which parts contributed and is part of the
fingerprint stored with each post, so a model that appears later (checked again on every
`versions()` call while one is missing) changes the fingerprint and the posts scored without
it are completed.
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

from models import ModelError, ModelUnavailable
from models.language import Detected, LanguageDetector
from models.locate import Located, locate
from models.runtime import TextModel, load_text_model
from models.sentiment import Sentiment, label_matrix, to_sentiments
from models.settings import ModelSettings
from models.taxonomy import Taxonomy, load_taxonomy
from models.topics import TopicScorer

log = logging.getLogger(__name__)
CACHE_SIZE = 20_000  # distinct texts remembered across batches (reposts, boosts, re-runs)
FINGERPRINT_FORMAT = "dm2"


@dataclass(frozen=True, slots=True)
class Score:
    """Everything the models say about one post."""

    language: str | None
    language_confidence: float | None
    sentiment: Sentiment | None  # None for a post without text, or while the model is missing
    topics: dict[str, float]
    topic_basis: str | None = None  # models.topics.Basis; None for a post without text


@dataclass(frozen=True, slots=True)
class Versions:
    """Names and versions stored beside each score; `fingerprint` identifies the whole set."""

    language_model: str
    sentiment_model: str | None
    sentiment_version: str | None
    topic_model: str
    topic_version: str
    fingerprint: str
    parts: tuple[str, ...] = ("language", "rules")  # what contributed: + sentiment, embedding
    missing: tuple[tuple[str, str], ...] = ()  # (role, why) of configured parts left out

    @property
    def complete(self) -> bool:
        return not self.missing


@dataclass(frozen=True, slots=True)
class _Result:
    detected: Detected
    sentiment: Sentiment | None
    similarity: np.ndarray | None  # scaled similarity per topic


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
        self._located: dict[str, Located] = {}
        self._missing: dict[str, str] = {}
        self._versions: Versions | None = None
        self._loaded: Versions | None = None
        self._cache: OrderedDict[str, _Result] = OrderedDict()

    def _path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def roles(self) -> dict[str, str]:
        """Configured model names by role ('' = switched off)."""
        return {"sentiment": self.settings.sentiment, "embedding": self.settings.embedding}

    def locate(self) -> dict[str, Located]:
        """The configured transformer models on disk, by role; ModelUnavailable if one is missing."""
        kw = {"cache_dir": self.cache_dir, "base_dir": self.base_dir}
        return {role: locate(name, role=role, **kw) for role, name in self.roles().items() if name}

    def versions(self) -> Versions:
        """What scores now, found on disk without loading; missing models are looked for again."""
        if self._versions is None or self._missing:
            kw = {"cache_dir": self.cache_dir, "base_dir": self.base_dir}
            for role, name in self.roles().items():
                if name and role not in self._located:
                    try:
                        self._located[role] = locate(name, role=role, **kw)
                        self._missing.pop(role, None)
                    except ModelUnavailable as exc:
                        self._missing[role] = str(exc)
            self._versions = _versions(self.settings, self._located, self._missing, self.detector,
                                       self.taxonomy)  # fmt: skip
        return self._versions

    @property
    def fingerprint(self) -> str:
        return self.versions().fingerprint

    @property
    def posts_per_batch(self) -> int:
        return self.settings.posts_per_batch

    def load(self) -> Versions:
        """Load the models found by the last `versions()` (idempotent; a model found since is loaded).

        Models are looked for again only by `versions()`, so the batches of one scoring run all
        use the models its first call found, and are stored under one fingerprint.
        """
        v = self._versions or self.versions()
        if self._loaded == v and self.topics is not None:
            return v
        s = self.settings
        common = {
            "runtime": s.runtime, "quantize": s.quantize, "cache_dir": self.cache_dir,
            "batch_size": s.batch_size, "max_length": s.max_length, "threads": s.threads,
        }  # fmt: skip
        self.detector.load()
        if "sentiment" in v.parts and self.sentiment is None:
            located = self._located["sentiment"]
            model = load_text_model(located, "classifier", **common)  # type: ignore[arg-type]
            id2label = {int(k): str(val) for k, val in model.config.id2label.items()}
            self._labels = label_matrix(id2label, s.label_map, located.name)
            self.sentiment = model
        if "embedding" in v.parts and self.encoder is None:
            self.encoder = load_text_model(self._located["embedding"], "encoder", **common)  # type: ignore[arg-type]
        calibration = s.calibration_for(s.embedding) if "embedding" in v.parts else None
        encoder = self.encoder if "embedding" in v.parts else None
        self.topics = TopicScorer(self.taxonomy, s.topic_thresholds, encoder, calibration)
        if encoder is not None:
            self.topics.best_similarity(encoder.run([""]))  # embed the prototypes now
        self._cache.clear()  # results computed without a part that is there now
        self._loaded = v
        return v

    def score(self, texts: Sequence[str], declared: Sequence[object] | None = None) -> list[Score]:
        """One Score per text, in order; identical texts are computed once.

        declared: per text, the language the platform declared, or a sequence of them.
        """
        topics = self.topic_scorer()
        langs = [_declared(d) for d in (declared if declared is not None else [None] * len(texts))]
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        for text, result in zip(todo, self._compute(todo), strict=True):
            self._cache[text] = result
        results = [self._cache[t] for t in texts]
        for text in texts:
            self._cache.move_to_end(text)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return self._final(topics, texts, results, langs)

    def topic_scorer(self) -> TopicScorer:
        """The loaded topic scorer (loading the models that are there first)."""
        self.load()
        if self.topics is None:
            raise ModelError("the topic scorer did not load")
        return self.topics

    def _final(
        self,
        scorer: TopicScorer,
        texts: Sequence[str],
        results: list[_Result],
        declared: list[tuple[str, ...]],
    ) -> list[Score]:
        full = [i for i, t in enumerate(texts) if t.strip()]  # posts without text get no tone or topics
        rule_langs = [self.detector.languages_of(results[i].detected, declared[i]) for i in full]
        topics = scorer.combine([texts[i] for i in full], rule_langs, [results[i].similarity for i in full])
        by_index = dict(zip(full, topics, strict=True))
        out = []
        for i, (r, d) in enumerate(zip(results, declared, strict=True)):
            language = self.detector.choose(r.detected, d[0] if d else None)
            confidence = r.detected.confidence if language == r.detected.language and language else None
            kept, basis = by_index.get(i, ({}, None))
            out.append(Score(language, confidence, r.sentiment, kept, basis))
        return out

    def _compute(self, texts: list[str]) -> list[_Result]:
        if not texts or self.topics is None:
            return []
        detected = self.detector.detect(texts)
        full = [i for i, t in enumerate(texts) if t.strip()]
        body = [texts[i] for i in full]
        sentiments: list[Sentiment | None] = [None] * len(texts)
        similarity: list[np.ndarray | None] = [None] * len(texts)
        if body:
            if self.sentiment is not None and self._labels is not None:
                for i, s in zip(full, to_sentiments(self.sentiment.run(body), self._labels), strict=True):
                    sentiments[i] = s
            if self.topics.encoder is not None:
                sims = self.topics.similarity_scores(self.topics.encoder.run(body))
                for i, row in zip(full, sims, strict=True):
                    similarity[i] = row
        return [_Result(d, s, m) for d, s, m in zip(detected, sentiments, similarity, strict=True)]


def _declared(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value if isinstance(v, str) and v)
    return ()


def _versions(
    s: ModelSettings,
    located: dict[str, Located],
    missing: dict[str, str],
    detector: LanguageDetector,
    taxonomy: Taxonomy,
) -> Versions:
    sentiment = located.get("sentiment")
    embedding = located.get("embedding")
    gaps = dict(missing)
    calibration = s.calibration_for(s.embedding) if embedding else None
    if embedding and calibration is None:
        gaps["embedding"] = (
            f"encoder '{s.embedding}' has no calibration: run `diplomonitor models eval FILE "
            "--fit-calibration` and add its [models] calibration; topics use keyword rules meanwhile"
        )
        embedding = None
    parts = ("language", "rules", *(["sentiment"] * bool(sentiment)), *(["embedding"] * bool(embedding)))
    precision = f"{s.runtime}-{'int8' if s.quantize else 'fp32'}"
    topic_version = f"{embedding.version if embedding else 'rules'}+taxonomy:{taxonomy.version}"
    identity = {
        "language": detector.model_name, "min_confidence": s.language_min_confidence,
        "sentiment": [sentiment.name, sentiment.version] if sentiment else None,
        "embedding": [embedding.name, embedding.version] if embedding else None,
        "calibration": [calibration.floor, calibration.ceiling] if embedding and calibration else None,
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
        fingerprint=f"{FINGERPRINT_FORMAT}-{'+'.join(parts)}:{digest[:24]}",
        parts=parts,
        missing=tuple(sorted(gaps.items())),
    )
