from __future__ import annotations

import shutil
import threading
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from collectors.records import Post, Reception
from models.scorer import Score, Scorer
from models.settings import ModelSettings
from monitor.accounts import sync_accounts
from monitor.collection.reception import Authors, Watched, save_answers
from monitor.collection.store import save_posts
from monitor.config import Account, ReceptionSettings
from monitor.db import make_engine
from monitor.schema import post_topics, posts, reception_posts, reception_scores, reception_state, scores
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


# --- the audience's answers: scored by the same models, after the posts -----------------------

ROOT = "at://did:plc:ec/p0"
ANSWERS = {  # uri -> (relation, text)
    "r1": ("reply", "Merci pour ces informations sur les visas !"),
    "r2": ("reply", "Merci pour ces informations sur les visas !"),  # the same words from another person
    "r3": ("reply", "¿Cuándo abren las becas para estudiantes?"),
    "q1": ("quote", "Great news for our universities and students"),
}


def _add_answers(engine: Engine, answers: dict[str, tuple[str, str]], *, replies: int = 3) -> None:
    """The watched post p0 and its answers, stored as the reception job stores them."""
    made = {
        u: Post(platform="bluesky", uri=f"at://did:plc:{u}/{u}", author_id=f"did:plc:{u}",
                author_handle=f"{u}.bsky.social", text=text, created_at=NOW + timedelta(minutes=5),
                reply_parent_uri=ROOT if relation == "reply" else None,
                quote_of_uri=ROOT if relation == "quote" else None)
        for u, (relation, text) in answers.items()
    }  # fmt: skip
    found = Reception(
        replies=tuple(p for u, p in made.items() if answers[u][0] == "reply"),
        quotes=tuple(p for u, p in made.items() if answers[u][0] == "quote"),
        replies_read=True,
        quotes_read=True,
    )
    with engine.begin() as conn:
        post_id = conn.execute(select(posts.c.id).where(posts.c.uri == ROOT)).scalar_one()
        watched = Watched(post_id, ROOT, None, NOW, replies, 1, None, None, None, checked=False)
        save_answers(
            conn, watched, found, Authors(ReceptionSettings(), {"DIPLOMONITOR_PSEUDONYM_KEY": "k"}), NOW
        )


def _answer_scores(engine: Engine) -> dict[str, dict]:
    r, s = reception_posts, reception_scores
    query = select(r.c.uri, r.c.scored_with, s).join(s, s.c.reception_id == r.c.id)
    with engine.connect() as conn:
        return {row.uri.rsplit("/", 1)[1]: dict(row._mapping) for row in conn.execute(query)}


def test_answers_are_scored_after_the_posts_and_the_reply_figures_follow(
    engine: Engine, torch_scorer: Scorer
) -> None:
    _add_posts(engine, ["Visa rules change on Monday", "Scholarships for students"])
    _add_answers(engine, ANSWERS)
    assert unscored_count(engine, torch_scorer) == 6  # 2 posts and 4 answers

    first = score_pending(engine, torch_scorer, limit=3, now=NOW)  # posts first, then answers
    assert (first.scored, first.answers) == (2, 1)
    report = score_pending(engine, torch_scorer, now=NOW)
    assert (report.scored, report.answers) == (0, 3)
    assert unscored_count(engine, torch_scorer) == 0

    got = _answer_scores(engine)
    fingerprint = torch_scorer.versions().fingerprint
    assert sorted(got) == ["q1", "r1", "r2", "r3"]
    assert {row["scored_with"] for row in got.values()} == {fingerprint}
    assert {u: row["language"] for u, row in got.items()} == {"q1": "en", "r1": "fr", "r2": "fr", "r3": "es"}
    assert got["r1"]["sentiment_label"] in {"negative", "neutral", "positive"}
    # The same text gives the same score, and the same score as the same text posted by a watched account.
    keys = ("language", "sentiment_label", "sentiment_score", "topics", "topic_basis")
    assert {k: got["r1"][k] for k in keys} == {k: got["r2"][k] for k in keys}
    assert "education" in got["r3"]["topics"] and "education" in got["q1"]["topics"]

    # The watched post's reply figures: its three replies (quotes are not replies).
    replies = [got[u] for u in ("r1", "r2", "r3")]
    with engine.connect() as conn:
        state = conn.execute(select(reception_state)).one()
    assert state.replies_scored == 3
    assert state.reply_tone == pytest.approx(sum(r["sentiment_score"] for r in replies) / 3)
    negative = sum(r["sentiment_label"] == "negative" for r in replies) / 3
    assert state.reply_negative_share == pytest.approx(negative)
    assert state.reply_languages == {"fr": 2, "es": 1}


def test_answers_without_text_or_gone_are_not_scored_and_edited_ones_are_again(
    engine: Engine, rules_scorer: Scorer
) -> None:
    _add_posts(engine, ["Visa rules change on Monday"])
    _add_answers(engine, ANSWERS)
    with engine.begin() as conn:  # retention removed one text; another answer left its thread
        r = reception_posts.c
        conn.execute(reception_posts.update().where(r.uri.like("%/r2")).values(text=None, purged_at=NOW))
        conn.execute(reception_posts.update().where(r.uri.like("%/q1")).values(deleted_at=NOW))
    report = score_pending(engine, rules_scorer, now=NOW)
    assert (report.scored, report.answers) == (1, 2)
    assert sorted(_answer_scores(engine)) == ["r1", "r3"]
    assert unscored_count(engine, rules_scorer) == 0

    edited = {**ANSWERS, "r3": ("reply", "Gracias por la cooperación cultural y el festival de cine")}
    _add_answers(engine, {u: edited[u] for u in ("r1", "r3")})  # the reception job reads the thread again
    assert unscored_count(engine, rules_scorer) == 1
    assert score_pending(engine, rules_scorer, now=NOW + timedelta(hours=1)).answers == 1
    assert "culture" in _answer_scores(engine)["r3"]["topics"]
    assert score_pending(engine, rules_scorer, rescore=True, now=NOW).answers == 2  # only the live ones
