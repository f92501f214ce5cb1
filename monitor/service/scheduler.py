"""`diplomonitor run`: the one place that schedules.

`Service` runs the jobs that monitor.compose built on an APScheduler 3 background scheduler
(one run of a job at a time, missed runs coalesced), serves `/healthz` and `/metrics`, and
stops cleanly: on `request_stop()` (SIGTERM) every job sees the shared `stop` event, finishes
or rolls back the batch in hand, and `shutdown()` waits for them up to `[service].stop_seconds`.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import Engine

from monitor.config import ServiceSettings
from monitor.service.health import HealthServer, ServiceMetrics, StateCollector, database_answers
from monitor.service.jobs import Job, JobRunner
from monitor.service.locks import JobLocks

log = logging.getLogger(__name__)
OVERRUN_PERIODS = 3  # a job still running after this many of its periods is worth a warning


class AlignedInterval(BaseTrigger):
    """Fires at once, then at every multiple of `seconds` since the Unix epoch (UTC).

    Aligned periods make every process fire a job at the same instants, which is what lets
    them agree on "this period's run" (monitor.service.jobs).
    """

    __slots__ = ("seconds",)

    def __init__(self, seconds: float):
        self.seconds = seconds

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        if previous_fire_time is None:
            return now
        after = previous_fire_time.timestamp()
        nxt = (math.floor(after / self.seconds) + 1) * self.seconds
        if nxt - after < 1e-6:  # float rounding put `after` just below a boundary
            nxt += self.seconds
        return datetime.fromtimestamp(nxt, UTC)

    def __str__(self) -> str:
        return f"every {self.seconds:g}s, aligned"


class Service:
    """Scheduler, job runner, health endpoint and clean stop of one `diplomonitor run` process."""

    def __init__(
        self,
        settings: ServiceSettings,
        engine: Engine,
        jobs: Sequence[Job],
        *,
        locks: JobLocks,
        monitor_engine: Engine | None = None,
        backlog: Callable[[Engine], int] | None = None,
        host_stats: Callable[[], Any] | None = None,
        on_close: Sequence[Callable[[], Any]] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        health_address: str | None = None,
        stop: threading.Event | None = None,
    ):
        self.settings, self.engine, self.jobs, self.locks = settings, engine, list(jobs), locks
        self.monitor_engine = monitor_engine or engine
        self.on_close = list(on_close)
        self.stop = stop or threading.Event()
        self.metrics = ServiceMetrics()
        self.metrics.registry.register(StateCollector(self.monitor_engine, backlog, host_stats))
        self.runner = JobRunner(engine, locks, self.stop, self.metrics, clock)
        self.scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": ThreadPoolExecutor(settings.workers)}
        )
        self.scheduler.add_listener(
            self._scheduler_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
        )
        address = health_address or settings.health_address
        self.health = HealthServer(address, self.metrics.registry, self.problems)

    def start(self) -> None:
        """Start the health endpoint and the scheduler: each job runs at once unless it already ran in
        this period (the log says which), then on its period."""
        self.health.start()
        plan = self._plan()  # before the first runs claim this period
        for job in self.jobs:
            self.scheduler.add_job(
                self.runner.run, AlignedInterval(job.seconds), args=[job], id=job.name, name=job.name,
                max_instances=1, coalesce=True, misfire_grace_time=max(1, math.ceil(job.seconds)),
            )  # fmt: skip
        self.scheduler.start()
        periods = {j.name: j.seconds for j in self.jobs}
        log.info(
            "service started: %d job(s), health and metrics on %s", len(self.jobs), self.health.url,
            extra={"fields": {"jobs": periods, "health_url": self.health.url}},
        )  # fmt: skip
        for message, args in plan:
            log.info(message, *args, extra={"fields": {"job": args[0]}})

    def _plan(self) -> list[tuple[str, tuple[Any, ...]]]:
        """For each job, the line saying whether it runs now or when: a restart within a period
        runs nothing that already ran in it (in another process, or in this one before)."""
        now, lines = self.runner.clock(), []
        for job in self.jobs:
            every = _duration(job.seconds)
            try:
                done = self.runner.done_this_period(job, now)
            except Exception as exc:  # the database is away: the run itself will say so
                lines.append(("job %s: runs now (last run unknown: %s), then every %s",
                              (job.name, exc.__class__.__name__, every)))  # fmt: skip
                continue
            if done is None:
                lines.append(("job %s: runs now, then every %s", (job.name, every)))
                continue
            nxt = AlignedInterval(job.seconds).get_next_fire_time(now, now)
            lines.append((
                "job %s: already ran in this period (started %s UTC by %s); next run %s UTC, then every %s",
                (job.name, f"{done.started_at:%H:%M:%S}", done.owner, f"{nxt:%H:%M:%S}", every),
            ))  # fmt: skip
        return lines

    def problems(self) -> list[str]:
        """Why the service is unhealthy; empty when healthy."""
        found = []
        if not self.scheduler.running or self.stop.is_set():
            found.append("scheduler is not running")
        if not database_answers(self.monitor_engine):
            found.append("database does not answer")
        return found

    def request_stop(self) -> None:
        """Ask every job to stop after its batch in hand (the SIGTERM handler calls this)."""
        self.stop.set()

    def wait(self) -> None:
        """Block until `request_stop()`."""
        while not self.stop.wait(0.5):
            pass

    def shutdown(self) -> list[str]:
        """Stop scheduling, wait for running jobs up to stop_seconds; the jobs still running."""
        self.stop.set()
        running = self.runner.active()
        if running:
            log.info("stopping: waiting for %s", ", ".join(running))
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        left = self.runner.wait_idle(self.settings.stop_seconds)
        self.health.close()
        if left:
            log.warning("stopping: %s did not finish in time; the database rolls back its open batch",
                        ", ".join(left))  # fmt: skip
            return left
        for close in self.on_close:
            close()
        self.locks.close()
        self.engine.dispose()
        if self.monitor_engine is not self.engine:
            self.monitor_engine.dispose()
        log.info("service stopped")
        return []

    def _scheduler_event(self, event: JobEvent) -> None:
        # Overlap is normal (models loading, a first collection): INFO; a WARNING only when a job
        # has overrun OVERRUN_PERIODS periods.
        period = next((j.seconds for j in self.jobs if j.name == event.job_id), 0.0)
        if event.code == EVENT_JOB_MAX_INSTANCES:
            running = self.runner.running_for(event.job_id) or 0.0
            level = logging.WARNING if running > OVERRUN_PERIODS * period else logging.INFO
            log.log(level, "job %s still running after %s: its next run waits for the next period",
                    event.job_id, _duration(running))  # fmt: skip
        elif event.code == EVENT_JOB_MISSED:
            late = (datetime.now(UTC) - event.scheduled_run_time).total_seconds()
            level = logging.WARNING if late > OVERRUN_PERIODS * period else logging.INFO
            log.log(level, "job %s missed its run by %s", event.job_id, _duration(late))
        else:
            log.error("job %s escaped its runner: %s", event.job_id, event.exception)


def _duration(seconds: float) -> str:
    """`45 s`, `15 min`, `6 h`: a period or a delay as people read it."""
    if seconds < 120:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h".replace(".0 h", " h")
