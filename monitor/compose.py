"""The composition root: the only place that builds the real collectors, classifier and channels
from `Settings`, and the one table of the jobs the service schedules.

Everything below this module receives what it needs as arguments: a stage function gets an
engine, the settings section it reads and the parts built here, so the CLI, the service and
the tests call the same functions with real or local parts. Stage modules are imported inside
the builders, so `diplomonitor --help` never loads SQLAlchemy, torch or httpx.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from collectors.records import PLATFORMS
from monitor.config import ScheduleSettings, Settings
from monitor.errors import UnknownJob

if TYPE_CHECKING:
    import httpx
    from sqlalchemy import Engine

    from alerts.channels import Channel
    from collectors.http import Clock
    from collectors.protocol import Collector
    from models.protocol import Classifier
    from models.scorer import Scorer
    from monitor.service.jobs import Job, JobFunction
    from monitor.service.locks import JobLocks
    from monitor.service.scheduler import Service

log = logging.getLogger(__name__)


def build_collectors(
    settings: Settings, *, clock: Clock | None = None, stop: threading.Event | None = None
) -> dict[str, Collector]:
    """The Bluesky and Mastodon collectors, sharing one set of per-host gates; no network I/O.

    Setting `stop` cuts short any wait for a host's budget (the service is stopping).
    """
    from collectors.bluesky import BlueskyCollector
    from collectors.http import HostRegistry
    from collectors.mastodon import MastodonCollector

    registry = HostRegistry(settings.collect, clock, stop)
    b = settings.bluesky
    session = settings.resolve_path(b.session_file) if b.session_file else None
    prefix = settings.mastodon.token_env_prefix
    tokens = {k: v for k, v in settings.secrets.items() if k.startswith(prefix)}
    return {
        "bluesky": BlueskyCollector(
            b, settings.collect, registry, password=settings.secrets.get(b.password_env), session_path=session
        ),
        "mastodon": MastodonCollector(settings.mastodon, settings.collect, registry, tokens),
    }


def build_channels(settings: Settings, *, http: httpx.Client | None = None) -> dict[str, Channel]:
    """The configured channels, sharing one HTTP client (pass one to inject a transport)."""
    import httpx

    from alerts.channels import open_channels

    client = http or httpx.Client(follow_redirects=False, headers={"User-Agent": "diplomonitor"})
    return open_channels(settings.alerts.channels, settings.secrets, client)


def build_scorer(settings: Settings) -> Scorer:
    """The scorer of the configured models; cheap, models load on the first batch."""
    from models.scorer import Scorer

    return Scorer(settings.models, base_dir=settings.base_dir)


# ----------------------------------------------------------------------------------------------
# The jobs: one row each. `period` names the [schedule] field; `uses` the part it needs built.


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A kind of scheduled job and how to build its function from the composed parts."""

    kind: str
    period: str  # the ScheduleSettings field holding its period (minutes, or seconds if so named)
    uses: Literal["collectors", "scorer", "channels", "database"]
    build: Callable[[Parts, str], JobFunction]  # (parts, platform) -> run(now, stop)
    exclusive: bool = True  # once per period across processes; False: every process runs it
    per_platform: bool = False  # one job per configured platform: collect-bluesky, collect-mastodon
    needs_accounts: bool = False  # only when accounts are configured
    enabled: Callable[[Settings], bool] = lambda s: True  # whether the configuration calls for it

    def seconds(self, schedule: ScheduleSettings) -> float:
        value = float(getattr(schedule, self.period))
        return value if self.period.endswith("_seconds") else value * 60


def _collect(p: Parts, platform: str) -> JobFunction:
    from monitor.collection import rounds

    s = p.settings.collect
    return lambda now, stop: rounds.collect_round(
        p.engine, s, p.collectors, platform=platform, now=now, stop=stop
    )


def _engagement(p: Parts, _: str) -> JobFunction:
    from monitor.collection import rounds

    s = p.settings.collect
    return lambda now, stop: rounds.refresh_engagement(p.engine, s, p.collectors, now=now, stop=stop)


def _profiles(p: Parts, _: str) -> JobFunction:
    from monitor.collection import rounds

    s = p.settings.collect
    return lambda now, stop: rounds.refresh_profiles(p.engine, s, p.collectors, now=now, stop=stop)


def _resolve(p: Parts, _: str) -> JobFunction:
    from monitor.collection import rounds

    s = p.settings.collect
    return lambda now, stop: rounds.resolve_accounts(p.engine, s, p.collectors, now=now)


def _score(p: Parts, _: str) -> JobFunction:
    from monitor import scoring

    return lambda now, stop: scoring.score_pending(p.engine, p.scorer, now=now, stop=stop)


def _alerts(p: Parts, _: str) -> JobFunction:
    from monitor.alerting.evaluate import evaluate_rules

    s = p.settings
    return lambda now, stop: evaluate_rules(p.engine, s.alerts, now=now, accounts=s.accounts)


def _deliver(p: Parts, _: str) -> JobFunction:
    from monitor.alerting.outbox import deliver_pending

    return lambda now, stop: deliver_pending(p.engine, p.settings.alerts, p.channels, stop=stop)


def _reception(p: Parts, _: str) -> JobFunction:
    from monitor.collection.reception import Authors, collect_reception, purge_reception

    s = p.settings

    def run(now: datetime, stop: threading.Event) -> Any:
        authors = Authors(s.reception, s.secrets)  # ReceptionUnavailable: one line, the others go on
        report = collect_reception(
            p.engine, s.reception, p.collectors, authors, workers=s.collect.concurrency, now=now, stop=stop
        )
        purge_reception(p.engine, s.reception, now)
        return report

    return run


def _digests(p: Parts, _: str) -> JobFunction:
    from monitor.alerting.digests import enqueue_digests

    s = p.settings
    return lambda now, stop: enqueue_digests(p.engine, s.alerts, now=now, accounts=s.accounts)


# fmt: off
JOBS: tuple[JobSpec, ...] = (
    JobSpec("collect", "collect_minutes", "collectors", _collect, per_platform=True, needs_accounts=True),
    JobSpec("engagement", "engagement_minutes", "collectors", _engagement, needs_accounts=True),
    JobSpec("profiles", "profiles_minutes", "collectors", _profiles, needs_accounts=True),
    JobSpec("resolve", "resolve_minutes", "collectors", _resolve, needs_accounts=True),
    JobSpec("reception", "reception_minutes", "collectors", _reception, needs_accounts=True,
            enabled=lambda s: s.reception.enabled),
    JobSpec("score", "score_minutes", "scorer", _score, exclusive=False),
    JobSpec("alerts", "alerts_minutes", "database", _alerts),
    JobSpec("deliver", "deliver_seconds", "channels", _deliver),
    JobSpec("digests", "digests_minutes", "database", _digests, enabled=lambda s: bool(s.alerts.digests)),
)
# fmt: on
SPECS = {j.kind: j for j in JOBS}
# Every name `run --only` accepts: a kind, or one platform's collection.
JOB_NAMES = tuple(
    n
    for j in JOBS
    for n in ((j.kind, *(f"{j.kind}-{p}" for p in PLATFORMS)) if j.per_platform else (j.kind,))
)


def spec_of(name: str) -> JobSpec:
    """The spec of a job name (`collect-bluesky` -> collect)."""
    return SPECS[name.partition("-")[0]]


def job_names(settings: Settings) -> list[str]:
    """Every job the configuration calls for, in the order they are scheduled."""
    platforms = [p for p in PLATFORMS if any(a.platform == p for a in settings.accounts)]
    names: list[str] = []
    for j in JOBS:
        if (j.needs_accounts and not platforms) or not j.enabled(settings):
            continue
        names += [f"{j.kind}-{p}" for p in platforms] if j.per_platform else [j.kind]
    return names


def wanted_jobs(settings: Settings, only: Sequence[str] = ()) -> list[str]:
    """The jobs to run here: all, or those named by `only` ("collect" means every platform)."""
    names = job_names(settings)
    if not only:
        return names
    known = {*names, *(n.partition("-")[0] for n in names)}
    unknown = sorted(set(only) - known)
    if unknown:
        raise UnknownJob(f"no job {', '.join(unknown)} in this configuration (jobs: {', '.join(names)})")
    return [n for n in names if n in only or n.partition("-")[0] in only]


class Parts:
    """The real collectors, scorer and channels, built only for the jobs this process runs."""

    def __init__(self, settings: Settings, engine: Engine, names: Sequence[str], stop: threading.Event):
        from monitor import scoring

        self.settings, self.engine, self.names, self.stop = settings, engine, list(names), stop
        uses = {spec_of(n).uses for n in names}
        self.scorer: Classifier = build_scorer(settings)  # cheap: models load on the first batch
        self.backlog: Callable[[Engine], int] = lambda eng: scoring.unscored_count(eng, self.scorer)
        self.host_stats: Callable[[], Any] | None = None
        self.collectors: dict[str, Collector] = {}
        self.channels: dict[str, Channel] = {}
        if "collectors" in uses:
            from collectors.http import host_stats

            self.collectors = build_collectors(settings, stop=stop)
            self.host_stats = host_stats
        if "channels" in uses:
            self.channels = build_channels(settings)

    def jobs(self) -> list[Job]:
        from models import ModelUnavailable
        from monitor.errors import MonitorError
        from monitor.service.jobs import Job

        out = []
        for name in self.names:
            spec, platform = spec_of(name), name.partition("-")[2]
            # A missing model's or key's message says what to do: one line, no traceback.
            quiet = (ModelUnavailable, MonitorError)
            seconds = spec.seconds(self.settings.schedule)
            out.append(Job(name, spec.build(self, platform), seconds, spec.exclusive, quiet))
        return out

    def close(self) -> None:
        for collector in self.collectors.values():
            collector.close()


# ----------------------------------------------------------------------------------------------
# The dashboard: the reporting stage's pages, the alerting stage's mute and acknowledge, the gate.

SERVE_ADDRESS = "127.0.0.1:9465"  # `diplomonitor serve` without [dashboard] address or --address


class AlertActions:
    """monitor.alerting.mutes for the dashboard (reporting.dashboard.alerts.AlertActions)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]):
        self.engine, self.clock = engine, clock

    def mute(self, rule: str, scope: str, hours: float, by: str, reason: str | None) -> datetime:
        from datetime import timedelta

        from monitor.alerting.mutes import Mute, mute

        now = self.clock()
        until = now + timedelta(hours=hours)
        with self.engine.begin() as conn:
            mute(conn, Mute(rule, scope, until, by, reason), now)
        return until

    def unmute(self, rule: str, scope: str) -> bool:
        from monitor.alerting.mutes import unmute

        with self.engine.begin() as conn:
            return unmute(conn, rule, scope)

    def acknowledge(self, event_id: int, by: str) -> bool:
        from monitor.alerting.mutes import acknowledge

        with self.engine.begin() as conn:
            return acknowledge(conn, event_id, by, self.clock())

    def active(self, conn: Any, now: datetime) -> list[dict[str, Any]]:
        from dataclasses import asdict

        from monitor.alerting.mutes import active_mutes

        return [asdict(m) for m in active_mutes(conn, now)]


def dashboard_access(settings: Settings) -> Any:
    """Who may use the dashboard: the tokens in the environment and the proxy header (service.web)."""
    from monitor.config import DASHBOARD_ADMIN_TOKEN_ENV, DASHBOARD_TOKEN_ENV
    from monitor.service.web import Access

    d = settings.dashboard
    return Access(settings.secrets.get(DASHBOARD_TOKEN_ENV), settings.secrets.get(DASHBOARD_ADMIN_TOKEN_ENV),
                  d.proxy_user_header, d.proxy_addresses, d.proxy_admins)  # fmt: skip


def build_dashboard(
    settings: Settings, engine: Engine, address: str, *, backlog: Callable[[], int | None] | None = None,
    clock: Callable[[], datetime] | None = None, panels: Sequence[Any] = (),
) -> Any:  # fmt: skip
    """The dashboard's WSGI app behind its gate, for `address`; raises DashboardExposed when that
    address is not loopback and nobody would have to sign in."""
    from urllib.parse import urlsplit

    from monitor.reporting.dashboard.app import Dashboard
    from monitor.service.web import Gate, exposure

    access = dashboard_access(settings)
    exposure(address, access)
    now = clock or (lambda: datetime.now(UTC))
    hosts = {"bluesky": urlsplit(settings.bluesky.appview_url).hostname or "bluesky"}
    app = Dashboard(
        engine, settings.dashboard, rules=[r.name for r in settings.alerts.rules],
        actions=AlertActions(engine, now), hosts=hosts, backlog=backlog, clock=now, panels=panels,
        cache_seconds=settings.dashboard.cache_seconds,
    )  # fmt: skip
    return Gate(app, access)


def dashboard_engine(settings: Settings) -> Engine:
    """The dashboard's own small pool, so pages never wait behind the jobs' connections. On
    PostgreSQL, JIT compilation is off: it costs seconds on the reporting queries it picks."""
    from sqlalchemy import event

    from monitor.db import make_engine

    engine = make_engine(settings.database_url, pool_size=4)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", lambda dbapi, _record: dbapi.execute("SET jit = off"))
    return engine


def build_service(
    settings: Settings, *, only: Sequence[str] = (), health_address: str | None = None
) -> Service:
    """The real service: checks the schema, takes the database's service lock, composes the jobs.

    Raises SchemaOutOfDate, AlreadyRunning, UnknownJob, DashboardExposed, or OSError when the
    health (or dashboard) address is taken.
    """
    from monitor.db import make_engine, make_probe_engine, require_current
    from monitor.service.locks import make_locks
    from monitor.service.scheduler import Service

    names = wanted_jobs(settings, only)
    engine = make_engine(
        settings.database_url, pool_size=settings.database.pool_size, echo=settings.database.echo
    )
    locks, web = None, None
    try:
        require_current(engine)
        health = health_address or settings.service.health_address
        dashboard, where = None, settings.dashboard.address or health
        if settings.dashboard.enabled:
            web = dashboard_engine(settings)
            dashboard = build_dashboard(settings, web, where)
        locks = make_locks(settings.database_url)
        stop = threading.Event()  # set on SIGTERM: the jobs and the collectors' waits both see it
        parts = Parts(settings, engine, names, stop)
        if dashboard is not None:
            dashboard.app.backlog = lambda: parts.backlog(engine)
        sync_accounts_at_start(engine, settings, locks, names)
        closing = [parts.close, *([web.dispose] if web is not None else [])]
        return Service(
            settings.service, engine, parts.jobs(), locks=locks, stop=stop,
            monitor_engine=make_probe_engine(settings.database_url), backlog=parts.backlog,
            host_stats=parts.host_stats, on_close=closing, health_address=health,
            dashboard=dashboard, dashboard_address=settings.dashboard.address,
        )  # fmt: skip
    except BaseException:
        if locks is not None:
            locks.close()
        if web is not None:
            web.dispose()
        engine.dispose()
        raise


def sync_accounts_at_start(engine: Engine, settings: Settings, locks: JobLocks, names: Sequence[str]) -> None:
    """Bring the accounts table in step with the config before the first collection."""
    from dataclasses import asdict

    from monitor.accounts import sync_accounts

    if not any(spec_of(n).uses == "collectors" for n in names):
        return
    with locks.hold("accounts-sync") as held:
        if not held:
            return  # another process is syncing the same config
        with engine.begin() as conn:
            report = sync_accounts(conn, settings.accounts, datetime.now(UTC))
    changes = {k: len(v) for k, v in asdict(report).items() if v}
    if changes:
        log.info("accounts synced with the config: %s", changes, extra={"fields": {"accounts": changes}})
