from __future__ import annotations

import shutil
import threading
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from collectors.records import Post
from models.scorer import Score, Scorer
from models.settings import ModelSettings
from monitor.accounts import sync_accounts
from monitor.collection.store import save_posts
from monitor.config import Account
from monitor.db import make_engine
from monitor.schema import post_topics, posts, scores
from monitor.scoring import score_pending, unscored_count
from tests.conftest import NOW
from tests.tiny_models import build_tiny_models

TEXTS = [
    "Congratulations to our athletes on their Olympic medals!",
    "Le consulat rappelle que les demandes de passeport se font en ligne.",
    "Nuevas becas para estudiantes universitarios.",
    "وصلت شحنة من اللقاحات إلى المستشفيات",
    "两国企业签署多项投资协议，推动双边贸易发展。",
    "",
    "Congratulations to our athletes on their Olympic medals!",  # a repost: same text
]


def _add_posts(engine: Engine, texts: Sequence[str], *, prefix: str = "p") -> None:
    with engine.begin() as conn:
        sync_accounts(conn, [Account("bluesky", "ec.europa.eu", "EU", "ministry")], NOW)
        batch = [
            Post(
                platform="bluesky",
                uri=f"at://did:plc:ec/{prefix}{i}",
                author_id="did:plc:ec",
                author_handle="ec.europa.eu",
                text=t,
                created_at=NOW - timedelta(minutes=i),
                languages=("en",),
            )
            for i, t in enumerate(texts)
        ]
        save_posts(conn, 1, batch, NOW)


def _rows(engine: Engine) -> dict[str, dict]:
    query = select(posts.c.uri, posts.c.scored_with, scores).join(scores, scores.c.post_id == posts.c.id)
    with engine.connect() as conn:
        return {r.uri: dict(r._mapping) for r in conn.execute(query)}


def test_scores_every_post_once_with_topics_and_versions(engine: Engine, torch_scorer: Scorer) -> None:
    _add_posts(engine, TEXTS)
    assert unscored_count(engine, torch_scorer) == 7
    report = score_pending(engine, torch_scorer, now=NOW)
    assert (report.scored, report.batches) == (7, 1)
    assert unscored_count(engine, torch_scorer) == 0
    rows = _rows(engine)
    v = torch_scorer.versions()
    sport = rows["at://did:plc:ec/p0"]
    assert {r["scored_with"] for r in rows.values()} == {v.fingerprint}
    assert sport["language"] == "en" and sport["sentiment_model"] == v.sentiment_model
    assert sport["sentiment_model_version"] == v.sentiment_version and sport["scored_at"] == NOW
    assert -1 <= sport["sentiment_score"] <= 1 and "sport" in sport["topics"]
    assert rows["at://did:plc:ec/p3"]["language"] == "ar"
    assert rows["at://did:plc:ec/p4"]["language"] == "zh"
    empty = rows["at://did:plc:ec/p5"]
    assert (empty["language"], empty["sentiment_label"], empty["topics"]) == ("en", None, {})
    with engine.connect() as conn:
        stored = {(r.post_id, r.topic): r.score for r in conn.execute(select(post_topics))}
    expected = {(r["post_id"], t): s for r in rows.values() for t, s in r["topics"].items()}
    assert stored == pytest.approx(expected)
    assert score_pending(engine, torch_scorer, now=NOW).scored == 0


def test_an_edit_is_rescored_and_rescore_redoes_everything(engine: Engine, rules_scorer: Scorer) -> None:
    _add_posts(engine, ["Olympic medals for our team", "A quiet day"])
    assert score_pending(engine, rules_scorer, now=NOW).scored == 2
    _add_posts(engine, ["Olympic medals for our team", "New scholarships for students"])  # the 2nd is edited
    assert unscored_count(engine, rules_scorer) == 1
    assert score_pending(engine, rules_scorer, now=NOW + timedelta(hours=1)).scored == 1
    edited = _rows(engine)["at://did:plc:ec/p1"]
    assert edited["topics"] == {"education": 0.65} and edited["scored_at"] == NOW + timedelta(hours=1)
    report = score_pending(engine, rules_scorer, rescore=True, now=NOW + timedelta(hours=2))
    assert report.scored == 2
    assert {r["scored_at"] for r in _rows(engine).values()} == {NOW + timedelta(hours=2)}


def test_a_new_model_version_rescores_history(engine: Engine, tmp_path: Path) -> None:
    _add_posts(engine, TEXTS[:3])
    cache = str(tmp_path / "cache")
    first = build_tiny_models(tmp_path / "v1", seed=1)
    scorer = Scorer(
        ModelSettings(
            sentiment=first["sentiment"], embedding="", cache_dir=cache, runtime="torch", quantize=False
        )
    )
    assert score_pending(engine, scorer, now=NOW).scored == 3
    old = scorer.fingerprint
    build_tiny_models(tmp_path / "v1", seed=2)  # retrained in place: same folder, new weights
    upgraded = Scorer(
        ModelSettings(
            sentiment=first["sentiment"], embedding="", cache_dir=cache, runtime="torch", quantize=False
        )
    )
    assert upgraded.fingerprint != old
    assert unscored_count(engine, upgraded) == 3
    assert score_pending(engine, upgraded, now=NOW).scored == 3
    assert {r["sentiment_model_version"] for r in _rows(engine).values()} == {
        upgraded.versions().sentiment_version
    }


def test_without_a_model_language_and_topics_are_scored_then_completed_when_it_appears(
    engine: Engine, tmp_path: Path, tiny_models: dict[str, str]
) -> None:
    _add_posts(engine, TEXTS[:2])
    settings = ModelSettings(sentiment="org/sentiment", embedding="", cache_dir="cache", runtime="torch")
    scorer = Scorer(settings, base_dir=tmp_path)  # one scorer, as the service keeps it
    assert score_pending(engine, scorer, now=NOW).scored == 2
    first = _rows(engine)
    sport, consular = first["at://did:plc:ec/p0"], first["at://did:plc:ec/p1"]
    assert (sport["language"], sport["topics"], sport["topic_basis"]) == ("en", {"sport": 0.8}, "rules")
    assert (consular["language"], consular["topics"]) == ("fr", {"consular_services": 0.65})
    assert {r["sentiment_label"] for r in first.values()} == {None}
    assert {r["scored_with"] for r in first.values()} == {scorer.fingerprint}
    assert scorer.fingerprint.startswith("dm2-language+rules:")
    assert unscored_count(engine, scorer) == 0
    shutil.copytree(
        tiny_models["sentiment"], tmp_path / "cache" / "org--sentiment"
    )  # as `models pull` lays it
    assert unscored_count(engine, scorer) == 2  # the fingerprint now names the sentiment model
    assert score_pending(engine, scorer, now=NOW + timedelta(hours=1)).scored == 2
    completed = _rows(engine)
    assert scorer.fingerprint.startswith("dm2-language+rules+sentiment:")
    assert {r["scored_with"] for r in completed.values()} == {scorer.fingerprint}
    assert all(r["sentiment_label"] in ("negative", "neutral", "positive") for r in completed.values())
    assert completed["at://did:plc:ec/p0"]["topics"] == {"sport": 0.8}
    assert unscored_count(engine, scorer) == 0


def test_a_post_in_a_language_without_rules_is_stored_as_such(engine: Engine, tmp_path: Path) -> None:
    _add_posts(engine, ["Olympic medals for our athletes", "Medalhas olímpicas para os nossos atletas"])
    settings = ModelSettings(
        sentiment="", embedding="", languages=("en", "pt"), topics_file=str(_english_only(tmp_path))
    )
    assert score_pending(engine, Scorer(settings), now=NOW).scored == 2
    rows = _rows(engine)
    assert (rows["at://did:plc:ec/p0"]["topics"], rows["at://did:plc:ec/p0"]["topic_basis"]) == (
        {"sport": 0.65},
        "rules",
    )
    assert (rows["at://did:plc:ec/p1"]["topics"], rows["at://did:plc:ec/p1"]["topic_basis"]) == (
        {},
        "no_rules",
    )


def _english_only(folder: Path) -> Path:
    path = folder / "topics.toml"
    path.write_text(
        '[[topic]]\nkey = "sport"\n[topic.description]\nen = "Sport"\n'
        '[topic.keywords]\nen = ["olympi*", "medal*"]\n',
        encoding="utf-8",
    )
    return path


def test_limit_and_stop(engine: Engine, rules_scorer: Scorer) -> None:
    _add_posts(engine, [f"post number {i}" for i in range(5)])
    assert score_pending(engine, rules_scorer, limit=2, now=NOW).scored == 2
    stop = threading.Event()
    stop.set()
    assert score_pending(engine, rules_scorer, now=NOW, stop=stop).scored == 0
    assert unscored_count(engine, rules_scorer) == 3


class _Held(Scorer):
    """A scorer whose first batch waits until `release` is set (the test holds its claim open)."""

    def __init__(self, settings: ModelSettings, release: threading.Event, claimed: threading.Event):
        super().__init__(settings)
        self.release, self.claimed = release, claimed

    def score(self, texts: Sequence[str], declared: Sequence[str | None] | None = None) -> list[Score]:
        self.claimed.set()
        if not self.release.wait(timeout=30):
            raise TimeoutError("the other worker never scored a batch")
        return super().score(texts, declared)


@pytest.mark.postgres
def test_two_workers_on_postgresql_score_each_post_exactly_once(pg_database: str, tmp_path: Path) -> None:
    engine = make_engine(pg_database)
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE accounts, posts, scores, post_topics RESTART IDENTITY CASCADE")
    _add_posts(engine, [f"Olympic post {i}" for i in range(60)])
    settings = ModelSettings(sentiment="", embedding="", cache_dir=str(tmp_path), posts_per_batch=10)
    release, claimed = threading.Event(), threading.Event()
    slow = _Held(settings, release, claimed)
    fast = Scorer(settings)
    reports = {}

    def run(name: str, scorer: Scorer, **kw: object) -> None:
        own = make_engine(pg_database)
        try:
            reports[name] = score_pending(own, scorer, now=NOW, **kw)  # type: ignore[arg-type]
        finally:
            own.dispose()

    first = threading.Thread(target=run, args=("slow", slow))
    first.start()
    assert claimed.wait(timeout=30)  # the slow worker holds its 10 rows locked
    run("fast", fast, progress=lambda n: release.set())  # skips them instead of waiting
    first.join(timeout=60)
    assert reports["slow"].scored + reports["fast"].scored == 60
    assert reports["slow"].scored >= 10 and reports["fast"].scored >= 10
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(scores)).scalar_one() == 60
        assert conn.execute(select(func.count()).where(posts.c.scored_with.is_(None))).scalar_one() == 0
    engine.dispose()
