from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.db import make_engine, revisions, upgrade
from monitor.service.locks import ProcessLock
from tests.service.process import ROOT

pytestmark = pytest.mark.slow  # each test starts `diplomonitor run` as a process


def _run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "monitor", "--config", str(config), "run", *args]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin"}
    )


def test_run_refuses_an_out_of_date_schema_and_upgrades_nothing(tmp_path: Path) -> None:
    config = tmp_path / "diplomonitor.toml"
    config.write_text('[service]\nhealth_address = "127.0.0.1:0"\n', encoding="utf-8")
    result = _run(config)
    assert result.returncode == 1
    assert "run `diplomonitor db upgrade`" in result.stderr
    engine = make_engine(f"sqlite:///{tmp_path / 'diplomonitor.db'}")
    assert revisions(engine)[0] is None  # never upgraded silently
    engine.dispose()


def test_a_second_service_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "diplomonitor.toml"
    config.write_text('[service]\nhealth_address = "127.0.0.1:0"\n', encoding="utf-8")
    upgrade(f"sqlite:///{tmp_path / 'diplomonitor.db'}")
    held = ProcessLock(tmp_path / "diplomonitor.db")
    try:
        result = _run(config, "--only", "alerts")
    finally:
        held.close()
    assert result.returncode == 1
    assert "already uses" in result.stderr and "use PostgreSQL to run several processes" in result.stderr


def test_unknown_job_for_this_configuration(tmp_path: Path) -> None:
    config = tmp_path / "diplomonitor.toml"
    config.write_text('[service]\nhealth_address = "127.0.0.1:0"\n', encoding="utf-8")
    upgrade(f"sqlite:///{tmp_path / 'diplomonitor.db'}")
    result = _run(config, "--only", "collect")
    assert result.returncode == 1
    assert "no job collect in this configuration (jobs: score, alerts, deliver)" in result.stderr
