from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from monitor.db import make_engine
from monitor.schema import service_jobs
from monitor.service.jobs import Job, JobRunner, period_start, report_counts
from monitor.service.locks import AdvisoryLocks, NoLocks
from monitor.service.scheduler import AlignedInterval
from tests.conftest import NOW


class Clock:
    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Report:
    inserted: int
    accounts: tuple[str, ...]
    note: str = "not a number"

    @property
    def total(self) -> int:
        return self.inserted * 10


def test_periods_are_aligned_on_the_clock() -> None:
    assert period_start(datetime(2026, 10, 15, 12, 14, 59, tzinfo=UTC), 900) == datetime(
        2026, 10, 15, 12, 0, tzinfo=UTC
    )
    assert period_start(datetime(2026, 10, 15, 12, 15, tzinfo=UTC), 900) == datetime(
        2026, 10, 15, 12, 15, tzinfo=UTC
    )
    assert period_start(datetime(2026, 10, 15, 5, 59, tzinfo=UTC), 6 * 3600) == datetime(
        2026, 10, 15, 0, 0, tzinfo=UTC
    )


@pytest.mark.parametrize("seconds", [0.3, 2, 900])
def test_aligned_interval_fires_now_then_on_each_boundary(seconds: float) -> None:
    trigger = AlignedInterval(seconds)
    now = datetime(2026, 10, 15, 12, 7, 31, 123456, tzinfo=UTC)
    first = trigger.get_next_fire_time(None, now)
    assert first == now
    fired = [first]
    for _ in range(5):
        fired.append(trigger.get_next_fire_time(fired[-1], now))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(fired[1:])]
    assert all(b > a for a, b in itertools.pairwise(fired))
    assert gaps == pytest.approx([seconds] * 4, abs=1e-5)
    assert all(period_start(t + timedelta(milliseconds=1), seconds) == t for t in fired[1:])


def test_report_counts_keeps_numbers_and_sizes() -> None:
    assert report_counts(Report(3, ("a", "b"))) == {"inserted": 3, "accounts": 2, "total": 30}
    assert report_counts({"sent": 1, "ok": True, "items": [1, 2, 3]}) == {"sent": 1, "ok": 1, "items": 3}
    assert report_counts(7) == {"count": 7}
    assert report_counts(None) == {}
    assert report_counts("text") == {}


def _runner(engine: Engine, clock: Clock, locks=None) -> JobRunner:
    return JobRunner(engine, locks or NoLocks(), threading.Event(), clock=clock)


def _row(engine: Engine, name: str):
    with engine.connect() as conn:
        return conn.execute(select(service_jobs).where(service_jobs.c.name == name)).one()


def test_exclusive_job_runs_once_per_period(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    clock, calls = Clock(), []
    job = Job("collect-bluesky", lambda now, stop: calls.append(now) or Report(2, ()), 900)
    runner = _runner(engine, clock)
    caplog.set_level(logging.INFO, "monitor.service.jobs")
    assert runner.run(job) == "ok"
    clock.now = NOW + timedelta(minutes=14)
    assert runner.run(job) == "done"
    clock.now = NOW + timedelta(minutes=15)
    assert runner.run(job) == "ok"
    assert calls == [NOW, NOW + timedelta(minutes=15)]
    row = _row(engine, "collect-bluesky")
    assert (row.period_start, row.status, row.last_success_at) == (
        NOW + timedelta(minutes=15),
        "ok",
        clock.now,
    )
    lines = [r for r in caplog.records if r.name == "monitor.service.jobs" and r.levelno == logging.INFO]
    assert [r.fields["outcome"] for r in lines] == ["ok", "ok"]  # type: ignore[attr-defined]
    assert lines[0].fields["counts"] == {"inserted": 2, "accounts": 0, "total": 20}  # type: ignore[attr-defined]
    assert "job collect-bluesky ok in" in lines[0].getMessage() and "inserted=2" in lines[0].getMessage()


def test_failing_job_is_logged_and_runs_again_next_period(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    clock, attempts = Clock(), []

    def flaky(now: datetime, stop: threading.Event) -> int:
        attempts.append(now)
        if len(attempts) == 1:
            raise RuntimeError("upstream said no")
        return 5

    job = Job("alerts", flaky, 300)
    runner = _runner(engine, clock)
    assert runner.run(job) == "failed"
    failure = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert "job alerts failed" in failure.getMessage() and "upstream said no" in failure.getMessage()
    assert failure.exc_info is not None  # unexpected errors keep their traceback
    assert failure.fields["period"] == NOW.isoformat()  # type: ignore[attr-defined]
    row = _row(engine, "alerts")
    assert (row.status, row.last_error, row.last_success_at) == ("failed", "upstream said no", None)
    assert runner.run(job) == "done"  # a failed period is not retried at once, by this or another process
    clock.now = NOW + timedelta(minutes=5)
    assert runner.run(job) == "ok"
    assert len(attempts) == 2 and _row(engine, "alerts").status == "ok"


def test_quiet_errors_are_one_line_without_traceback(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    class ModelMissing(Exception):
        pass

    def score(now: datetime, stop: threading.Event) -> None:
        raise ModelMissing("model folder models-cache/x not found: run `diplomonitor models pull`")

    job = Job("score", score, 120, exclusive=False, quiet_errors=(ModelMissing,))
    assert _runner(engine, Clock()).run(job) == "failed"
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info is None and "models pull" in record.getMessage()
    with engine.connect() as conn:  # a shared job claims no period
        assert conn.execute(select(service_jobs)).all() == []


def test_a_run_left_running_by_a_dead_process_is_run_again(engine: Engine) -> None:
    clock, calls = Clock(), []
    job = Job("deliver", lambda now, stop: calls.append(now), 30)
    with engine.begin() as conn:
        conn.execute(service_jobs.insert().values(name="deliver", period_start=NOW, status="running",
                                                  owner="gone:1", started_at=NOW))  # fmt: skip
    assert _runner(engine, clock).run(job) == "ok"
    assert calls == [NOW] and _row(engine, "deliver").status == "ok"


def test_stop_and_overlap(engine: Engine) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(now: datetime, stop: threading.Event) -> None:
        entered.set()
        release.wait(10)

    job = Job("profiles", slow, 60, exclusive=False)
    runner = _runner(engine, Clock())
    thread = threading.Thread(target=runner.run, args=[job])
    thread.start()
    assert entered.wait(10)
    assert runner.run(job) == "busy"  # never two runs of one job in one process
    assert runner.active() == ["profiles"]
    assert runner.wait_idle(0.05) == ["profiles"]
    release.set()
    assert runner.wait_idle(10) == []
    thread.join()
    runner.stop.set()
    assert runner.run(job) == "stopped"


@pytest.mark.postgres
def test_processes_sharing_postgresql_take_turns(pg_database: str) -> None:
    engine = make_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(service_jobs.delete())
    entered, release, calls = threading.Event(), threading.Event(), []

    def collect(now: datetime, stop: threading.Event) -> None:
        calls.append(now)
        entered.set()
        release.wait(10)

    job = Job("collect-mastodon", collect, 900)
    locks_a, locks_b = AdvisoryLocks(pg_database), AdvisoryLocks(pg_database)
    a, b = _runner(engine, Clock(), locks_a), _runner(engine, Clock(), locks_b)
    thread = threading.Thread(target=a.run, args=[job])
    thread.start()
    assert entered.wait(10)
    assert b.run(job) == "busy"  # the other process holds the job's lock
    release.set()
    thread.join()
    assert b.run(job) == "done"  # ...and then the period is already claimed
    assert len(calls) == 1
    locks_a.close()
    locks_b.close()
    engine.dispose()
