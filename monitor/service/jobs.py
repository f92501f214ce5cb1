"""Running one scheduled job: its lock, its period, its log line, its metrics.

Time is cut into periods of each job's interval, aligned on the clock from 1970-01-01 UTC
(a 15-minute job has periods starting at :00, :15, :30, :45). An *exclusive* job runs once
per period across every process sharing the database: the runner takes the job's lock
(monitor.service.locks), then claims the period in `service_jobs`; a process that finds the lock
taken, or the period already claimed, skips. A shared job (scoring) runs in every process,
whose batches never overlap because each batch is claimed in the database.

A job that raises is logged with its name, period and error, recorded as failed, and runs
again at its next period: nothing escapes into the scheduler.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import DBAPIError

from monitor.schema import service_jobs
from monitor.service.locks import JobLocks

log = logging.getLogger(__name__)
Outcome = Literal["ok", "failed", "busy", "done", "stopped"]
JobFunction = Callable[[datetime, threading.Event], Any]


@dataclass(frozen=True, slots=True)
class Job:
    """A scheduled job: `run(now, stop)` returns a report (a dataclass, a dict of counts or a number)."""

    name: str
    run: JobFunction
    seconds: float  # the period
    exclusive: bool = True  # once per period across processes; False: in every process
    quiet_errors: tuple[type[BaseException], ...] = ()  # logged as one line, without traceback


class JobObserver(Protocol):
    """Receives every run's outcome (the Prometheus metrics)."""

    def observe(self, job: str, outcome: Outcome, seconds: float, counts: Mapping[str, float]) -> None: ...


def period_start(now: datetime, seconds: float) -> datetime:
    """Start of the period of length `seconds` that holds `now`, aligned on the Unix epoch."""
    return datetime.fromtimestamp(math.floor(now.timestamp() / seconds) * seconds, UTC)


def report_counts(report: Any) -> dict[str, float]:
    """The numbers in a job's report (fields, properties, sizes of collections), for logs and metrics."""
    if report is None:
        return {}
    if isinstance(report, bool):
        return {"result": int(report)}
    if isinstance(report, int | float):
        return {"count": report}
    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        properties = [
            n for n, v in vars(type(report)).items() if isinstance(v, property) and not n.startswith("_")
        ]
        report = {n: getattr(report, n) for n in [*(f.name for f in dataclasses.fields(report)), *properties]}
    elif not isinstance(report, Mapping):
        return {}
    out: dict[str, float] = {}
    for key, value in report.items():
        if isinstance(value, bool | int | float):
            out[str(key)] = int(value) if isinstance(value, bool) else value
        elif isinstance(value, list | tuple | set | frozenset | dict):
            out[str(key)] = len(value)
    return out


class JobRunner:
    """Runs jobs for the scheduler; knows which are in flight, for a clean stop."""

    def __init__(
        self,
        engine: Engine,
        locks: JobLocks,
        stop: threading.Event,
        observer: JobObserver | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.engine, self.locks, self.stop, self.observer, self.clock = engine, locks, stop, observer, clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}"[:255]
        self._active: dict[str, float] = {}
        self._idle = threading.Condition()

    def run(self, job: Job) -> Outcome:
        """Run `job` once if it is this process's turn; never raises."""
        if self.stop.is_set():
            return "stopped"
        with self._idle:
            if job.name in self._active:  # a second trigger while the first is still going
                return "busy"
            self._active[job.name] = time.monotonic()
        try:
            return self._locked(job)
        finally:
            with self._idle:
                del self._active[job.name]
                self._idle.notify_all()

    def _locked(self, job: Job) -> Outcome:
        now = self.clock()
        period = period_start(now, job.seconds)
        started = time.monotonic()
        try:
            if not job.exclusive:
                return self._execute(job, now, period, started, claimed=False)
            with self.locks.hold(job.name) as held:
                if not held:
                    return self._skip(job, "busy", period, "running in another process")
                if not self._claim(job.name, period, now):
                    return self._skip(job, "done", period, "already ran in this period")
                return self._execute(job, now, period, started, claimed=True)
        except Exception as exc:  # the lock or the claim failed: the database is away
            return self._failed(job, period, started, exc, claimed=False)

    def _execute(self, job: Job, now: datetime, period: datetime, started: float, claimed: bool) -> Outcome:
        try:
            report = job.run(now, self.stop)
        except Exception as exc:
            return self._failed(job, period, started, exc, claimed, quiet=isinstance(exc, job.quiet_errors))
        seconds = time.monotonic() - started
        counts = report_counts(report)
        shown = " ".join(f"{k}={v}" for k, v in counts.items())
        fields = {"job": job.name, "outcome": "ok", "duration_s": round(seconds, 3),
                  "period": period.isoformat(), "counts": counts}  # fmt: skip
        log.info(
            "job %s ok in %.2fs%s", job.name, seconds, f": {shown}" if shown else "", extra={"fields": fields}
        )
        if claimed:
            self._finish(job.name, "ok", seconds, None)
        self._observe(job.name, "ok", seconds, counts)
        return "ok"

    def _failed(
        self, job: Job, period: datetime, started: float, exc: Exception, claimed: bool, quiet: bool = False
    ) -> Outcome:
        seconds = time.monotonic() - started
        quiet = quiet or isinstance(exc, DBAPIError)
        error = _describe(exc)
        fields = {"job": job.name, "outcome": "failed", "duration_s": round(seconds, 3),
                  "period": period.isoformat(), "error_type": type(exc).__name__}  # fmt: skip
        log.error(
            "job %s failed after %.2fs (runs again next period): %s", job.name, seconds, error,
            exc_info=None if quiet else exc, extra={"fields": fields},
        )  # fmt: skip
        if claimed:
            self._finish(job.name, "failed", seconds, error)
        self._observe(job.name, "failed", seconds, {})
        return "failed"

    def _skip(self, job: Job, outcome: Outcome, period: datetime, why: str) -> Outcome:
        fields = {"job": job.name, "outcome": outcome, "period": period.isoformat()}
        log.debug("job %s skipped: %s", job.name, why, extra={"fields": fields})
        self._observe(job.name, outcome, 0.0, {})
        return outcome

    def _claim(self, name: str, period: datetime, now: datetime) -> bool:
        """Mark `period` as taken by this process; False if it was already run."""
        t = service_jobs
        with self.engine.begin() as conn:
            row = conn.execute(select(t.c.period_start, t.c.status).where(t.c.name == name)).first()
            # "running" with the lock free means its process died mid-run: run it again.
            if row is not None and row.period_start >= period and row.status != "running":
                return False
            values = {"period_start": period, "status": "running", "owner": self.owner, "started_at": now,
                      "finished_at": None, "duration_seconds": None}  # fmt: skip
            if row is None:
                conn.execute(t.insert().values(name=name, **values))
            else:
                conn.execute(update(t).where(t.c.name == name).values(**values))
        return True

    def _finish(self, name: str, status: str, seconds: float, error: str | None) -> None:
        now = self.clock()
        values: dict[str, Any] = {"status": status, "finished_at": now, "duration_seconds": seconds}
        values.update({"last_success_at": now} if error is None else {"last_error": error[:2000]})
        try:
            with self.engine.begin() as conn:
                conn.execute(update(service_jobs).where(service_jobs.c.name == name).values(**values))
        except DBAPIError as exc:
            log.warning("job %s: could not record its end (%s)", name, _describe(exc))

    def _observe(self, name: str, outcome: Outcome, seconds: float, counts: Mapping[str, float]) -> None:
        if self.observer is not None:
            self.observer.observe(name, outcome, seconds, counts)

    def active(self) -> list[str]:
        """Names of the jobs running now."""
        with self._idle:
            return sorted(self._active)

    def running_for(self, name: str) -> float | None:
        """Seconds the job `name` has been running in this process, None when it is not."""
        with self._idle:
            started = self._active.get(name)
        return None if started is None else time.monotonic() - started

    def done_this_period(self, job: Job, now: datetime) -> Any:
        """The claim of an exclusive job that already ran in the period holding `now`, else None."""
        if not job.exclusive:
            return None
        t = service_jobs
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.c.period_start, t.c.status, t.c.owner, t.c.started_at).where(t.c.name == job.name)
            ).first()
        if row is None or row.period_start < period_start(now, job.seconds) or row.status == "running":
            return None
        return row

    def wait_idle(self, timeout: float) -> list[str]:
        """Wait until no job runs, at most `timeout` seconds; the names still running."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._active and (left := deadline - time.monotonic()) > 0:
                self._idle.wait(left)
            return sorted(self._active)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError):  # the driver's first line, without SQLAlchemy's SQL echo
        first = str(exc.orig or exc).strip().splitlines()
        return f"database error: {first[0] if first else type(exc).__name__}"
    return str(exc) or type(exc).__name__
