"""Each metric on the hand-built posts of conftest.py, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from monitor.alerting.metrics import window_stats
from monitor.alerting.scope import load_accounts, members
from tests.alerts.conftest import rule
from tests.conftest import NOW


def stats(engine: Engine, **kw: Any) -> dict[str, Any]:
    r = rule(**kw)
    with engine.connect() as conn:
        return window_stats(conn, r, members(r, load_accounts(conn)), NOW)


# In the window (06:00, 12:00], not counting the deleted post 105:
#   account 1: 101 (eng 12, negative -0.7, culture), 102 (4, positive 0.6, science),
#              103 (0, negative -0.5, economy+culture, #Diplomacy), 104 (7, neutral 0.0)
#   account 2: 201 (20, positive 0.8, culture, "AUSTAUSCH"), 202 (6, not scored)
CASES = [
    pytest.param({"metric": "post_count"}, 6, 6, id="post-count"),
    pytest.param({"metric": "negative_share"}, 2 / 5, 5, id="negative-share-of-scored-posts"),
    pytest.param({"metric": "mean_sentiment"}, (-0.7 + 0.6 - 0.5 + 0.0 + 0.8) / 5, 5, id="mean-sentiment"),
    pytest.param({"metric": "topic_share", "topic": "culture"}, 3 / 5, 5, id="topic-share"),
    pytest.param({"metric": "engagement_total"}, 12 + 4 + 0 + 7 + 20 + 6, 6, id="engagement-total"),
    pytest.param({"metric": "engagement_median"}, (6 + 7) / 2, 6, id="engagement-median-even"),
    pytest.param({"metric": "engagement_median", "scope": "account", "scope_value": "de@social.bund.de"},
                 (6 + 20) / 2, 2, id="engagement-median-one-account"),
    pytest.param({"metric": "engagement_median", "scope": "group", "scope_value": "eu",
                  "include_reposts": False, "window_hours": 4.5}, 6, 5,
                 id="engagement-median-odd"),  # 0 4 [6] 12 20
    pytest.param({"metric": "keyword", "keywords": ("#diplomacy", "austausch")}, 2, 2,
                 id="keyword-and-hashtag"),
    pytest.param({"metric": "keyword", "keywords": ("50%_",)}, 0, 0, id="keyword-like-wildcards-escaped"),
    pytest.param({"metric": "post_count", "scope": "topic", "scope_value": "culture"}, 3, 3,
                 id="scope-topic"),
    pytest.param({"metric": "post_count", "scope": "country", "scope_value": "de"}, 2, 2, id="scope-country"),
    pytest.param({"metric": "post_count", "scope": "platform", "scope_value": "mastodon"}, 2, 2,
                 id="scope-platform"),
    pytest.param({"metric": "post_count", "scope": "group", "scope_value": "g7"}, 4, 4, id="scope-group"),
    pytest.param({"metric": "post_count", "spike": "zscore", "baseline_windows": 4, "scope": "account",
                  "scope_value": "fr.bsky.social"}, 4, 4, id="spike-window-value"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "value", "count"), CASES)
def test_metric_over_the_window(world: Engine, fields: dict[str, Any], value: float, count: int) -> None:
    (result,) = stats(world, **fields).values()
    assert result.value == pytest.approx(value)
    assert result.count == count


def test_spike_baseline_holds_the_previous_windows(world: Engine) -> None:
    """Account 1 posted 1, 2, 1 and 2 times in the four 6-hour windows before this one."""
    (result,) = stats(world, metric="post_count", spike="zscore", baseline_windows=4, scope="account",
                      scope_value="fr.bsky.social").values()  # fmt: skip
    assert result.baseline == (1.0, 2.0, 1.0, 2.0)
    (empty,) = stats(world, metric="post_count", spike="ratio", baseline_windows=2, scope="account",
                     scope_value="us.bsky.social").values()  # fmt: skip
    assert (empty.value, empty.baseline) == (0.0, (0.0, 0.0))  # a window without posts counts as zero


def test_per_member_evaluates_each_account(world: Engine) -> None:
    result = stats(world, metric="engagement_median", scope="group", scope_value="eu", per_member=True)
    assert {k: (v.value, v.count) for k, v in result.items()} == {
        "bluesky:fr.bsky.social": (pytest.approx((4 + 7) / 2), 4),
        "mastodon:de@social.bund.de": (pytest.approx(13.0), 2),
    }


def test_silence_is_hours_since_the_last_post(world: Engine) -> None:
    result = stats(world, metric="silence", threshold=72, per_member=True)
    assert {k: v.value for k, v in result.items()} == {
        "bluesky:fr.bsky.social": pytest.approx(1.0),  # the deleted post 105 (1.5 h) still counts as posting
        "bluesky:us.bsky.social": pytest.approx(80.0),
        "mastodon:de@social.bund.de": pytest.approx(2.0),
    }
    (whole,) = stats(world, metric="silence", threshold=72, scope="group", scope_value="g7").values()
    assert whole.value == pytest.approx(1.0)


OVER: dict[str, Any] = {"metric": "overperformance", "threshold": 3, "age_hours": 2, "baseline_posts": 4,
                        "scope": "account", "scope_value": "fr.bsky.social"}  # fmt: skip


def test_overperformance_against_the_accounts_median_at_the_same_age(world: Engine) -> None:
    """Age 2 h, each post against the 4 posts of its account before it (monitor.measures).
    Before the candidates, at 2 h: s4 8, s3 6, s2 4 (observed exactly at 2 h), s1 2 (its 50
    came at 3 h) -> median 5. Candidates that reached 2 h in the window, oldest first: 104 has
    no snapshot; 103 had 5 at 1 h (100 only at 2.5 h) -> 5 / 5 = 1.0x, and joins the baseline
    (s3 6, s2 4, s1 2, 103 5 -> median 4.5); 102 had 30 at 1 h -> 30 / 4.5 = 6.67x; 101 is only
    1 h old."""
    (result,) = stats(world, **OVER, min_posts=3).values()
    assert result.value == pytest.approx(30 / 4.5)
    assert result.count == 4
    assert [(p["post_id"], p["ratio"], p["median"]) for p in result.extra["posts"]] == [
        (102, pytest.approx(30 / 4.5), 4.5), (103, pytest.approx(1.0), 5.0)
    ]  # fmt: skip
    (strict,) = stats(world, **OVER, min_posts=5).values()
    assert strict.value is None  # fewer baseline posts than min_posts: no judgement
