"""A small, hand-built month of posts whose every export figure is computed by hand in the tests.

Three accounts, October 2026 in UTC, one post on each side of each month boundary, hostile
texts, engagement snapshots placed around the 24 h and 7 day marks, and follower snapshots.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from monitor.schema import accounts, engagement_snapshots, post_topics, posts, profile_snapshots, scores

H = timedelta(hours=1)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


ACCOUNTS = [
    {"id": 1, "platform": "bluesky", "handle": "diplomatie.gouv.fr", "display_name": "France Diplomatie",
     "country": "FR", "kind": "ministry", "groups": ["eu", "g7"]},
    {"id": 2, "platform": "mastodon", "handle": "auswaertiges@social.bund.de",
     "display_name": "Auswärtiges Amt", "country": "DE", "kind": "ministry", "groups": ["eu"],
     "instance": "social.bund.de"},
    {"id": 3, "platform": "bluesky", "handle": "franceinusa.bsky.social", "display_name": "=France in the US",
     "country": "FR", "kind": "embassy", "host_country": "US", "groups": []},
]  # fmt: skip

# seen: when the latest counts were observed (posts.engagement_at), after creation;
# snaps: engagement snapshots as (age, (likes, reposts, replies, quotes));
# score: (detected language, sentiment label, sentiment score, {topic: score}).
POSTS: list[dict[str, Any]] = [
    # Known at 24 h (2, observed again at 25 h): the baseline October's first post is judged against.
    {"id": 10, "account": 1, "created": "2026-09-30 23:59:59.999999", "text": "Last of September",
     "lang": "fr", "counts": (3, 0, 0, 0), "seen": 25 * H,
     "snaps": [(1 * H, (2, 0, 0, 0)), (25 * H, (3, 0, 0, 0))],
     "score": ("fr", "negative", -0.4, {"security": 0.8})},
    {"id": 1, "account": 1, "created": "2026-10-01 00:00:00", "text": "Bonjour, le monde — culture!",
     "lang": "fr", "counts": (10, 2, 1, 0), "seen": 30 * H,
     "snaps": [(1 * H, (5, 0, 0, 0)), (30 * H, (10, 2, 1, 0))],
     "score": ("fr", "positive", 0.8, {"culture": 0.9})},
    {"id": 2, "account": 1, "created": "2026-10-10 12:00:00", "lang": "fr", "reply": True,
     "text": '=HYPERLINK("http://evil.example","click")', "counts": (2, 0, 0, 0), "seen": 8 * 24 * H,
     "snaps": [(2 * H, (2, 0, 0, 0))],
     "score": ("fr", "negative", -0.6, {"security": 0.7, "human_rights": 0.55})},
    {"id": 3, "account": 1, "created": "2026-10-20 08:30:00", "text": "+33 1 23 45 67 89, call us",
     "lang": "fr", "repost": True, "counts": (50, 20, 0, 0), "seen": 1 * H,
     "snaps": [(1 * H, (50, 20, 0, 0))],
     "score": ("en", "neutral", 0.0, {})},
    {"id": 8, "account": 1, "created": "2026-10-25 07:00:00", "text": "Climate week: join us",
     "lang": "en", "counts": (1, 0, 0, 0), "seen": 72 * H, "snaps": [(2 * H, (1, 0, 0, 0))],
     "score": ("en", "positive", 0.2, {"climate": 0.95, "culture": 0.3})},
    {"id": 4, "account": 2, "created": "2026-10-05 09:00:00",
     "text": "Wir fördern Austausch. Grüße, \"alle\"",
     "lang": "de", "counts": (30, 5, 3, None), "seen": 24 * H,
     "snaps": [(10 * H, (10, 1, 0, None)), (24 * H, (30, 5, 3, None))],
     "score": ("de", "neutral", 0.1, {"education": 0.6})},
    {"id": 5, "account": 2, "created": "2026-10-31 23:59:59", "text": "-1 Minus start\tand a tab",
     "lang": "de", "counts": (1, 0, 0, None), "seen": None, "snaps": [],
     "edited": "2026-11-01 10:00:00", "deleted": "2026-11-02 00:00:00"},
    {"id": 6, "account": 2, "created": "2026-11-01 00:00:00", "text": "First of November",
     "lang": "de", "counts": (0, 0, 0, None), "seen": None, "snaps": []},
    {"id": 7, "account": 3, "created": "2026-10-15 18:45:00",
     "text": "@ambassador meets students\r\nline two",
     "lang": "en", "quote": True, "counts": (4, 1, 0, 0), "seen": 169 * H,
     "snaps": [(1 * H, (1, 0, 0, 0)), (169 * H, (4, 1, 0, 0))],
     "score": ("en", "positive", 0.5, {"education": 0.8, "culture": 0.4})},
]  # fmt: skip

FOLLOWERS = [
    (1, "2026-09-28 00:00:00", 1000),
    (1, "2026-10-15 00:00:00", 1100),
    (1, "2026-11-02 00:00:00", 1300),
    (2, "2026-10-03 00:00:00", 2000),
    (2, "2026-10-30 00:00:00", 1900),
]

PROBS = {"negative": (0.8, 0.15, 0.05), "neutral": (0.1, 0.8, 0.1), "positive": (0.05, 0.15, 0.8)}


def _rows(p: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    created = t(p["created"])
    account = ACCOUNTS[p["account"] - 1]
    likes, reposts, replies, quotes = p["counts"]
    row = {
        "id": p["id"], "account_id": p["account"], "platform": account["platform"],
        "uri": f"at://{account['handle']}/post/{p['id']}", "url": f"https://example.org/{p['id']}",
        "author_handle": account["handle"], "text": p["text"], "declared_language": p["lang"],
        "languages": [p["lang"]], "created_at": created, "collected_at": created,
        "is_reply": p.get("reply", False), "is_repost": p.get("repost", False),
        "is_quote": p.get("quote", False), "likes": likes, "reposts": reposts, "replies": replies,
        "quotes": quotes, "engagement_at": created + p["seen"] if p["seen"] else None,
        "edited_at": t(p["edited"]) if p.get("edited") else None,
        "deleted_at": t(p["deleted"]) if p.get("deleted") else None,
    }  # fmt: skip
    snaps = [
        {"post_id": p["id"], "observed_at": created + off, "likes": c[0], "reposts": c[1], "replies": c[2],
         "quotes": c[3]}
        for off, c in p["snaps"]
    ]  # fmt: skip
    return row, snaps


def build_dataset(engine: Engine) -> None:
    """Insert the accounts, posts, snapshots, scores and topics above."""
    with engine.begin() as conn:
        conn.execute(accounts.insert(), [{"host_country": None, "instance": None, **a} for a in ACCOUNTS])
        for p in POSTS:
            row, snaps = _rows(p)
            conn.execute(posts.insert().values(**row))
            if snaps:
                conn.execute(engagement_snapshots.insert(), snaps)
            if "score" in p:
                lang, label, value, topics = p["score"]
                neg, neu, pos = PROBS[label]
                conn.execute(scores.insert().values(
                    post_id=p["id"], scored_with="test", language=lang, sentiment_label=label,
                    sentiment_negative=neg, sentiment_neutral=neu, sentiment_positive=pos,
                    sentiment_score=value, topics=topics))  # fmt: skip
                if topics:
                    conn.execute(post_topics.insert(), [
                        {"post_id": p["id"], "topic": k, "score": v} for k, v in topics.items()])  # fmt: skip
        conn.execute(profile_snapshots.insert(), [
            {"account_id": a, "observed_at": t(at), "followers": n, "following": 10, "posts_count": 100}
            for a, at, n in FOLLOWERS])  # fmt: skip
        if conn.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for table in ("accounts", "posts"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )


@pytest.fixture
def dataset(engine: Engine) -> Engine:
    """The engine, holding the hand-built month."""
    build_dataset(engine)
    return engine


def scores_and_topics(conn: Any, post_id: int, label: str, value: float, topics: dict[str, float]) -> None:
    """Score one post as the models would: a scores row and its post_topics rows."""
    neg, neu, pos = PROBS[label]
    conn.execute(scores.insert().values(
        post_id=post_id, scored_with="test", language=None, sentiment_label=label, sentiment_negative=neg,
        sentiment_neutral=neu, sentiment_positive=pos, sentiment_score=value, topics=topics))  # fmt: skip
    if topics:
        conn.execute(
            post_topics.insert(), [{"post_id": post_id, "topic": k, "score": v} for k, v in topics.items()]
        )
