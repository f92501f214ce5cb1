from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from monitor.db import make_engine, revisions, upgrade
from monitor.schema import metadata


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
