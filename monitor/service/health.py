"""The service's HTTP endpoint: `/healthz` for supervisors, Prometheus `/metrics` for dashboards.

Metrics live in a private registry (never prometheus_client's global one), so several services
in one Python process, as in tests, never share counters. Job metrics are counted as jobs run;
database and HTTP figures are read at scrape time, from a small engine of their own so a scrape
never waits behind the jobs' connections.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from sqlalchemy import Engine, func, select, text

from monitor.schema import deliveries
from monitor.service.web import WebServer, WSGIApp, dispatch

log = logging.getLogger(__name__)
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class ServiceMetrics:
    """Counters and gauges of one service process; `observe` is the job runner's hook."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.durations = Histogram("diplomonitor_job_duration_seconds", "Duration of job runs.", ["job"],
                                   buckets=BUCKETS, registry=r)  # fmt: skip
        self.runs = Counter("diplomonitor_job_runs", "Job runs by outcome (ok, failed, busy, done).",
                            ["job", "outcome"], registry=r)  # fmt: skip
        self.last_success = Gauge("diplomonitor_job_last_success_timestamp_seconds",
                                  "Unix time of each job's last successful run in this process.", ["job"],
                                  registry=r)  # fmt: skip
        self.collected = Counter("diplomonitor_posts_collected", "New posts stored, per platform.",
                                 ["platform"], registry=r)  # fmt: skip
        self.scored = Counter("diplomonitor_posts_scored", "Posts scored by this process.", registry=r)
        self.answers = Counter("diplomonitor_answers_scored", "Replies and quotes scored by this process.",
                               registry=r)  # fmt: skip
        self.sent = Counter("diplomonitor_alert_deliveries_sent", "Alert deliveries sent by this process.",
                            registry=r)  # fmt: skip

    def observe(self, job: str, outcome: str, seconds: float, counts: Mapping[str, float]) -> None:
        """Record one job run."""
        self.runs.labels(job, outcome).inc()
        if outcome not in ("ok", "failed"):
            return
        self.durations.labels(job).observe(seconds)
        if outcome != "ok":
            return
        self.last_success.labels(job).set_to_current_time()
        if job.startswith("collect-"):
            self.collected.labels(job.removeprefix("collect-")).inc(counts.get("new_posts", 0))
        elif job == "score":
            self.scored.inc(counts.get("scored", 0))
            self.answers.inc(counts.get("answers", 0))
        elif job == "deliver":
            self.sent.inc(counts.get("sent", 0))


class StateCollector:
    """Figures read at scrape time: database up, unscored backlog, deliveries, HTTP per host."""

    def __init__(
        self,
        engine: Engine,
        backlog: Callable[[Engine], int] | None = None,
        host_stats: Callable[[], Mapping[str, Any]] | None = None,
    ):
        self.engine, self.backlog, self.host_stats = engine, backlog, host_stats

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("diplomonitor_database_up", "1 if the database answered this scrape.")
        try:
            yield from self._database()
            up.add_metric([], 1)
        except Exception as exc:
            log.warning("metrics: database unavailable (%s)", exc.__class__.__name__)
            up.add_metric([], 0)
        yield up
        if self.host_stats is not None:
            yield from _host_metrics(self.host_stats())

    def _database(self) -> Iterator[Metric]:
        states = ("pending", "sending", "failed")
        with self.engine.connect() as conn:
            rows: dict[str, int] = dict(
                conn.execute(
                    select(deliveries.c.status, func.count())
                    .where(deliveries.c.status.in_(states))
                    .group_by(deliveries.c.status)
                ).all()
            )
        pending = GaugeMetricFamily("diplomonitor_alert_deliveries", "Alert deliveries by status "
                                    "(pending, sending, failed).", labels=["status"])  # fmt: skip
        for status in states:
            pending.add_metric([status], rows.get(status, 0))
        yield pending
        if self.backlog is not None:
            yield GaugeMetricFamily("diplomonitor_unscored_posts", "Posts and answers waiting to be scored.",
                                    value=self.backlog(self.engine))  # fmt: skip


def _host_metrics(stats: Mapping[str, Any]) -> Iterator[Metric]:
    specs = (
        ("requests", "diplomonitor_http_requests", "HTTP requests per host."),
        ("errors", "diplomonitor_http_errors", "HTTP request errors per host."),
        ("retries", "diplomonitor_http_retries", "HTTP requests retried per host."),
        ("rate_limit_waits", "diplomonitor_http_rate_limit_waits", "Waits for a host's rate limit."),
        ("wait_seconds", "diplomonitor_http_rate_limit_wait_seconds", "Seconds spent waiting per host."),
    )
    for attr, name, doc in specs:
        family = CounterMetricFamily(name, doc, labels=["host"])
        for host, s in sorted(stats.items()):
            family.add_metric([host], float(getattr(s, attr, 0) or 0))
        yield family


def database_answers(engine: Engine) -> bool:
    """Whether `SELECT 1` succeeds now."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception as exc:
        log.warning("health: database does not answer (%s)", exc.__class__.__name__)
        return False


class HealthServer:
    """`/healthz` (200 or 503 with the reason) and `/metrics`, on a thread of its own; any other
    path goes to `app` (the dashboard, when `run` serves it here) or is a 404."""

    def __init__(
        self,
        address: str,
        registry: CollectorRegistry,
        problems: Callable[[], list[str]],
        app: WSGIApp | None = None,
    ):
        routes = [("/healthz", _healthz(problems)), ("/metrics", _metrics(registry))]
        self.web = WebServer(address, dispatch(routes, app or _not_found), name="health")
        self.server, self.thread = self.web.server, self.web.thread

    @property
    def url(self) -> str:
        return self.web.url

    def start(self) -> None:
        self.web.start()

    def close(self) -> None:
        self.web.close()


def _send(start_response: Callable[..., Any], status: str, body: bytes, content_type: str) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def _healthz(problems: Callable[[], list[str]]) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        found = problems()
        body = ("ok\n" if not found else "\n".join(found) + "\n").encode()
        status = "503 Service Unavailable" if found else "200 OK"
        return _send(start_response, status, body, "text/plain; charset=utf-8")

    return app


def _metrics(registry: CollectorRegistry) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        return _send(start_response, "200 OK", generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4)

    return app


def _not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    return _send(start_response, "404 Not Found", b"not found: try /healthz or /metrics\n",
                 "text/plain; charset=utf-8")  # fmt: skip
