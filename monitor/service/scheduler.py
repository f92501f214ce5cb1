"""`diplomonitor run`: the one place that schedules, and `build_service`, the one that composes.

`build_service(settings)` builds the real collectors, scorer and channels and hands each job
what it needs; `Service` runs them on an APScheduler 3 background scheduler (one run of a job
at a time, missed runs coalesced), serves `/healthz` and `/metrics`, and stops cleanly: on
`request_stop()` (SIGTERM) every job sees the shared `stop` event, finishes or rolls back the
batch in hand, and `shutdown()` waits for them up to `[service].stop_seconds`.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from collectors.records import PLATFORMS
from monitor.collection.store import sync_accounts
from monitor.config import Settings
from monitor.db import make_engine, require_current
from monitor.service.health import HealthServer, ServiceMetrics, StateCollector, database_answers
from monitor.service.jobs import Job, JobRunner
from monitor.service.locks import JobLocks, make_locks

log = logging.getLogger(__name__)


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
        settings: Settings,
        engine: Engine,
        jobs: Sequence[Job],
        *,
        locks: JobLocks,
        monitor_engine: Engine | None = None,
        backlog: Callable[[Engine], int] | None = None,
        host_stats: Callable[[], Any] | None = None,
        on_close: Sequence[Callable[[], Any]] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.settings, self.engine, self.jobs, self.locks = settings, engine, list(jobs), locks
        self.monitor_engine = monitor_engine or engine
        self.on_close = list(on_close)
        self.stop = threading.Event()
        self.metrics = ServiceMetrics()
        self.metrics.registry.register(StateCollector(self.monitor_engine, backlog, host_stats))
        self.runner = JobRunner(engine, locks, self.stop, self.metrics, clock)
        self.scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": ThreadPoolExecutor(settings.service.workers)}
        )
        self.scheduler.add_listener(
            self._scheduler_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
        )
        self.health = HealthServer(settings.service.health_address, self.metrics.registry, self.problems)

    def start(self) -> None:
        """Start the health endpoint and the scheduler; each job runs once at once, then on its period."""
        self.health.start()
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
        left = self.runner.wait_idle(self.settings.service.stop_seconds)
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

    @staticmethod
    def _scheduler_event(event: JobEvent) -> None:
        if event.code == EVENT_JOB_MAX_INSTANCES:
            log.warning("job %s is still running: its next run waits for the next period", event.job_id)
        elif event.code == EVENT_JOB_MISSED:
            late = datetime.now(UTC) - event.scheduled_run_time
            log.warning(
                "job %s missed its run by %s", event.job_id, late - timedelta(microseconds=late.microseconds)
            )
        else:
            log.error("job %s escaped its runner: %s", event.job_id, event.exception)


def job_names(settings: Settings) -> list[str]:
    """Every job the configuration calls for, in the order they are scheduled."""
    platforms = [p for p in PLATFORMS if any(a.platform == p for a in settings.accounts)]
    names = [f"collect-{p}" for p in platforms]
    if platforms:
        names += ["engagement", "profiles", "resolve"]
    names += ["score", "alerts", "deliver"]
    if settings.alerts.digests:
        names.append("digests")
    return names


def wanted_jobs(settings: Settings, only: Sequence[str] = ()) -> list[str]:
    """The jobs to run here: all, or those named by `--only` ("collect" means every platform)."""
    names = job_names(settings)
    if not only:
        return names
    known = {*names, *(n.partition("-")[0] for n in names)}
    unknown = sorted(set(only) - known)
    if unknown:
        raise ValueError(f"no job {', '.join(unknown)} in this configuration (jobs: {', '.join(names)})")
    return [n for n in names if n in only or n.partition("-")[0] in only]


def build_service(settings: Settings, *, only: Sequence[str] = ()) -> Service:
    """The real service: checks the schema, takes the database's service lock, composes the jobs.

    Raises SchemaOutOfDate (run `db upgrade`), AlreadyRunning (a second service on one SQLite
    file), ValueError (an unknown `--only` job) or OSError (the health address is taken).
    """
    names = wanted_jobs(settings, only)
    engine = make_engine(
        settings.database_url, pool_size=settings.database.pool_size, echo=settings.database.echo
    )
    require_current(engine)
    locks = make_locks(settings.database_url)
    try:
        parts = _Parts(settings, engine, names)
        sync_accounts_at_start(engine, settings, locks, names)
        monitor_engine = make_monitor_engine(settings.database_url)
        return Service(
            settings, engine, parts.jobs(), locks=locks, monitor_engine=monitor_engine,
            backlog=parts.backlog, host_stats=parts.host_stats,
        )  # fmt: skip
    except BaseException:
        locks.close()
        engine.dispose()
        raise


def make_monitor_engine(url: str) -> Engine:
    """A two-connection engine for /healthz and /metrics that gives up after a few seconds."""
    if make_url(url).get_backend_name() == "postgresql":
        return create_engine(url, pool_size=1, max_overflow=1, pool_timeout=3, pool_pre_ping=True,
                             connect_args={"connect_timeout": 3})  # fmt: skip
    return create_engine(url, connect_args={"timeout": 3})


def sync_accounts_at_start(engine: Engine, settings: Settings, locks: JobLocks, names: Sequence[str]) -> None:
    """Bring the accounts table in step with the config before the first collection."""
    if not any(n.startswith("collect-") or n in ("engagement", "profiles", "resolve") for n in names):
        return
    with locks.hold("accounts-sync") as held:
        if not held:
            return  # another process is syncing the same config
        with engine.begin() as conn:
            report = sync_accounts(conn, settings.accounts, datetime.now(UTC))
    changes = {k: len(v) for k, v in asdict(report).items() if v}
    if changes:
        log.info("accounts synced with the config: %s", changes, extra={"fields": {"accounts": changes}})


class _Parts:
    """The real collectors, scorer and channels, built only for the jobs this process runs."""

    def __init__(self, settings: Settings, engine: Engine, names: Sequence[str]):
        import monitor.scoring as scoring

        self.settings, self.engine, self.names = settings, engine, list(names)
        self.seconds = settings.schedule.seconds()
        self.scorer = scoring.build_scorer(settings)  # cheap: models load on the first batch
        self.backlog: Callable[[Engine], int] = lambda eng: scoring.unscored_count(eng, self.scorer)
        self.host_stats: Callable[[], Any] | None = None
        self.collectors: dict[str, Any] = {}
        self.channels: dict[str, Any] = {}
        if any(n.startswith("collect-") or n in ("engagement", "profiles", "resolve") for n in names):
            import monitor.collection.rounds as pipeline
            from collectors.http import host_stats

            self.collectors = pipeline.build_collectors(settings)
            self.host_stats = host_stats
        if any(n in ("deliver", "digests") for n in names):
            import monitor.alerting.evaluate as alerting

            self.channels = alerting.build_channels(settings)

    def jobs(self) -> list[Job]:
        return [self._job(n) for n in self.names]

    def _job(self, name: str) -> Job:
        kind, _, platform = name.partition("-")
        return Job(name, self._function(kind, platform), self.seconds[kind], exclusive=kind != "score",
                   quiet_errors=self._quiet(kind))  # fmt: skip

    def _function(self, kind: str, platform: str) -> Callable[[datetime, threading.Event], Any]:
        import monitor.alerting.evaluate as alerting
        import monitor.collection.rounds as pipeline
        import monitor.scoring as scoring

        e, s, c, ch = self.engine, self.settings, self.collectors, self.channels
        functions: dict[str, Callable[[datetime, threading.Event], Any]] = {
            "collect": lambda now, stop: pipeline.collect_round(
                e, s, c, platform=platform, now=now, stop=stop
            ),
            "engagement": lambda now, stop: pipeline.refresh_engagement(e, s, c, now=now, stop=stop),
            "profiles": lambda now, stop: pipeline.refresh_profiles(e, s, c, now=now, stop=stop),
            "resolve": lambda now, stop: pipeline.resolve_accounts(e, s, c, now=now),
            "score": lambda now, stop: scoring.score_pending(e, self.scorer, now=now, stop=stop),
            "alerts": lambda now, stop: alerting.evaluate_rules(e, s, now=now),
            "deliver": lambda now, stop: alerting.deliver_pending(e, s, ch, now=now, stop=stop),
            "digests": lambda now, stop: alerting.send_digests(e, s, ch, now=now),
        }
        return functions[kind]

    @staticmethod
    def _quiet(kind: str) -> tuple[type[BaseException], ...]:
        if kind != "score":
            return ()
        from models import ModelUnavailable  # its message says what to do: no traceback needed

        return (ModelUnavailable,)
