"""Model settings, as the `[models]` config table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CANONICAL_LABELS = ("negative", "neutral", "positive")
# Languages the detector chooses among (ISO 639-1): restricting it makes short posts reliable.
# Each has keyword rules in the shipped taxonomy (`diplomonitor models info` lists them).
DEFAULT_LANGUAGES = (
    "en", "fr", "es", "de", "ar", "ru", "zh", "pt", "it", "nl", "pl", "uk", "ja", "ko", "tr",
    "fa", "he", "hi", "id", "sv", "el", "cs", "ro", "hu", "da", "no", "fi",
)  # fmt: skip
DEFAULT_EMBEDDING = "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"


@dataclass(frozen=True, slots=True)
class Calibration:
    """How one encoder's cosine similarities become topic scores: floor -> 0, ceiling -> 1."""

    floor: float
    ceiling: float

    def __post_init__(self) -> None:
        if not -1 <= self.floor < self.ceiling <= 1:
            raise ValueError("calibration needs -1 <= floor < ceiling <= 1")


# Shipped calibrations, per encoder; [models] calibration adds to and overrides them.
KNOWN_CALIBRATIONS = {DEFAULT_EMBEDDING: Calibration(floor=0.25, ceiling=0.65)}


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """Which models score posts, where they live, and how fast they run."""

    # Hugging Face model ids or local folders; "" switches the model off (topics: rules only).
    sentiment: str = "cardiffnlp/twitter-xlm-roberta-base-sentiment-multilingual"
    embedding: str = DEFAULT_EMBEDDING
    # Local folder for `diplomonitor models pull`; relative paths are relative to the config.
    cache_dir: str = "models-cache"
    hub_endpoint: str | None = None  # a Hugging Face mirror for `models pull` (default: the hub)
    # onnx: ONNX Runtime, exported once into cache_dir; torch: transformers as is.
    runtime: Literal["torch", "onnx"] = "onnx"
    quantize: bool = True  # int8 dynamic quantisation; false = full precision
    batch_size: int = 16  # texts per forward pass
    posts_per_batch: int = 256  # posts per database transaction (sorted by length inside)
    max_length: int = 0  # tokens kept per post; 0 = the model's maximum
    threads: int = 0  # 0 = the runtime's default
    device: str = "cpu"
    topics_file: str | None = None  # default: the taxonomy shipped in models/data
    # Raw model label -> negative | neutral | positive, when the model's own labels differ.
    label_map: dict[str, str] = field(default_factory=dict)
    topic_thresholds: dict[str, float] = field(default_factory=dict)
    # Encoder name (as in `embedding`) -> its similarity floor and ceiling. An encoder without
    # one scores no topics (rules only) until `models eval --fit-calibration` has been run.
    calibration: dict[str, Calibration] = field(default_factory=dict)
    languages: tuple[str, ...] = DEFAULT_LANGUAGES
    language_min_confidence: float = 0.5

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.posts_per_batch < 1:
            raise ValueError("posts_per_batch must be at least 1")
        if self.max_length < 0:
            raise ValueError("max_length must be 0 (the model's maximum) or more")
        if self.threads < 0:
            raise ValueError("threads must be 0 (default) or more")
        if self.device != "cpu":
            raise ValueError("device must be 'cpu' (diplomonitor is built to score on CPUs)")
        bad = {v for v in self.label_map.values()} - set(CANONICAL_LABELS)
        if bad:
            raise ValueError(f"label_map values must be negative, neutral or positive, not {bad}")
        out = {k: v for k, v in self.topic_thresholds.items() if not 0 <= v <= 1}
        if out:
            raise ValueError(f"topic_thresholds must be between 0 and 1, not {out}")
        if not 0 <= self.language_min_confidence <= 1:
            raise ValueError("language_min_confidence must be between 0 and 1")
        bad_cal = [k for k, v in self.calibration.items() if not isinstance(v, Calibration)]
        if bad_cal:
            raise ValueError(f"calibration values must be tables with floor and ceiling: {bad_cal}")
        wrong = [c for c in self.languages if len(c) != 2 or not c.isalpha() or not c.islower()]
        if wrong or not self.languages:
            raise ValueError(f"languages must be lower-case ISO 639-1 codes such as 'en', not {wrong}")

    def calibration_for(self, encoder: str) -> Calibration | None:
        """The configured calibration of an encoder, else the shipped one, else None."""
        return self.calibration.get(encoder) or KNOWN_CALIBRATIONS.get(encoder)
