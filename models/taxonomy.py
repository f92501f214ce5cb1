"""The soft-power taxonomy: topics with multilingual descriptions, examples and keyword rules.

Read from a TOML file (models/data/topics.toml by default; see its header for the syntax),
so that users can edit topics without touching code.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from models import TaxonomyError

REQUIRED_LANGUAGES = ("en", "fr", "es", "de", "ar", "ru", "zh", "pt")


@dataclass(frozen=True, slots=True)
class Topic:
    """One theme of public diplomacy."""

    key: str
    label: str
    descriptions: dict[str, str]
    examples: dict[str, tuple[str, ...]]
    keywords: dict[str, tuple[str, ...]]
    threshold: float

    def prototypes(self) -> list[str]:
        """The sentences a post is compared with: descriptions and examples, all languages."""
        return [*self.descriptions.values(), *(s for group in self.examples.values() for s in group)]


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """All topics, plus how similarity is turned into a score."""

    topics: tuple[Topic, ...]
    version: str  # hash of the file's bytes
    similarity_floor: float = 0.25  # cosine similarity that counts as 0
    similarity_ceiling: float = 0.65  # cosine similarity that counts as 1

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(t.key for t in self.topics)


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read and check a taxonomy file (None: the one shipped with diplomonitor)."""
    if path is None:
        data = resources.files("models").joinpath("data/topics.toml").read_bytes()
        where = "models/data/topics.toml"
    else:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise TaxonomyError(f"cannot read topics file {path}: {exc.strerror or exc}") from None
        where = str(path)
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TaxonomyError(f"{where}: not valid TOML: {exc}") from None
    defaults = doc.get("defaults", {})
    threshold = float(defaults.get("threshold", 0.5))
    topics = tuple(_topic(where, i, raw, threshold) for i, raw in enumerate(doc.get("topic", [])))
    if not topics:
        raise TaxonomyError(f"{where}: no [[topic]] tables")
    keys = [t.key for t in topics]
    if len(set(keys)) != len(keys):
        raise TaxonomyError(f"{where}: duplicate topic keys in {keys}")
    return Taxonomy(
        topics=topics,
        version=hashlib.sha256(data).hexdigest()[:16],
        similarity_floor=float(defaults.get("similarity_floor", 0.25)),
        similarity_ceiling=float(defaults.get("similarity_ceiling", 0.65)),
    )


def _topic(where: str, index: int, raw: Any, threshold: float) -> Topic:
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str) or not raw["key"]:
        raise TaxonomyError(f"{where}: topic {index + 1} needs a key")
    key = raw["key"]
    descriptions = _texts(where, key, raw, "description")
    keywords = _lists(where, key, raw, "keywords")
    if not descriptions or not keywords:
        raise TaxonomyError(f"{where}: topic '{key}' needs a description and keywords")
    value = float(raw.get("threshold", threshold))
    if not 0 <= value <= 1:
        raise TaxonomyError(f"{where}: topic '{key}': threshold must be between 0 and 1")
    return Topic(
        key=key,
        label=str(raw.get("label", key)),
        descriptions=descriptions,
        examples=_lists(where, key, raw, "examples"),
        keywords=keywords,
        threshold=value,
    )


def _texts(where: str, key: str, raw: dict[str, Any], name: str) -> dict[str, str]:
    table = raw.get(name, {})
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise TaxonomyError(f"{where}: topic '{key}': {name} must map languages to texts")
    return dict(table)


def _lists(where: str, key: str, raw: dict[str, Any], name: str) -> dict[str, tuple[str, ...]]:
    table = raw.get(name, {})
    ok = isinstance(table, dict) and all(
        isinstance(v, list) and all(isinstance(s, str) and s.strip() for s in v) for v in table.values()
    )
    if not ok:
        raise TaxonomyError(f"{where}: topic '{key}': {name} must map languages to lists of texts")
    return {lang: tuple(v) for lang, v in table.items()}
