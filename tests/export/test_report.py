"""The monthly report: its figures, its written summary, escaping, and that it opens offline."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine

from monitor.reporting.gather import Totals, gather_report
from monitor.reporting.html import render_report
from monitor.reporting.selection import Period, Selection
from monitor.reporting.text import headline
from monitor.schema import accounts, posts, profile_snapshots, scores
from tests.export.conftest import scores_and_topics

OCTOBER = Selection(Period.month("2026-10"))
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_figures_of_the_month(dataset: Engine) -> None:
    with dataset.connect() as conn:
        data = gather_report(conn, OCTOBER, now=NOW)
    # Own engagement 13 + 38 + 2 + 5 + 1 + 1 (the repost's 70 is not the account's);
    # tone (0.8 + 0.1 - 0.6 + 0.5 + 0 + 0.2) / 6.
    assert data.totals == Totals(posts=7, accounts=3, engagement=60, own_posts=6, scored=6, negative=1,
                                 tone=pytest.approx(1.0 / 6))  # fmt: skip
    assert data.previous_totals == Totals(1, 1, 3, 1, 1, 1, tone=pytest.approx(-0.4))
    assert (data.by, data.previous.label, len(data.days)) == ("country", "September 2026", 31)
    assert data.volume == {
        "FR": {date(2026, 10, d): 1 for d in (1, 10, 15, 20, 25)},
        "DE": {date(2026, 10, 5): 1, date(2026, 10, 31): 1},
    }
    assert data.daily[date(2026, 10, 10)] == {"posts": 1, "scored": 1, "tone_sum": -0.6, "negative": 1}
    # (posts, scored, negative) per theme
    assert data.topics == {"culture": (3, 3, 0), "education": (2, 2, 0), "climate": (1, 1, 0),
                           "human_rights": (1, 1, 1), "security": (1, 1, 1)}  # fmt: skip
    assert data.previous_topics == {"security": (1, 1, 1)}
    assert data.languages == {"en": 3, "fr": 2, "de": 2}
    assert [(p.url[-1], p.engagement) for p in data.top_engagement[:3]] == [("4", 38), ("1", 13), ("7", 5)]
    assert [(p.url, p.e24, p.ratio) for p in data.top_overperformance] == [("https://example.org/1", 5, 2.5)]
    # Account 2 has no count before October: its first (Oct 3) stands for the days before.
    de, fr = data.followers["DE"], data.followers["FR"]
    assert (de[0], de[2], de[28], de[29], de[30]) == (2000, 2000, 2000, 1900, 1900)
    assert (fr[0], fr[13], fr[14], fr[30]) == (1000, 1000, 1100, 1100)
    assert [row[0] for row in data.groups] == ["DE", "FR"]


def test_written_summary(dataset: Engine) -> None:
    with dataset.connect() as conn:
        data = gather_report(conn, OCTOBER, now=NOW)
        empty = gather_report(conn, Selection(Period.month("2026-06")), now=NOW)
    assert headline(data) == [
        "7 posts from 3 accounts in October 2026: up 600% on September 2026 (1).",
        "Own posts drew 60 interactions, up 1900%; 10.0 per post.",
        "17% of scored posts were negative (mean tone +0.17).",
        "Most discussed theme: culture (43% of posts, +43 points on September 2026).",
        "Followers +0 (+0.0%) to 3,000; fastest growth: FR (+10.0%).",
        "Most engaging post: Auswärtiges Amt on 05 Oct (38 interactions).",
        "Languages: en 43%, de 29%, fr 29%.",
    ]
    assert headline(empty) == ["No posts in June 2026 for this selection (0 in May 2026)."]


def test_country_report_shows_accounts_and_the_negative_topic(dataset: Engine) -> None:
    with dataset.begin() as conn:  # two more negative security posts make security the sore point
        for i, day in ((20, 3), (21, 4)):
            conn.execute(posts.insert().values(
                id=i, account_id=1, platform="bluesky", uri=f"at://x/{i}", author_handle="x", text="",
                created_at=datetime(2026, 10, day, tzinfo=UTC), likes=1, reposts=0, replies=0,
                quotes=0))  # fmt: skip
        scores_and_topics(conn, 20, "negative", -0.5, {"security": 0.9})
        scores_and_topics(conn, 21, "neutral", 0.0, {"security": 0.9})
    with dataset.connect() as conn:
        data = gather_report(conn, Selection(Period.month("2026-10"), countries=("FR",)), now=NOW)
    assert data.by == "account"
    assert set(data.volume) == {"diplomatie.gouv.fr", "franceinusa.bsky.social"}
    assert data.labels["diplomatie.gouv.fr"] == "France Diplomatie"
    assert "the negative share was highest on security (67% of 3 scored posts)" in headline(data)[2]


def test_post_content_is_escaped_and_the_file_is_self_contained(dataset: Engine) -> None:
    with dataset.begin() as conn:
        conn.execute(
            accounts.update().where(accounts.c.id == 2).values(display_name='<b onmouseover="x()">AA</b>')
        )
        conn.execute(posts.update().where(posts.c.id == 4).values(
            text='<script>document.body.setAttribute("data-pwned", "1")</script><img src=x onerror=alert(1)>',
            url="javascript:alert(1)"))  # fmt: skip
    with dataset.connect() as conn:
        html = render_report(gather_report(conn, OCTOBER, now=NOW))
    assert "&lt;script&gt;document.body.setAttribute(&quot;data-pwned&quot;" in html
    assert "<img" not in html and "<b " not in html and "&lt;b onmouseover=&quot;x()&quot;&gt;AA" in html
    assert 'href="javascript:' not in html
    assert re.findall(r"<script>", html) == ["<script>", "<script>"]  # the report's own two
    assert re.findall(r"<[^>]*\ssrc=", html) == [] and "<link" not in html and "url(" not in html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs and all(h.startswith("https://example.org/") for h in hrefs)
    assert "default-src 'none'" in html
    assert html.count('<svg class="chart"') == 6


def test_what_was_not_measured_shows_as_a_dash_not_zero(dataset: Engine) -> None:
    """No follower count collected is not 0 followers; no post scored for tone is not 0% negative."""
    with dataset.begin() as conn:
        conn.execute(profile_snapshots.delete())
        conn.execute(scores.delete())
    with dataset.connect() as conn:
        html = render_report(gather_report(conn, OCTOBER, now=NOW))
    kpis = {label: value for label, value in re.findall(
        r'<div class="kpi-label">([^<]+)</div><div class="kpi-value">([^<]+)</div>', html)}  # fmt: skip
    assert (kpis["Followers"], kpis["Negative share"]) == ("–", "–")
    themes = html.split('id="themes"')[1].split("</table>")[0]
    negative = re.findall(r"<td class=num>([^<]*)</td></tr>", themes)
    assert negative and set(negative) == {"–"}  # the Negative column of every theme
