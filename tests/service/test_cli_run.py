from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.db import make_engine, revisions, upgrade
from monitor.service.locks import ProcessLock
from tests.service.process import ROOT, ServiceProcess

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


def test_a_taken_health_address_says_how_to_give_each_process_its_own(tmp_path: Path) -> None:
    config = tmp_path / "diplomonitor.toml"
    config.write_text('[service]\nhealth_address = "127.0.0.1:0"\n', encoding="utf-8")
    upgrade(f"sqlite:///{tmp_path / 'diplomonitor.db'}")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(config, "--only", "alerts", "--health-address", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert f"cannot serve health checks on 127.0.0.1:{port}" in result.stderr
    assert "give each its own address with --health-address or DIPLOMONITOR_HEALTH_ADDRESS" in result.stderr
    bad = _run(config, "--health-address", "nowhere")
    assert bad.returncode == 2 and "'nowhere' is not HOST:PORT" in bad.stderr


@pytest.mark.postgres
def test_the_readme_scale_out_recipe_on_one_machine(tmp_path: Path, pg_url: str) -> None:
    """One full `run` on the configured port, a scoring worker beside it with its own address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "diplomonitor.toml"
    service = f'[service]\nhealth_address = "127.0.0.1:{port}"\nlog_format = "json"\n'
    models = '[models]\nsentiment = ""\nembedding = ""\n'
    config.write_text(f'[database]\nurl = "{pg_url}"\n{service}{models}', encoding="utf-8")
    with ServiceProcess(config) as full, ServiceProcess(config, "--only", "score", "--health-address",
                                                        "127.0.0.1:0") as worker:  # fmt: skip
        assert full.started() == f"http://127.0.0.1:{port}"
        assert worker.started() != full.started()
        assert (full.stop(), worker.stop()) == (0, 0)
