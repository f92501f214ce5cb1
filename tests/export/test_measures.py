"""One definition of overperformance: an alert rule with the report's parameters flags the same
post, with the same ratio, as the summary and the report (monitor.measures)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from alerts.settings import Rule
from monitor.alerting.metrics import window_stats
from monitor.alerting.scope import load_accounts, members
from monitor.measures import REPORTING, rolling
from monitor.reporting.gather import gather_report
from monitor.reporting.selection import Period, Selection
from monitor.reporting.summary import summarise
from tests.conftest import NOW

OCTOBER = Selection(Period.month("2026-10"))


def test_alerts_summary_and_report_agree_on_the_overperforming_post(dataset: Engine) -> None:
    rule = Rule(name="over", metric="overperformance", threshold=REPORTING.factor,
                age_hours=REPORTING.age_hours, baseline_posts=REPORTING.baseline_posts,
                baseline_days=REPORTING.baseline_days, window_hours=24 * 32)  # fmt: skip
    now = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=24)  # October's posts reached 24 h
    with dataset.connect() as conn:
        group = members(rule, load_accounts(conn))
        (stats,) = window_stats(conn, rule, group, now).values()
        report = gather_report(conn, OCTOBER, now=NOW)
        by_account = {row[0]: row for row in summarise(conn, OCTOBER, "account")}
    flagged = [(p["post_id"], p["ratio"]) for p in stats.extra["posts"] if p["ratio"] >= REPORTING.factor]
    assert flagged == [(1, 2.5)]
    assert [(p.url, p.ratio) for p in report.top_overperformance] == [("https://example.org/1", 2.5)]
    assert by_account["diplomatie.gouv.fr"][14] == 1  # overperforming_posts


def test_the_rolling_median_is_over_earlier_known_values_only() -> None:
    at = datetime(2026, 10, 1, tzinfo=UTC)
    rows = [(1, 7, at, 4, False), (2, 7, at + timedelta(hours=1), None, True),
            (3, 7, at + timedelta(hours=2), 12, True), (4, 7, at + timedelta(hours=3), 0, True),
            (5, 8, at + timedelta(hours=4), 9, True)]  # fmt: skip
    judged = [(r.post_id, r.median, r.ratio, r.overperforming()) for r in rolling(rows, REPORTING)]
    # 2 has no value; 3 against [4]; 4 against [4, 12] (0 is not overperforming); 5 has no history.
    assert judged == [(3, 4, 3.0, True), (4, 8, 0.0, False)]
