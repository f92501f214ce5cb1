"""Tiny models of the production architectures, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.scorer import Scorer
from models.settings import Calibration, ModelSettings
from tests.tiny_models import build_tiny_models


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """{"sentiment": folder, "embedding": folder} of tiny XLM-R / BERT models."""
    return build_tiny_models(tmp_path_factory.mktemp("tiny-models"))


def tiny_calibration(tiny_models: dict[str, str]) -> dict[str, Calibration]:
    """The tiny encoder's [models] calibration: random weights, so the whole cosine range."""
    return {tiny_models["embedding"]: Calibration(floor=0.0, ceiling=1.0)}


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models-cache")


@pytest.fixture(scope="session")
def torch_scorer(tiny_models: dict[str, str], model_cache: Path) -> Scorer:
    """A loaded scorer on the tiny models, torch runtime, full precision."""
    settings = ModelSettings(**tiny_models, cache_dir=str(model_cache), runtime="torch", quantize=False,
                             batch_size=4, calibration=tiny_calibration(tiny_models))  # fmt: skip
    scorer = Scorer(settings)
    scorer.load()
    return scorer


@pytest.fixture(scope="session")
def onnx_scorer(tiny_models: dict[str, str], model_cache: Path) -> Scorer:
    """A loaded scorer on the tiny models, ONNX Runtime int8 (the default)."""
    scorer = Scorer(ModelSettings(**tiny_models, cache_dir=str(model_cache), batch_size=4,
                                  calibration=tiny_calibration(tiny_models)))  # fmt: skip
    scorer.load()
    return scorer


@pytest.fixture(scope="session")
def rules_scorer(model_cache: Path) -> Scorer:
    """No transformer at all: language detection and keyword rules."""
    return Scorer(ModelSettings(sentiment="", embedding="", cache_dir=str(model_cache)))
