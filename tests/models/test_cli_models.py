from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli.main import cli

pytestmark = pytest.mark.slow


def _config(tmp_path: Path, models: str) -> Path:
    path = tmp_path / "diplomonitor.toml"
    path.write_text(f'[models]\ncache_dir = "cache"\n{models}\n', encoding="utf-8")
    return path


def _run(config: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["--config", str(config), *args], env=env or {})


def test_classify_scores_posts_and_models_info_shows_them(
    tmp_path: Path, tiny_models: dict[str, str]
) -> None:
    config = _config(
        tmp_path,
        f'sentiment = "{tiny_models["sentiment"]}"\nembedding = "{tiny_models["embedding"]}"\n'
        f'[models.calibration."{tiny_models["embedding"]}"]\nfloor = 0.0\nceiling = 1.0',
    )
    assert _run(config, "db", "upgrade").exit_code == 0
    from monitor.db import make_engine
    from tests.models.test_scoring import _add_posts

    engine = make_engine(f"sqlite:///{tmp_path / 'diplomonitor.db'}")
    _add_posts(engine, ["Olympic medals!", "Nouvelles bourses pour les étudiants", "Olympic medals!"])
    engine.dispose()
    result = _run(config, "classify", "--limit", "2")
    assert result.exit_code == 0, result.output
    assert "scored 2 post(s)" in result.output
    assert "scored 1 post(s)" in _run(config, "classify").output
    assert "scored 3 post(s)" in _run(config, "classify", "--rescore").output
    info = _run(config, "models", "info", "--format", "csv")
    assert info.exit_code == 0, info.output
    lines = info.output.splitlines()
    assert lines[0] == "role,name,location,version,status"
    assert lines[1].startswith(f"sentiment,{tiny_models['sentiment']},{tiny_models['sentiment']},sha256:")
    assert lines[1].endswith(",ok") and lines[2].endswith(",ok")
    assert (tmp_path / "cache" / "onnx").is_dir()  # the default runtime exported them once


def test_classify_without_the_model_scores_language_and_topics_and_says_what_is_missing(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, 'sentiment = "org/absent"\nembedding = ""')
    assert _run(config, "db", "upgrade").exit_code == 0
    from monitor.db import make_engine
    from tests.models.test_scoring import _add_posts

    engine = make_engine(f"sqlite:///{tmp_path / 'diplomonitor.db'}")
    _add_posts(engine, ["Olympic medals!", "Nouvelles bourses pour les étudiants"])
    engine.dispose()
    result = _run(config, "classify")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(
        "warning: scoring without sentiment: sentiment model 'org/absent' is not in"
    )
    assert "diplomonitor models pull" in result.stderr and "Traceback" not in result.output
    assert result.stdout == "scored 2 post(s) and 0 answer(s) in 1 batch(es)\n"
    info = _run(config, "models", "info", "--no-load")
    assert info.exit_code == 1 and "org/absent" in info.output


def test_models_info_says_which_languages_have_keyword_rules(tmp_path: Path) -> None:
    config = _config(tmp_path, 'sentiment = ""\nembedding = ""\nlanguages = ["en", "de", "vi"]')
    result = _run(config, "models", "info", "--no-load", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-2:] == [
        "keyword rules,en de,topics file,2 languages,ok",
        "keyword rules,vi,topics file,1 languages,"
        '"no keyword rules: topics from the encoder only, else counted as no_rules"',
    ]


LABELLED = [
    {"text": "Congratulations to our athletes on their Olympic medals!", "lang": "en", "topics": ["sport"],
     "sentiment": "positive"},
    {"text": "Le consulat rappelle que les demandes de passeport se font en ligne.", "lang": "fr",
     "topics": ["consular_services"], "sentiment": "neutral"},
    {"text": "Nuevas becas para estudiantes universitarios.", "lang": "es",
     "topics": ["education", "culture"]},
    {"text": "Olympic medals and a new museum exhibition for the city.", "lang": "en", "topics": ["culture"]},
    {"text": "Our cat says hello to everyone.", "topics": []},
]  # fmt: skip

# Worked out by hand: 4 topics right, sport added to the museum post, culture missed on the
# scholarship post -> micro P = R = F1 = 4/5; macro over the 4 labelled topics (2/3, 1, 1, 2/3).
EVAL_TABLES = """5 posts; scored with: language, rules
topic              precision  recall  f1      support  predicted
culture            1.0        0.5     0.6667  2        1
education          1.0        1.0     1.0     1        1
consular_services  1.0        1.0     1.0     1        1
sport              0.5        1.0     0.6667  1        2

micro: precision 0.800  recall 0.800  F1 0.800   macro F1 0.833   language accuracy 100.0%

per language
language  posts  precision  recall  f1      no_rules  language_accuracy
en        3      0.6667     1.0     0.8     0         100.0%
es        1      1.0        0.5     0.6667  0         100.0%
fr        1      1.0        1.0     1.0     0         100.0%

worst confusions (labelled -> given instead)
    1  added sport
         e.g. Olympic medals and a new museum exhibition for the city.
    1  culture -> (none)
         e.g. Nuevas becas para estudiantes universitarios.
"""


def _labelled(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "labelled.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_models_eval_on_a_small_file_with_known_answers(tmp_path: Path) -> None:
    config = _config(tmp_path, 'sentiment = ""\nembedding = ""')
    result = _run(config, "models", "eval", str(_labelled(tmp_path, LABELLED)))
    assert result.exit_code == 0, result.output
    assert result.output == EVAL_TABLES
    as_json = _run(config, "models", "eval", str(_labelled(tmp_path, LABELLED)), "--json")
    doc = json.loads(as_json.output)
    assert doc["micro"] == {"precision": 0.8, "recall": 0.8, "f1": 0.8, "support": 5, "predicted": 5}
    assert doc["macro_f1"] == 0.8333 and doc["language_accuracy"] == 1.0 and doc["no_rules"] == 0
    assert doc["topics"]["sport"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": 0.6667,
        "support": 1,
        "predicted": 2,
    }
    assert len(doc["topics"]) == 21 and doc["parts"] == ["language", "rules"] and doc["sentiment"] == {}
    museum = "Olympic medals and a new museum exhibition for the city."
    assert doc["confusions"][0] == {
        "expected": "(none)",
        "predicted": "sport",
        "count": 1,
        "examples": [museum],
    }


def test_models_eval_names_every_bad_line_and_scores_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path, 'sentiment = ""\nembedding = ""')
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"text": "x", "topics": []}\nnot json\n{"text": "y", "topics": ["nope"]}\n{"topics": []}\n'
    )
    result = _run(config, "models", "eval", str(path))
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {path}: 3 bad line(s): line 2: Expecting value")
    assert (
        "line 3: unknown topic id(s) ['nope']" in result.output
        and "line 4: 'text' must be a string" in result.output
    )


def test_models_eval_with_models_sentiment_runtime_agreement_and_calibration(
    tmp_path: Path, tiny_models: dict[str, str]
) -> None:
    config = _config(
        tmp_path, f'sentiment = "{tiny_models["sentiment"]}"\nembedding = "{tiny_models["embedding"]}"'
    )
    labelled = _labelled(tmp_path, LABELLED * 2)  # three topics with support for the threshold search
    result = _run(config, "models", "eval", str(labelled), "--json", "--compare-runtime", "--fit-calibration")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["parts"] == ["language", "rules", "sentiment"]  # the tiny encoder has no calibration yet
    assert "has no calibration" in doc["missing"]["embedding"]
    assert set(doc["sentiment"]) == {"all", "en", "fr"} and doc["sentiment"]["all"]["posts"] == 4
    assert 0 <= doc["sentiment"]["all"]["accuracy"] <= 1 and 0 <= doc["sentiment"]["all"]["macro_f1"] <= 1
    compare = doc["compare_runtime"]
    assert (
        compare["runtime"] == "onnx" and compare["posts"] == 10 and 0 <= compare["sentiment_agreement"] <= 1
    )
    fit = doc["fit_calibration"]
    assert fit["encoder"] == tiny_models["embedding"] and -1 <= fit["floor"] < fit["ceiling"] <= 1
    assert set(fit["thresholds"]) <= {"sport", "culture", "education", "consular_services"}
    text = _run(config, "models", "eval", str(labelled), "--fit-calibration")
    assert f'[models.calibration."{tiny_models["embedding"]}"]\nfloor = {fit["floor"]}\n' in text.output
    calibrated = _config(tmp_path, f'sentiment = ""\nembedding = "{tiny_models["embedding"]}"\n'
                                   f'[models.calibration."{tiny_models["embedding"]}"]\n'
                                   f'floor = {fit["floor"]}\nceiling = {fit["ceiling"]}')  # fmt: skip
    doc = json.loads(_run(calibrated, "models", "eval", str(labelled), "--json").output)
    assert doc["parts"] == ["language", "rules", "embedding"]


def test_compare_runtime_without_a_sentiment_model_is_a_clear_error(tmp_path: Path) -> None:
    config = _config(tmp_path, 'sentiment = ""\nembedding = ""')
    result = _run(config, "models", "eval", str(_labelled(tmp_path, LABELLED)), "--compare-runtime")
    assert result.exit_code == 1
    assert (
        result.output
        == "Error: --compare-runtime needs the sentiment model: [models] sentiment is switched off\n"
    )


def test_pull_honours_hf_hub_offline(tmp_path: Path) -> None:
    config = _config(tmp_path, 'sentiment = "org/absent"\nembedding = ""')
    result = _run(config, "models", "pull", env={"HF_HUB_OFFLINE": "1"})
    assert result.exit_code == 1
    assert "HF_HUB_OFFLINE is set" in result.output and "org/absent" in result.output


def test_pull_without_network_says_which_hub_failed(tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = _config(
        tmp_path, f'sentiment = "org/absent"\nembedding = ""\nhub_endpoint = "http://127.0.0.1:{port}"'
    )
    result = _run(config, "models", "pull")
    assert result.exit_code == 1
    assert f"cannot download sentiment model 'org/absent' from http://127.0.0.1:{port}" in result.output


def test_pull_prepares_local_folders_for_onnx(tmp_path: Path, tiny_models: dict[str, str]) -> None:
    config = _config(tmp_path, f'sentiment = "{tiny_models["sentiment"]}"\nembedding = ""')
    result = _run(config, "models", "pull", env={"HF_HUB_OFFLINE": "1"})
    assert result.exit_code == 0, result.output
    assert f"sentiment: {tiny_models['sentiment']} at {tiny_models['sentiment']}" in result.output
    assert list((tmp_path / "cache" / "onnx").glob("*/model.int8.onnx"))
