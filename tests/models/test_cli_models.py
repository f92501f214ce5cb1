from __future__ import annotations

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
        tmp_path, f'sentiment = "{tiny_models["sentiment"]}"\nembedding = "{tiny_models["embedding"]}"'
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


def test_classify_without_the_model_is_one_clear_error(tmp_path: Path) -> None:
    config = _config(tmp_path, 'sentiment = "org/absent"\nembedding = ""')
    assert _run(config, "db", "upgrade").exit_code == 0
    result = _run(config, "classify")
    assert result.exit_code == 1
    assert result.output.startswith("Error: sentiment model 'org/absent' is not in")
    assert "diplomonitor models pull" in result.output and "Traceback" not in result.output
    info = _run(config, "models", "info", "--no-load")
    assert info.exit_code == 1 and "org/absent" in info.output


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
