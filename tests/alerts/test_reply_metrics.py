"""Alert metrics over the audience's answers: replies written in the window to the scope's posts,
and the negative share of those scored, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from monitor.alerting.evaluate import evaluate_rules
from monitor.alerting.evidence import top_posts
from monitor.alerting.metrics import window_stats
from monitor.alerting.scope import load_accounts, members
from monitor.schema import alert_events, reception_posts, reception_scores
from tests.alerts.conftest import H, rule, settings
from tests.conftest import NOW

# (id, watched post, hours before NOW, relation, sentiment or None, deleted)
ANSWERS = [
    (1, 101, 1, "reply", "negative", False),
    (2, 101, 2, "reply", "negative", False),
    (3, 101, 3, "reply", "positive", False),
    (4, 102, 1, "reply", None, False),  # not scored yet
    (5, 102, 2, "quote", "negative", False),  # a quote, not a reply
    (6, 102, 2, "reply", "negative", True),  # deleted
    (7, 201, 5, "reply", "neutral", False),
    (8, 111, 20, "reply", "negative", False),  # written before the 6-hour window
]


@pytest.fixture
def answered(world: Engine) -> Engine:
    with world.begin() as conn:
        for i, post, hours, relation, label, deleted in ANSWERS:
            conn.execute(reception_posts.insert().values(
                id=i, post_id=post, platform="bluesky", uri=f"at://x/answer/{i}", relation=relation,
                author_key=f"k{i}", text=f"answer {i}", created_at=NOW - hours * H,
                deleted_at=NOW if deleted else None))  # fmt: skip
            if label:
                conn.execute(
                    reception_scores.insert().values(reception_id=i, scored_with="t", sentiment_label=label)
                )
    return world


def _stats(engine: Engine, **kw):  # type: ignore[no-untyped-def]
    r = rule(**kw)
    with engine.connect() as conn:
        return window_stats(conn, r, members(r, load_accounts(conn)), NOW)


def test_reply_count_and_negative_share(answered: Engine) -> None:
    (count,) = _stats(answered, metric="reply_count").values()
    assert (count.value, count.count) == (5, 5)  # 1, 2, 3, 4, 7: not the quote, the deleted, the old
    per = _stats(answered, metric="reply_count", per_member=True)
    counts = {k: v.value for k, v in per.items()}
    assert counts == {
        "bluesky:fr.bsky.social": 4,
        "mastodon:de@social.bund.de": 1,
        "bluesky:us.bsky.social": 0,
    }
    (share,) = _stats(answered, metric="reply_negative_share").values()
    assert (share.value, share.count) == (pytest.approx(2 / 4), 4)  # over the 4 scored replies
    (fr,) = _stats(answered, metric="reply_negative_share", scope="country", scope_value="FR").values()
    assert fr.value == pytest.approx(2 / 3)


def test_a_reply_spike_fires_quoting_the_most_answered_post(answered: Engine) -> None:
    r = rule(name="angry", metric="reply_negative_share", threshold=0.5, scope="account",
             scope_value="fr.bsky.social", window_hours=6)  # fmt: skip
    report = evaluate_rules(answered, settings((r,)).alerts, now=NOW)
    assert report.fired == 1
    with answered.connect() as conn:
        (member,) = members(r, load_accounts(conn))
        quoted = top_posts(conn, r, member, window_stats(conn, r, [member], NOW)[member.key], NOW)
        title = conn.execute(alert_events.select()).one().title
    assert [(p.url.rsplit("/", 1)[1], p.note) for p in quoted] == [
        ("101", "2 negative replies in the window")
    ]
    assert title == "angry: negative share of replies 67% >= 50% (account fr.bsky.social)"
