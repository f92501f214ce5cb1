from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from monitor.db import make_engine, reading, upgrade
from monitor.schema import accounts
from tests.conftest import NOW


def test_sqlite_reader_never_blocks_a_writer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    with reading(engine) as reader, reader.begin():
        assert reader.execute(select(accounts)).all() == []
        with engine.begin() as writer:  # would wait for the busy timeout if the reader held the lock
            writer.execute(
                accounts.insert().values(
                    platform="bluesky",
                    handle="a.bsky.social",
                    country="FR",
                    kind="embassy",
                    groups=[],
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
    with reading(engine) as reader:
        assert [r.handle for r in reader.execute(select(accounts))] == ["a.bsky.social"]
    engine.dispose()
