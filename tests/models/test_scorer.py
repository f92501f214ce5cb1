from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models import ModelIncompatible
from models.locate import locate
from models.runtime import load_text_model
from models.scorer import Score, Scorer
from models.settings import Calibration, ModelSettings
from tests.tiny_models import save_sentiment, train_tokenizer

pytestmark = pytest.mark.slow
TEXTS = [
    "We welcome the signing of the trade agreement between our two countries.",
    "Nous condamnons fermement cette attaque terroriste.",
    "وزير الخارجية يستقبل سفير الدولة الصديقة لبحث العلاقات الثنائية",  # right to left
    "中欧科技创新合作论坛在北京举行，聚焦人工智能。",  # no spaces between words
    "Поздравляем наших спортсменов с победой!",
    "😀🎉🇫🇷",
    "",
    "Gracias",
]


@pytest.mark.parametrize("name", ["torch_scorer", "onnx_scorer"])
def test_scores_are_well_formed_for_every_kind_of_text(name: str, request: pytest.FixtureRequest) -> None:
    scorer: Scorer = request.getfixturevalue(name)
    results = scorer.score(TEXTS, ["en", "fr", "ar", "zh", "ru", "fr", "de", None])
    assert [r.language for r in results[:5]] == ["en", "fr", "ar", "zh", "ru"]
    assert results[5].language == "fr" and results[5].language_confidence is None  # emoji: declared
    assert results[6] == type(results[6])("de", None, None, {})  # no text: no tone, no topics
    for r in results[:6] + results[7:]:
        s = r.sentiment
        assert s is not None and s.label in ("negative", "neutral", "positive")
        assert s.negative + s.neutral + s.positive == pytest.approx(1.0, abs=1e-5)
        assert -1.0 <= s.score <= 1.0 and s.score == pytest.approx(s.positive - s.negative)
        assert s.label == max(("negative", "neutral", "positive"), key=lambda k: getattr(s, k))
        assert all(0 <= v <= 1 for v in r.topics.values())


# int8 dynamic quantisation scales activations per batch, so padding partners shift logits a little.
@pytest.mark.parametrize(("name", "tolerance"), [("torch_scorer", 1e-4), ("onnx_scorer", 2e-3)])
def test_batched_equals_one_by_one(name: str, tolerance: float, request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue(name).sentiment
    encoded = model.encode(TEXTS)
    assert len({len(e) for e in encoded}) > 3  # batches really are padded
    together = model.run_encoded(encoded)
    alone = np.vstack([model.run_encoded([e]) for e in encoded])
    np.testing.assert_allclose(together, alone, atol=tolerance)


def test_onnx_full_precision_agrees_with_torch(
    tiny_models: dict[str, str], model_cache: Path, torch_scorer: Scorer
) -> None:
    located = locate(tiny_models["sentiment"], role="sentiment", cache_dir=model_cache, base_dir=Path.cwd())
    onnx = load_text_model(located, "classifier", runtime="onnx", quantize=False, cache_dir=model_cache)
    assert torch_scorer.sentiment is not None
    np.testing.assert_allclose(onnx.run(TEXTS), torch_scorer.sentiment.run(TEXTS), atol=1e-4)
    assert (model_cache / "onnx").is_dir()


def test_a_10000_character_post_is_truncated_to_the_model_maximum(torch_scorer: Scorer) -> None:
    model = torch_scorer.sentiment
    assert model is not None and model.max_length == 64  # 66 positions less RoBERTa's offset of 2
    [ids] = model.encode(["Diplomatie " * 1000])
    assert len(ids) == 64
    [score] = torch_scorer.score(["Diplomatie " * 1000])
    assert score.sentiment is not None


def test_identical_texts_are_computed_once(torch_scorer: Scorer, monkeypatch: pytest.MonkeyPatch) -> None:
    model = torch_scorer.sentiment
    assert model is not None
    seen: list[int] = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda ids, mask: seen.append(len(ids)) or forward(ids, mask))
    texts = ["Repost me, once: unique text 41", "Repost me, once: unique text 41", "another unique text 41"]
    first = torch_scorer.score(texts)
    assert sum(seen) == 2 and first[0] == first[1]
    again = torch_scorer.score(texts[:1])  # a boost of an earlier post, in a later batch
    assert sum(seen) == 2 and again[0] == first[0]


def test_labels_are_mapped_through_label_map(tmp_path: Path) -> None:
    tokenizer = train_tokenizer(["bonjour le monde", "hello world", "hola mundo"] * 20, 60, 32)
    folder = save_sentiment(tmp_path / "m", tokenizer, labels=("LABEL_0", "LABEL_1", "LABEL_2"))
    unmapped = Scorer(
        ModelSettings(sentiment=str(folder), embedding="", runtime="torch", cache_dir=str(tmp_path))
    )
    with pytest.raises(ModelIncompatible, match="label_map"):
        unmapped.load()
    label_map = {"LABEL_0": "negative", "LABEL_1": "neutral", "LABEL_2": "positive"}
    mapped = Scorer(
        ModelSettings(
            sentiment=str(folder),
            embedding="",
            runtime="torch",
            quantize=False,
            cache_dir=str(tmp_path),
            label_map=label_map,
        )
    )
    [score] = mapped.score(["hello world"])
    assert mapped.sentiment is not None and score.sentiment is not None
    probs = np.exp(mapped.sentiment.run(["hello world"])[0])
    probs /= probs.sum()
    assert (score.sentiment.negative, score.sentiment.neutral, score.sentiment.positive) == pytest.approx(
        tuple(probs), abs=1e-6
    )


def test_two_label_model_has_no_neutral(tmp_path: Path) -> None:
    tokenizer = train_tokenizer(["hello world", "hola mundo"] * 20, 50, 32)
    folder = save_sentiment(tmp_path / "m", tokenizer, labels=("NEG", "POS"))
    scorer = Scorer(
        ModelSettings(
            sentiment=str(folder),
            embedding="",
            runtime="torch",
            cache_dir=str(tmp_path),
            label_map={"NEG": "negative", "POS": "positive"},
        )
    )
    [score] = scorer.score(["hello"])
    assert score.sentiment is not None and score.sentiment.neutral == 0.0
    assert score.sentiment.label in ("negative", "positive")


def test_a_missing_model_is_left_out_with_one_clear_reason(tmp_path: Path) -> None:
    scorer = Scorer(ModelSettings(cache_dir=str(tmp_path / "cache")), base_dir=tmp_path)
    versions = scorer.versions()
    assert versions.parts == ("language", "rules") and not versions.complete
    reasons = dict(versions.missing)
    assert set(reasons) == {"sentiment", "embedding"}
    assert "cardiffnlp/twitter-xlm-roberta-base-sentiment-multilingual" in reasons["sentiment"]
    assert (
        "diplomonitor models pull" in reasons["sentiment"] and str(tmp_path / "cache") in reasons["sentiment"]
    )
    assert versions.fingerprint.startswith("dm2-language+rules:")
    folder = Scorer(ModelSettings(sentiment="./nowhere", embedding=""), base_dir=tmp_path)
    assert "nowhere has no config.json" in dict(folder.versions().missing)["sentiment"]
    [score] = folder.score(["Congratulations to our athletes on their Olympic medals!"])
    # athlet-, olympi-, medal-: three keywords
    assert score == Score("en", score.language_confidence, None, {"sport": 0.8}, "rules")


def test_an_uncalibrated_encoder_is_left_out_until_calibrated(
    tiny_models: dict[str, str], model_cache: Path
) -> None:
    common = {"sentiment": "", "embedding": tiny_models["embedding"], "cache_dir": str(model_cache),
              "runtime": "torch", "quantize": False}  # fmt: skip
    plain = Scorer(ModelSettings(**common))  # type: ignore[arg-type]
    v = plain.versions()
    assert v.parts == ("language", "rules") and v.topic_model == "keyword rules"
    assert (
        "has no calibration" in dict(v.missing)["embedding"]
        and "--fit-calibration" in dict(v.missing)["embedding"]
    )
    [score] = plain.score(["Olympic medals"])
    assert score.topic_basis == "rules"
    calibrated = Scorer(
        ModelSettings(**common, calibration={tiny_models["embedding"]: Calibration(0.0, 1.0)})
    )  # type: ignore[arg-type]
    assert calibrated.versions().parts == ("language", "rules", "embedding")
    assert calibrated.fingerprint != plain.fingerprint
    [score] = calibrated.score(["Olympic medals"])
    assert score.topic_basis == "rules+embedding"


def test_version_follows_the_weights(
    tiny_models: dict[str, str], tmp_path: Path, torch_scorer: Scorer
) -> None:
    tokenizer = train_tokenizer(["hello world", "hola mundo"] * 20, 50, 32)
    one = locate(
        str(save_sentiment(tmp_path / "a", tokenizer, seed=1)),
        role="s",
        cache_dir=tmp_path,
        base_dir=tmp_path,
    )
    two = locate(
        str(save_sentiment(tmp_path / "b", tokenizer, seed=2)),
        role="s",
        cache_dir=tmp_path,
        base_dir=tmp_path,
    )
    same = locate(
        str(save_sentiment(tmp_path / "c", tokenizer, seed=1)),
        role="s",
        cache_dir=tmp_path,
        base_dir=tmp_path,
    )
    assert one.version != two.version and one.version == same.version
    assert torch_scorer.versions().sentiment_version.endswith(":torch-fp32")  # type: ignore[union-attr]
