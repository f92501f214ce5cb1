from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent, JobExecutionEvent
from sqlalchemy import select

from monitor.compose import job_names, wanted_jobs
from monitor.config import Settings
from monitor.db import make_engine, make_probe_engine
from monitor.errors import UnknownJob
from monitor.schema import deliveries, service_jobs
from monitor.service.jobs import Job
from monitor.service.locks import NoLocks
from monitor.service.scheduler import Service
from tests.conftest import NOW
from tests.service.conftest import http_get


@dataclass(frozen=True)
class HostStats:
    requests: int
    errors: int
    rate_limit_waits: int
    wait_seconds: float


def _wait_for(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_service_runs_jobs_serves_health_and_metrics_and_stops(
    service_settings: Callable[..., Settings], db_url: str
) -> None:
    settings = service_settings()
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(deliveries.insert().values(channel="ops", kind="fire", dedup_key="k1", status="failed",
                                                next_attempt_at=NOW))  # fmt: skip
    ran: list[str] = []

    def broken(now: datetime, stop: threading.Event) -> None:
        ran.append("broken")
        raise RuntimeError("boom")

    jobs = [
        Job("collect-bluesky", lambda now, stop: ran.append("collect") or {"new_posts": 4}, 0.2),
        Job(
            "score",
            lambda now, stop: ran.append("score") or {"scored": 3, "answers": 2, "batches": 1},
            0.2,
            exclusive=False,
        ),
        Job("alerts", broken, 0.2),
    ]
    hosts = {"public.api.bsky.app": HostStats(10, 1, 2, 0.5)}
    service = Service(
        settings.service, engine, jobs, locks=NoLocks(), backlog=lambda eng: 42, host_stats=lambda: hosts
    )
    service.start()
    try:
        _wait_for(lambda: ran.count("collect") >= 2 and ran.count("broken") >= 2 and ran.count("score") >= 2)
        assert http_get(service.health.url + "/healthz") == (200, "ok\n")
        status, metrics = http_get(service.health.url + "/metrics")
        assert status == 200
        for line in (
            'diplomonitor_posts_collected_total{platform="bluesky"}',
            "diplomonitor_posts_scored_total",
            "diplomonitor_answers_scored_total",
            'diplomonitor_job_runs_total{job="alerts",outcome="failed"}',
            'diplomonitor_job_last_success_timestamp_seconds{job="score"}',
            'diplomonitor_job_duration_seconds_count{job="collect-bluesky"}',
            "diplomonitor_unscored_posts 42.0",
            'diplomonitor_alert_deliveries{status="failed"} 1.0',
            'diplomonitor_alert_deliveries{status="pending"} 0.0',
            "diplomonitor_database_up 1.0",
            'diplomonitor_http_requests_total{host="public.api.bsky.app"} 10.0',
            'diplomonitor_http_rate_limit_waits_total{host="public.api.bsky.app"} 2.0',
        ):
            assert line in metrics, line
        assert 'diplomonitor_job_last_success_timestamp_seconds{job="alerts"}' not in metrics
        assert http_get(service.health.url + "/nope")[0] == 404
    finally:
        assert service.shutdown() == []
    assert service.stop.is_set() and not service.scheduler.running
    check = make_engine(db_url)
    with check.connect() as conn:
        rows = {r.name: r.status for r in conn.execute(select(service_jobs))}
    check.dispose()
    assert rows == {"collect-bluesky": "ok", "alerts": "failed"}  # the shared score job claims nothing


def test_healthz_is_503_when_the_database_does_not_answer(service_settings: Callable[..., Settings]) -> None:
    settings = service_settings()
    engine = make_engine(settings.database_url)
    closed = make_probe_engine("postgresql+psycopg://postgres@127.0.0.1:9/none")
    service = Service(settings.service, engine, [], locks=NoLocks(), monitor_engine=closed)
    service.start()
    try:
        status, body = http_get(service.health.url + "/healthz")
        assert (status, body) == (503, "database does not answer\n")
        metrics = http_get(service.health.url + "/metrics")[1]
        assert "diplomonitor_database_up 0.0" in metrics
        service.request_stop()
        assert http_get(service.health.url + "/healthz")[1].startswith("scheduler is not running")
    finally:
        service.shutdown()


def test_stop_waits_for_the_batch_in_hand_then_gives_up(service_settings: Callable[..., Settings]) -> None:
    settings = service_settings(service="stop_seconds = 0.5")
    engine = make_engine(settings.database_url)
    started, batches, stubborn_release = threading.Event(), [], threading.Event()

    def polite(now: datetime, stop: threading.Event) -> int:
        started.set()
        while not stop.is_set():
            batches.append(1)
            time.sleep(0.01)
        return len(batches)

    def stubborn(now: datetime, stop: threading.Event) -> None:
        stubborn_release.wait(30)

    service = Service(settings.service, engine, [Job("score", polite, 60, exclusive=False),
                                         Job("profiles", stubborn, 60)], locks=NoLocks())  # fmt: skip
    service.start()
    assert started.wait(10)
    _wait_for(lambda: service.runner.active() == ["profiles", "score"])
    begun = time.monotonic()
    service.request_stop()
    assert service.shutdown() == ["profiles"]  # polite finished its batch; stubborn is reported
    assert time.monotonic() - begun < 2
    stubborn_release.set()
    assert service.runner.wait_idle(10) == []
    engine.dispose()


def test_job_selection(service_settings: Callable[..., Settings]) -> None:
    accounts = ('[[accounts]]\nplatform = "mastodon"\nhandle = "bmi@social.bund.de"\ncountry = "DE"\n'
                'kind = "ministry"\n')  # fmt: skip
    settings = service_settings(accounts)
    assert job_names(settings) == ["collect-mastodon", "engagement", "profiles", "resolve", "reception",
                                   "score", "alerts", "deliver"]  # fmt: skip
    assert wanted_jobs(settings, ["score"]) == ["score"]
    assert wanted_jobs(settings, ["collect", "deliver"]) == ["collect-mastodon", "deliver"]
    with pytest.raises(UnknownJob, match="no job collect-bluesky in this configuration"):
        wanted_jobs(settings, ["collect-bluesky"])
    assert job_names(service_settings()) == ["score", "alerts", "deliver"]  # nothing to collect


def test_start_says_which_jobs_run_now_and_which_already_ran_in_this_period(
    service_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    """A restart within a period runs nothing twice, and says so at INFO rather than in silence."""
    settings = service_settings()
    engine = make_engine(settings.database_url)
    clock = lambda: NOW + timedelta(minutes=7)  # noqa: E731 - in the 12:00-13:00 period
    with engine.begin() as conn:
        conn.execute(service_jobs.insert().values(
            name="profiles", period_start=NOW, status="ok", owner="host-a:41", started_at=NOW,
            finished_at=NOW + timedelta(minutes=1),
        ))  # fmt: skip
    ran: list[str] = []
    jobs = [Job("profiles", lambda now, stop: ran.append("profiles"), 3600),
            Job("alerts", lambda now, stop: ran.append("alerts"), 3600)]  # fmt: skip
    service = Service(settings.service, engine, jobs, locks=NoLocks(), clock=clock)
    with caplog.at_level(logging.INFO, logger="monitor.service.scheduler"):
        service.start()
        try:
            _wait_for(lambda: ran == ["alerts"] and service.runner.active() == [])
        finally:
            service.shutdown()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("job ")]
    assert lines == [
        "job profiles: already ran in this period (started 12:00:00 UTC by host-a:41); "
        "next run 13:00:00 UTC, then every 60 min",
        "job alerts: runs now, then every 60 min",
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.getMessage().startswith("job "))


def test_overlapping_runs_are_info_until_a_job_overruns_three_periods(
    service_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    settings = service_settings()
    engine = make_engine(settings.database_url)
    service = Service(settings.service, engine, [Job("score", lambda now, stop: None, 60)], locks=NoLocks())
    levels = []
    for running_for in (30, 170, 190):  # seconds; three periods of 60 s are 180 s
        service.runner._active["score"] = time.monotonic() - running_for
        with caplog.at_level(logging.INFO, logger="monitor.service.scheduler"):
            caplog.clear()
            service._scheduler_event(JobEvent(EVENT_JOB_MAX_INSTANCES, "score", "default"))
        levels.append((caplog.records[0].levelname, caplog.records[0].getMessage()))
    late = datetime.now(UTC) - timedelta(seconds=200)
    with caplog.at_level(logging.INFO, logger="monitor.service.scheduler"):
        caplog.clear()
        service._scheduler_event(JobExecutionEvent(EVENT_JOB_MISSED, "score", "default", late))
    levels.append((caplog.records[0].levelname, caplog.records[0].getMessage()))
    del service.runner._active["score"]
    service.health.server.server_close()  # never started: nothing to shut down
    engine.dispose()
    assert levels == [
        ("INFO", "job score still running after 30 s: its next run waits for the next period"),
        ("INFO", "job score still running after 3 min: its next run waits for the next period"),
        ("WARNING", "job score still running after 3 min: its next run waits for the next period"),
        ("WARNING", "job score missed its run by 3 min"),
    ]
