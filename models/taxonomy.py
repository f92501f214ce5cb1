"""The soft-power taxonomy: topics with multilingual descriptions, examples and keyword rules.

Read from a TOML file (models/data/topics.toml by default; see its header for the syntax),
so that users can edit topics without touching code. Keywords are given per language, either
inside a topic (`[topic.keywords]`, language -> list) or per language for every topic
(`[keywords.de]`, topic -> list); both are merged. How embedding similarity is scaled is the
encoder's business, not the taxonomy's: see `[models] calibration` (models.settings).
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from models import TaxonomyError
from models.keywords import SIGNALS, KeywordError, KeywordRules

REQUIRED_LANGUAGES = ("en", "fr", "es", "de", "ar", "ru", "zh", "pt")
_LANGUAGE = re.compile(r"^[a-z]{2}$")


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
    """All topics, and the version that is stored with every score."""

    topics: tuple[Topic, ...]
    version: str  # hash of the file's bytes
    signals: dict[str, str] = field(default_factory=dict)  # signal name -> topic (models.keywords.SIGNALS)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(t.key for t in self.topics)

    def keywords_by_language(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """Language -> topic -> keywords: what `models.keywords.LanguageRules` compiles."""
        out: dict[str, dict[str, tuple[str, ...]]] = {}
        for topic in self.topics:
            for lang, words in topic.keywords.items():
                out.setdefault(lang, {})[topic.key] = words
        return out

    @property
    def rule_languages(self) -> tuple[str, ...]:
        """Languages with keyword rules, sorted."""
        return tuple(sorted({lang for t in self.topics for lang in t.keywords}))


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
    moved = sorted({"similarity_floor", "similarity_ceiling"} & set(defaults))
    if moved:
        raise TaxonomyError(
            f"{where}: {', '.join(moved)} moved to the [models] calibration table of the config, "
            "per encoder (`diplomonitor models eval FILE --fit-calibration` suggests the values)"
        )
    threshold = float(defaults.get("threshold", 0.5))
    raw_topics = doc.get("topic", [])
    extra = _by_language(where, doc.get("keywords", {}))
    topics = tuple(_topic(where, i, raw, threshold, extra) for i, raw in enumerate(raw_topics))
    if not topics:
        raise TaxonomyError(f"{where}: no [[topic]] tables")
    keys = [t.key for t in topics]
    if len(set(keys)) != len(keys):
        raise TaxonomyError(f"{where}: duplicate topic keys in {keys}")
    unknown = sorted({key for lists in extra.values() for key in lists} - set(keys))
    if unknown:
        raise TaxonomyError(f"{where}: [keywords] tables name topics that do not exist: {unknown}")
    signals = doc.get("signals", {})
    if not isinstance(signals, dict) or any(k not in SIGNALS or v not in keys for k, v in signals.items()):
        raise TaxonomyError(f"{where}: [signals] maps {list(SIGNALS)} to topic keys, not {signals}")
    taxonomy = Taxonomy(topics=topics, version=hashlib.sha256(data).hexdigest()[:16], signals=dict(signals))
    for lang, lists in taxonomy.keywords_by_language().items():
        try:
            KeywordRules(lists)
        except KeywordError as exc:
            raise TaxonomyError(f"{where}: [keywords.{lang}]: {exc}") from None
    return taxonomy


def _by_language(where: str, table: Any) -> dict[str, dict[str, tuple[str, ...]]]:
    """The [keywords.<lang>] tables: language -> topic -> keywords."""
    if not isinstance(table, dict):
        raise TaxonomyError(f"{where}: keywords must be tables named [keywords.<language>]")
    out = {}
    for lang, lists in table.items():
        if not _LANGUAGE.match(lang):
            raise TaxonomyError(f"{where}: [keywords.{lang}]: languages are ISO 639-1 codes such as 'de'")
        ok = isinstance(lists, dict) and all(
            isinstance(v, list) and all(isinstance(s, str) and s.strip() for s in v) for v in lists.values()
        )
        if not ok:
            raise TaxonomyError(f"{where}: [keywords.{lang}] must map topics to lists of keywords")
        out[lang] = {key: tuple(v) for key, v in lists.items()}
    return out


def _topic(
    where: str, index: int, raw: Any, threshold: float, extra: dict[str, dict[str, tuple[str, ...]]]
) -> Topic:
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str) or not raw["key"]:
        raise TaxonomyError(f"{where}: topic {index + 1} needs a key")
    key = raw["key"]
    descriptions = _texts(where, key, raw, "description")
    keywords = _lists(where, key, raw, "keywords")
    for lang, lists in extra.items():
        if key in lists:
            keywords[lang] = tuple(dict.fromkeys(keywords.get(lang, ()) + lists[key]))
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
