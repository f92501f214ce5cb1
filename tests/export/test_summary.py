"""The summary export, checked against figures computed by hand from tests/export/conftest.py."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from monitor.reporting.selection import Period, Selection
from monitor.reporting.summary import (
    SUMMARY_COLUMNS,
    export_summary,
    follower_counts,
    summarise,
)
from monitor.schema import accounts

OCTOBER = Selection(Period.month("2026-10"))


def _rows(engine: Engine, sel: Selection, by: str) -> dict[str, dict[str, object]]:
    with engine.connect() as conn:
        rows = summarise(conn, sel, by)
    return {r[0]: dict(zip(SUMMARY_COLUMNS, r[1:], strict=True)) for r in rows}


def test_by_account_matches_hand_computed_figures(dataset: Engine) -> None:
    rows = _rows(dataset, OCTOBER, "account")
    fr = rows["diplomatie.gouv.fr"]
    # Posts 1, 2 (reply), 3 (repost), 8. Own engagement 13, 2, 1 (the repost's 70 belongs to the
    # reposted post). Engagement at 24 h, each against the account's posts before it: post 1 5
    # against September's last (2): 2.5x, overperforming; post 2 2 against 2 and 5 (3.5); post 8
    # 1 against 2, 5 and 2 (2).
    assert fr == {
        "accounts": 1, "posts": 4, "posts_per_day": 0.13, "reply_share": 0.25, "repost_share": 0.25,
        "engagement_total": 16, "engagement_median": 2, "engagement_per_post": 5.33,
        "engagement_per_1000_followers": 14.55,  # 16 * 1000 / 1100
        "followers_start": 1000, "followers_end": 1100, "followers_change": 100, "followers_change_pct": 10,
        "overperforming_posts": 1, "scored_posts": 4, "sentiment_mean": 0.1, "negative_share": 0.25,
        "top_topics": "culture:2;climate:1;human_rights:1", "languages": "en:2;fr:2",
    }  # fmt: skip
    de = rows["auswaertiges@social.bund.de"]
    # No follower count before October: the start is the first one observed in it (2000).
    assert (de["posts"], de["engagement_total"], de["engagement_median"]) == (2, 39, 19.5)
    assert (de["followers_start"], de["followers_end"], de["followers_change_pct"]) == (2000, 1900, -5)
    assert (de["engagement_per_1000_followers"], de["overperforming_posts"]) == (20.53, 0)
    assert (de["scored_posts"], de["sentiment_mean"], de["languages"]) == (1, 0.1, "de:2")
    embassy = rows["franceinusa.bsky.social"]
    assert (embassy["followers_start"], embassy["engagement_per_1000_followers"]) == (None, None)


def test_by_country_topic_and_platform(dataset: Engine) -> None:
    fr = _rows(dataset, OCTOBER, "country")["FR"]
    # Own engagement 13, 2, 1, 5 -> median 3.5; per 1,000 followers only over the accounts with a
    # follower count (the ministry: 16 / 1100); tone (0.8 - 0.6 + 0 + 0.2 + 0.5) / 5.
    assert (fr["accounts"], fr["posts"], fr["engagement_total"], fr["engagement_median"]) == (2, 5, 21, 3.5)
    assert (fr["engagement_per_1000_followers"], fr["followers_start"], fr["followers_end"]) == (
        14.55,
        1000,
        1100,
    )
    assert (fr["sentiment_mean"], fr["negative_share"], fr["top_topics"]) == (
        0.18, 0.2, "culture:3;climate:1;education:1")  # fmt: skip
    topics = _rows(dataset, OCTOBER, "topic")
    assert sorted(topics) == ["climate", "culture", "education", "human_rights", "security"]
    culture = topics["culture"]
    assert (culture["posts"], culture["engagement_total"], culture["engagement_median"]) == (3, 19, 5)
    assert (culture["accounts"], culture["overperforming_posts"], culture["followers_end"]) == (2, 1, None)
    assert topics["security"]["negative_share"] == 1
    platforms = _rows(dataset, OCTOBER, "platform")
    assert (platforms["mastodon"]["posts"], platforms["bluesky"]["posts"]) == (2, 5)


def test_topic_filter_and_accounts_without_posts(dataset: Engine) -> None:
    with dataset.begin() as conn:
        conn.execute(accounts.insert().values(
            id=9, platform="bluesky", handle="quiet.example.org", country="DE", kind="embassy",
            groups=[]))  # fmt: skip
    rows = _rows(dataset, OCTOBER, "account")
    assert rows["quiet.example.org"]["posts"] == 0 and rows["quiet.example.org"]["engagement_total"] is None
    assert _rows(dataset, OCTOBER, "country")["DE"]["accounts"] == 2
    only = _rows(dataset, Selection(OCTOBER.period, topics=("education",)), "topic")
    assert list(only) == ["education"] and only["education"]["posts"] == 2
    assert list(_rows(dataset, Selection(OCTOBER.period, topics=("education",)), "account")) == [
        "auswaertiges@social.bund.de", "franceinusa.bsky.social"]  # fmt: skip


def test_csv_header_names_the_grouping(dataset: Engine) -> None:
    out = io.StringIO(newline="")
    with dataset.connect() as conn:
        assert export_summary(conn, OCTOBER, "platform", out) == 2
    lines = out.getvalue().split("\r\n")
    assert lines[0] == "platform," + ",".join(SUMMARY_COLUMNS)
    assert lines[2] == "mastodon,1,2,0.06,0,0,39,19.5,19.5,20.53,2000,1900,-100,-5,0,1,0.1,0,education:1,de:2"
    with dataset.connect() as conn, pytest.raises(ValueError, match="by must be one of"):
        summarise(conn, OCTOBER, "embassy")


def test_followers_at_the_start_prefer_the_count_before_the_period(dataset: Engine) -> None:
    with dataset.connect() as conn:
        counts = follower_counts(conn, [1, 2, 3], Period.month("2026-11"))
    # Account 1: 1100 (Oct 15) before November, 1300 on Nov 2; account 2: last seen Oct 30.
    assert (counts[1].start, counts[1].end) == (1100, 1300)
    assert (counts[2].start, counts[2].end) == (1900, 1900)
    assert (counts[3].start, counts[3].end) == (None, None)
    assert datetime(2026, 11, 1, tzinfo=UTC) == Period.month("2026-11").start
