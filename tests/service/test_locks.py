from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.service.locks import AdvisoryLocks, AlreadyRunning, NoLocks, ProcessLock, lock_key, make_locks


def test_lock_keys_are_stable_and_distinct() -> None:
    assert lock_key("score") == lock_key("score")
    assert lock_key("collect-bluesky") != lock_key("collect-mastodon")
    assert -(2**63) <= lock_key("alerts") < 2**63
    assert lock_key("deliver") == 8877673865588864958  # the same in every process and release


def test_one_service_per_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "diplomonitor.db"
    first = make_locks(f"sqlite:///{db}")
    assert isinstance(first, ProcessLock)
    with first.hold("collect-bluesky") as held:
        assert held
    with pytest.raises(AlreadyRunning) as refused:
        ProcessLock(db)
    message = str(refused.value)
    assert f"pid {os.getpid()}" in message and str(db) in message and "PostgreSQL" in message
    first.close()
    second = ProcessLock(db)  # released: the next service may start
    second.close()
    assert isinstance(make_locks("sqlite:///:memory:"), NoLocks)


@pytest.mark.postgres
def test_advisory_locks_grant_a_job_to_one_holder(pg_database: str) -> None:
    a, b = AdvisoryLocks(pg_database), AdvisoryLocks(pg_database)
    with a.hold("alerts") as held_a:
        assert held_a
        with b.hold("alerts") as held_b, b.hold("deliver") as other:
            assert (held_b, other) == (False, True)
    with b.hold("alerts") as held_b:
        assert held_b  # released on leaving the block
    a.close()
    b.close()
