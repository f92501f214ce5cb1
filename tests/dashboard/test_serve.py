"""Who serves the dashboard: `diplomonitor run` beside /healthz (or on its own address), and
`diplomonitor serve` as a process of its own."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.compose import build_service
from monitor.config import load_settings
from tests.service.conftest import http_get

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.mark.parametrize("own", [False, True])
def test_run_serves_the_dashboard_beside_health(db_url: str, write_config: Any, own: bool) -> None:
    dashboard = '[dashboard]\naddress = "127.0.0.1:0"\n' if own else ""
    body = f'[database]\nurl = "{db_url}"\n[service]\nhealth_address = "127.0.0.1:0"\n{dashboard}'
    service = build_service(load_settings(write_config(body), {}), only=["alerts"])
    service.start()
    try:
        assert http_get(service.health.url + "/healthz") == (200, "ok\n")
        assert service.dashboard_url is not None and (service.dashboard_url != service.health.url) is own
        status, page = http_get(service.dashboard_url + "/")
        assert status == 200 and "<h1>Overview" in page
        assert http_get(service.health.url + "/nope")[0] == 404
    finally:
        assert service.shutdown() == []


def test_run_refuses_a_public_dashboard_without_a_token(db_url: str, write_config: Any) -> None:
    body = f'[database]\nurl = "{db_url}"\n[service]\nhealth_address = "0.0.0.0:0"\n'
    with pytest.raises(Exception, match=r"the dashboard would listen on 0\.0\.0\.0:0 without authentication"):
        build_service(load_settings(write_config(body), {}), only=["alerts"])


def test_diplomonitor_serve_runs_until_sigterm(db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n[service]\nlog_format = "json"\n', encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "-c", str(config), "serve", "--address", "127.0.0.1:0"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        url = None
        for line in proc.stderr:
            record = json.loads(line) if line.startswith("{") else {}
            if record.get("dashboard_url") or "dashboard_url" in record.get("fields", {}):
                url = record.get("dashboard_url") or record["fields"]["dashboard_url"]
                break
        assert url, "no dashboard_url logged"
        assert http_get(url + "/healthz") == (200, "ok\n")
        status, page = http_get(url + "/posts?format=json")
        assert status == 200 and json.loads(page)["total"] == 0
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=20)[1]
        assert proc.returncode == 0 and "dashboard stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        proc.stderr.close()  # type: ignore[union-attr]
