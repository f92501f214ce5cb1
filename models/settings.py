"""Model settings, as the `[models]` config table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """Which models score posts, where they live, and how fast they run."""

    sentiment: str = "cardiffnlp/twitter-xlm-roberta-base-sentiment-multilingual"
    embedding: str = "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"
    # Local folder for `diplomonitor models pull`; relative paths are relative to the config.
    cache_dir: str = "models-cache"
    runtime: Literal["torch", "onnx"] = "torch"
    quantize: bool = True
    batch_size: int = 16
    threads: int = 0  # 0 = torch's default
    device: str = "cpu"
    topics_file: str | None = None  # default: the taxonomy shipped in models/data
    # Raw model label -> negative | neutral | positive, when the model's own labels differ.
    label_map: dict[str, str] = field(default_factory=dict)
    topic_thresholds: dict[str, float] = field(default_factory=dict)
    language_min_confidence: float = 0.5

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.threads < 0:
            raise ValueError("threads must be 0 (default) or more")
        bad = {v for v in self.label_map.values()} - {"negative", "neutral", "positive"}
        if bad:
            raise ValueError(f"label_map values must be negative, neutral or positive, not {bad}")
