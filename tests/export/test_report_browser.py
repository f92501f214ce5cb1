"""The report opened in headless Chromium: its script ran without error and every chart drew.

Needs Debian's `chromium` (`make test` installs it when run as root); without it the test is
skipped and pytest's summary says why.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from monitor.reporting.gather import gather_report
from monitor.reporting.html import render_report
from monitor.reporting.selection import Period, Selection
from monitor.schema import posts

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr",
)  # fmt: skip

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium not installed: `apt-get install chromium` (make test does it when run as root)",
    ),
]


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"  # a fresh profile per run
    return subprocess.run(
        [CHROMIUM or "chromium", *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def report_file(dataset: Engine, tmp_path: Path) -> Path:
    """The October report, with a hostile post that would mark the page if it ever ran."""
    with dataset.begin() as conn:
        conn.execute(posts.update().where(posts.c.id == 4).values(
            text='<script>document.body.setAttribute("data-pwned", "1")</script>'
                 '<img src=x onerror="document.body.setAttribute(\'data-pwned\', \'1\')">'))  # fmt: skip
    with dataset.connect() as conn:
        data = gather_report(conn, Selection(Period.month("2026-10")), now=datetime(2026, 11, 2, tzinfo=UTC))
    path = tmp_path / "report.html"
    path.write_text(render_report(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_report_draws_in_headless_chromium(report_file: Path, tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", report_file.as_uri())
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body, dom.stderr[-2000:]
    attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(0)))
    assert attributes.get("data-report-ready") == "yes", dom.stderr[-2000:]
    assert attributes["data-script-errors"] == "0"
    assert attributes["data-charts"] == attributes["data-charts-drawn"] == "6"
    assert "data-pwned" not in attributes
    assert "Uncaught" not in dom.stderr and "Refused to" not in dom.stderr
    assert "&lt;script&gt;document.body.setAttribute" in dom.stdout  # shown as text

    shot = tmp_path / "report.png"
    result = _chromium(tmp_path, "--window-size=1280,2400", "--hide-scrollbars", f"--screenshot={shot}",
                       report_file.as_uri())  # fmt: skip
    assert shot.exists(), result.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1280, 2400)
    assert len(png) > 60_000  # a blank page compresses to a few kB; charts and text do not
