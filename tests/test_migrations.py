from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, make_url, select, text

from alembic import command
from models.scorer import Scorer
from models.settings import ModelSettings
from monitor.db import alembic_config, make_engine, revisions, upgrade
from monitor.schema import accounts, metadata, post_topics, posts, scores
from monitor.scoring import score_pending, unscored_count
from tests.conftest import NOW, PG_URL


def test_migrations_match_schema_and_upgrade_is_repeatable(db_url: str, engine: Engine) -> None:
    upgrade(db_url)  # on an already-upgraded database: a no-op, not an error
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []
    current, head = revisions(engine)
    assert current == head
    assert set(inspect(engine).get_table_names()) >= {t.name for t in metadata.sorted_tables}


def test_upgrade_from_empty(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    engine = make_engine(url)
    assert revisions(engine)[0] is None
    upgrade(url)
    upgrade(url)
    assert revisions(engine)[0] == revisions(engine)[1]
    engine.dispose()


# --- 0004: the topic taxonomy v2 (issue 12) ------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def before_topics_v2(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A new, empty database migrated to the revision before 0004 (topic taxonomy v2)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        upgrade(url, "0003")
        yield url
        return
    admin_url = make_url(PG_URL)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # no server: skip, loudly
        pytest.skip(f"PostgreSQL not reachable at {admin_url.render_as_string()}: {exc.__class__.__name__}")
    name = f"dm_mig_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url, "0003")
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


OLD_TOPICS = {  # post uri -> topics stored under the 13-topic taxonomy
    "at://x/1": {"science_technology": 0.65, "culture": 0.5},
    "at://x/2": {"bilateral_multilateral": 0.8},
    "at://x/3": {"sport": 0.5},
    "at://x/4": {"bilateral_multilateral": 0.5, "bilateral": 0.9},  # both (a custom taxonomy)
}


def _old_rows(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        account = {"id": 1, "platform": "bluesky", "handle": "a.example", "country": "FR", "kind": "embassy"}
        conn.execute(accounts.insert().values(**account, groups=[]))
        score = "INSERT INTO scores (post_id, scored_with, scored_at, topics) VALUES (:p, 'dm1:old', :t, :j)"
        for i, (uri, topics) in enumerate(OLD_TOPICS.items(), start=1):
            post = {"id": i, "account_id": 1, "platform": "bluesky", "uri": uri, "author_handle": "a.example",
                    "text": f"Olympic medals {i}", "created_at": NOW, "scored_with": "dm1:old"}  # fmt: skip
            conn.execute(posts.insert().values(**post))
            conn.execute(text(score), {"p": i, "t": NOW, "j": json.dumps(topics)})
            rows = [{"post_id": i, "topic": k, "score": v} for k, v in topics.items()]
            conn.execute(post_topics.insert(), rows)
    engine.dispose()


def test_0004_renames_stored_topics_and_every_post_is_scored_again(before_topics_v2: str) -> None:
    _old_rows(before_topics_v2)
    upgrade(before_topics_v2)
    engine = make_engine(before_topics_v2)
    with engine.connect() as conn:
        stored = {r.post_id: r.topics for r in conn.execute(select(scores.c.post_id, scores.c.topics))}
        rows = sorted((r.post_id, r.topic, r.score) for r in conn.execute(select(post_topics)))
        basis = {r[0] for r in conn.execute(select(scores.c.topic_basis))}
    assert stored == {
        1: {"science_research": 0.65, "culture": 0.5},
        2: {"bilateral": 0.8},
        3: {"sport": 0.5},
        4: {"bilateral": 0.9},
    }
    assert rows == [(1, "culture", 0.5), (1, "science_research", 0.65), (2, "bilateral", 0.8),
                    (3, "sport", 0.5), (4, "bilateral", 0.9)]  # fmt: skip
    assert basis == {None}
    scorer = Scorer(ModelSettings(sentiment="", embedding=""))
    assert unscored_count(engine, scorer) == 4  # the fingerprint changed with the taxonomy
    assert score_pending(engine, scorer, now=NOW).scored == 4
    with engine.connect() as conn:
        after = {r.post_id: (r.topics, r.topic_basis) for r in conn.execute(select(scores))}
    assert after == {i: ({"sport": 0.65}, "rules") for i in range(1, 5)}  # "olympic", "medal*"
    engine.dispose()


def test_0004_downgrade_restores_the_old_ids(before_topics_v2: str) -> None:
    _old_rows(before_topics_v2)
    upgrade(before_topics_v2)
    command.downgrade(alembic_config(before_topics_v2), "0003")
    engine = make_engine(before_topics_v2)
    with engine.connect() as conn:
        stored = {r.post_id: r.topics for r in conn.execute(select(scores.c.post_id, scores.c.topics))}
        columns = {c["name"] for c in inspect(conn).get_columns("scores")}
    assert stored == {
        1: {"science_technology": 0.65, "culture": 0.5},
        2: {"bilateral_multilateral": 0.8},
        3: {"sport": 0.5},
        4: {"bilateral_multilateral": 0.9},
    }
    assert "topic_basis" not in columns
    engine.dispose()
