"""`diplomonitor export ...` and `diplomonitor report` end to end, and the period arithmetic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from monitor.cli.export import resolve_period
from monitor.cli.main import cli
from monitor.cli.report import default_name
from monitor.reporting.selection import Period, Selection
from monitor.schema import posts
from monitor.sqlparts import plus_seconds, utc_day
from tests.export.test_posts_csv import EXPECTED


@pytest.fixture
def config(dataset: Engine, write_config: Callable[[str], Path]) -> Path:
    return write_config(f'[database]\nurl = "{dataset.url.render_as_string(hide_password=False)}"\n')


def _run(config: Path, *args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], env={})


def test_export_posts_to_stdout_and_to_a_file(config: Path, tmp_path: Path) -> None:
    result = _run(config, "export", "posts", "--month", "2026-10", "-o", "-")
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.decode("utf-8") == EXPECTED
    assert "7 posts (October 2026) written to stdout" in result.stderr
    target = tmp_path / "posts.csv"
    result = _run(
        config, "export", "posts", "--month", "2026-10", "--country", "DE", "--excel", "-o", str(target)
    )
    assert result.exit_code == 0, result.output
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfpost_url,") and data.count(b"\r\nhttps://") == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_export_summary_and_report(config: Path, tmp_path: Path) -> None:
    result = _run(config, "export", "summary", "--month", "2026-10", "--by", "country")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("country,accounts,posts,") and [line[:3] for line in lines[1:]] == [
        "DE,",
        "FR,",
    ]
    target = tmp_path / "october.html"
    result = _run(config, "report", "--month", "2026-10", "--country", "FR", "-o", str(target))
    assert result.exit_code == 0, result.output
    html = target.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "France Diplomatie" in html
    assert "report for October 2026 (5 posts)" in result.stderr


def test_bad_periods_are_usage_errors(config: Path) -> None:
    assert "is not YYYY-MM" in _run(config, "export", "posts", "--month", "10/2026").output
    both = _run(config, "export", "posts", "--month", "2026-10", "--from", "2026-10-01")
    assert both.exit_code == 2 and "either --month or --from/--to" in both.output
    assert "--to needs --from" in _run(config, "report", "--to", "2026-10-01").output
    backwards = _run(config, "export", "summary", "--from", "2026-10-05", "--to", "2026-10-01")
    assert backwards.exit_code == 2 and "before --from" in backwards.output


def test_periods() -> None:
    now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert resolve_period(None, None, None, now) == Period.month("2026-10")
    assert resolve_period(None, datetime(2026, 10, 30), None, now).label == "2026-10-30 to 2026-11-02"
    assert Period.month("2026-12").end == datetime(2027, 1, 1, tzinfo=UTC)
    assert Period.month("2028-02").day_count == 29
    assert Period.month("2026-01").previous() == Period.month("2025-12")
    week = Period.days(date(2026, 10, 5), date(2026, 10, 11))
    assert week.previous() == Period(datetime(2026, 9, 28, tzinfo=UTC), week.start, "the previous 7 days")
    assert default_name(Selection(Period.month("2026-10"), countries=("fr",))) == "report-2026-10-FR.html"
    assert default_name(Selection(week)) == "report-2026-10-05_2026-10-12.html"


def test_sql_time_helpers_are_exact_on_both_backends(dataset: Engine) -> None:
    with dataset.connect() as conn:
        row = conn.execute(
            select(plus_seconds(posts.c.created_at, 24 * 3600), utc_day(posts.c.created_at)).where(
                posts.c.id == 10
            )
        ).one()
    assert row == (datetime(2026, 10, 1, 23, 59, 59, 999999, tzinfo=UTC), "2026-09-30")
