"""`diplomonitor run` as a real process against a local AppView, tiny models and a webhook."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from monitor.schema import alert_events, deliveries, posts, scores
from tests.collectors.servers import FakeBluesky
from tests.conftest import PG_URL
from tests.service.conftest import http_get
from tests.service.process import ServiceProcess, wait_for
from tests.service.world import HOOK_ENV, Receiver, add_accounts, add_posts, server_uris, write_config

pytestmark = pytest.mark.slow
CUT = ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db "
       "AND pid <> pg_backend_pid() AND application_name <> 'dm-test'")  # fmt: skip


def _count(engine: Engine, table, *where) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _stored_uris(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(posts.c.uri)).scalars())


def _sent(engine: Engine) -> int:
    return _count(engine, deliveries, deliveries.c.status == "sent")


def _scored_once(engine: Engine) -> bool:
    with engine.connect() as conn:
        unscored = conn.execute(select(func.count()).where(posts.c.scored_with.is_(None))).scalar_one()
    return unscored == 0 and _count(engine, scores) == _count(engine, posts)


def test_service_collects_scores_alerts_delivers_serves_health_and_stops(
    tmp_path: Path,
    sqlite_url: str,
    bluesky: FakeBluesky,
    receiver: Receiver,
    tiny_models: dict[str, str],
    open_engine: Callable[..., Engine],
) -> None:
    handles = add_accounts(bluesky, accounts=3, posts=20)
    config = write_config(tmp_path / "dm.toml", sqlite_url, bluesky, handles, tiny_models)
    engine = open_engine(sqlite_url)
    with ServiceProcess(config, env={HOOK_ENV: receiver.url}) as service:
        health = service.started()
        wait_for(lambda: _count(engine, posts) == 60 and _scored_once(engine), 60, "60 posts, all scored")
        wait_for(lambda: len(receiver.received()) == 1 and _sent(engine) == 1, 30, "the alert delivered")
        assert http_get(health + "/healthz") == (200, "ok\n")
        metrics = http_get(health + "/metrics")[1]
        for line in ('diplomonitor_posts_collected_total{platform="bluesky"} 60.0',
                     "diplomonitor_posts_scored_total 60.0", "diplomonitor_unscored_posts 0.0",
                     "diplomonitor_alert_deliveries_sent_total 1.0",
                     'diplomonitor_alert_deliveries{status="failed"} 0.0',
                     f'diplomonitor_http_requests_total{{host="{bluesky.host}"}}'):  # fmt: skip
            assert line in metrics, line
        begun = time.monotonic()
        assert service.stop() == 0
        assert time.monotonic() - begun < 10
    assert set(_stored_uris(engine)) == server_uris(bluesky)
    assert _count(engine, alert_events) == 1 and "busy-day" in json.dumps(receiver.received())
    (started,) = [r for r in service.lines if r["message"].startswith("starting diplomonitor")]
    assert (started["database"], started["secrets_set"]) == (sqlite_url, [HOOK_ENV])
    assert receiver.url not in service.output()  # a secret's value is never logged
    for job in ("collect-bluesky", "engagement", "profiles", "resolve", "score", "alerts", "deliver"):
        assert service.runs(job), f"{job} never ran"
    assert service.runs(outcome="failed") == []
    assert service.records(message="service stopped")


def test_kill_9_during_collection_and_scoring_loses_and_duplicates_nothing(
    tmp_path: Path,
    sqlite_url: str,
    receiver: Receiver,
    tiny_models: dict[str, str],
    open_engine: Callable[..., Engine],
) -> None:
    server = FakeBluesky(page_size=5, latency=0.03).start()
    handles = add_accounts(server, accounts=4, posts=50)
    total = 200
    config = write_config(tmp_path / "dm.toml", sqlite_url, server, handles, tiny_models, posts_per_batch=2)
    engine, env = open_engine(sqlite_url), {HOOK_ENV: receiver.url}
    with ServiceProcess(config, "--only", "collect", env=env) as first:  # killed mid-collection
        first.started()
        wait_for(lambda: 0 < _count(engine, posts) < total - 20, 60, "a collection half done")
        first.kill()
    partial = _count(engine, posts)
    assert 0 < partial < total
    with ServiceProcess(config, "--only", "collect", env=env) as second:
        second.started()
        wait_for(lambda: _count(engine, posts) == total, 60, "the collection finished")
        assert second.stop() == 0
    with ServiceProcess(config, "--only", "score", env=env) as scorer:  # killed mid-scoring
        scorer.started()
        wait_for(lambda: 0 < _count(engine, scores) < total - 10, 60, "scoring half done")
        scorer.kill()
    assert 0 < _count(engine, scores) < total
    with ServiceProcess(config, env=env) as full:
        full.started()
        wait_for(lambda: _scored_once(engine) and _sent(engine) == 1, 60, "everything scored, the alert sent")
        wait_for(lambda: len(full.runs("alerts")) >= 2, 30, "the rule evaluated again")
        full.kill()  # after the delivery: a restart must not send it again
    with ServiceProcess(config, env=env) as again:
        again.started()
        wait_for(lambda: len(again.runs("alerts")) >= 2 and len(again.runs("deliver")) >= 2, 30, "more runs")
        assert again.stop() == 0
    server.stop()
    uris = _stored_uris(engine)
    assert len(uris) == len(set(uris)) == total and set(uris) == server_uris(server)  # every post, once
    assert _scored_once(engine)
    assert _count(engine, alert_events) == 1 and _count(engine, deliveries) == 1 and _sent(engine) == 1
    assert len(receiver.received()) == 1


@pytest.mark.postgres
def test_two_processes_on_postgresql_share_the_work(
    tmp_path: Path,
    pg_url: str,
    bluesky: FakeBluesky,
    receiver: Receiver,
    tiny_models: dict[str, str],
    open_engine: Callable[..., Engine],
) -> None:
    handles = add_accounts(bluesky, accounts=6, posts=50)
    total = 300
    config = write_config(tmp_path / "dm.toml", pg_url, bluesky, handles, tiny_models, posts_per_batch=4)
    engine, env = open_engine(pg_url), {HOOK_ENV: receiver.url}
    with ServiceProcess(config, env=env) as a, ServiceProcess(config, env=env) as b:
        a.started(), b.started()
        wait_for(lambda: _count(engine, posts) == total and _scored_once(engine), 90, "all posts scored")
        wait_for(lambda: _sent(engine) == 1, 30, "the alert delivered")
        wait_for(lambda: len(a.runs("deliver") + b.runs("deliver")) >= 8, 30, "a few delivery periods")
        assert (a.stop(), b.stop()) == (0, 0)
    runs = a.runs() + b.runs() + a.runs(outcome="failed") + b.runs(outcome="failed")
    per_period = Counter((r["job"], r["period"]) for r in runs if r["job"] != "score")
    assert per_period and max(per_period.values()) == 1, [k for k, n in per_period.items() if n > 1]
    deliver = sorted(datetime.fromisoformat(p) for j, p in per_period if j == "deliver")
    steps = Counter(round((y - x).total_seconds(), 1) for x, y in itertools.pairwise(deliver))
    assert steps[0.5] >= 0.8 * sum(steps.values()), steps  # one run per 0.5 s period, rarely a miss
    scored = [sum(r["counts"]["scored"] for r in p.runs("score")) for p in (a, b)]
    assert sum(scored) == total and min(scored) > 0, scored  # each post scored once, by one of the two
    assert {r["job"] for r in a.runs() + b.runs()} >= {"collect-bluesky", "alerts", "deliver", "score"}
    assert _count(engine, alert_events) == 1 and len(receiver.received()) == 1


@pytest.mark.postgres
def test_cut_postgresql_connections_are_logged_and_reconnected(
    tmp_path: Path,
    pg_url: str,
    bluesky: FakeBluesky,
    receiver: Receiver,
    tiny_models: dict[str, str],
    open_engine: Callable[..., Engine],
) -> None:
    handles = add_accounts(bluesky, accounts=2, posts=20)
    config = write_config(tmp_path / "dm.toml", pg_url, bluesky, handles, tiny_models)
    engine = open_engine(pg_url, application_name="dm-test")  # spared by the cuts
    env = {HOOK_ENV: receiver.url}
    admin = open_engine(PG_URL)  # the server's own database: never cut
    name = pg_url.rsplit("/", 1)[1]
    with ServiceProcess(config, env=env) as service:
        health = service.started()
        wait_for(lambda: _count(engine, posts) == 40 and _scored_once(engine), 60, "the first posts scored")
        now = datetime.now(UTC)
        for i, handle in enumerate(handles):
            add_posts(bluesky, f"did:plc:acct{i:04d}", handle, 5, now, first=1000, step=timedelta(seconds=1))
        deadline = time.monotonic() + 3
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # cut, again and again
            while time.monotonic() < deadline:
                conn.execute(text(CUT), {"db": name})
                time.sleep(0.05)
        cut_at = datetime.now(UTC).isoformat()
        failed = wait_for(lambda: service.runs(outcome="failed"), 10, "a job failing on the cut connection")
        assert any("database error" in r["message"] for r in failed), failed
        service.wait(
            lambda: _count(engine, posts) == 50 and _scored_once(engine), 60, "new posts after the cut"
        )
        jobs = {"collect-bluesky", "score", "alerts", "deliver", "engagement", "profiles"}
        service.wait(
            lambda: jobs <= {r["job"] for r in service.runs() if r["ts"] > cut_at}, 30, "jobs ok again"
        )
        assert http_get(health + "/healthz") == (200, "ok\n")
        assert service.stop() == 0
    assert set(_stored_uris(engine)) == server_uris(bluesky)


def test_a_missing_model_never_stops_scoring(
    tmp_path: Path,
    sqlite_url: str,
    bluesky: FakeBluesky,
    receiver: Receiver,
    open_engine: Callable[..., Engine],
) -> None:
    handles = add_accounts(bluesky, accounts=2, posts=5)
    missing = {"sentiment": str(tmp_path / "no-sentiment"), "embedding": str(tmp_path / "no-embedding")}
    config = write_config(tmp_path / "dm.toml", sqlite_url, bluesky, handles, missing)
    engine = open_engine(sqlite_url)
    with ServiceProcess(config, env={HOOK_ENV: receiver.url}) as service:
        service.started()
        service.wait(lambda: _count(engine, posts) == 10 and _sent(engine) == 1, 60, "collected and alerted")
        service.wait(lambda: _scored_once(engine), 60, "language and topics scored without the models")
        named = {"logger": "monitor.scoring", "missing": "sentiment"}
        warning = service.wait_log(60, "the missing model named", **named)
        assert service.stop() == 0
    assert "check [models] sentiment" in warning["message"] and "error" not in warning  # one line
    assert not service.runs("score", "failed") and service.runs("alerts") and service.runs("collect-bluesky")
    query = select(scores.c.sentiment_label, scores.c.topic_basis, scores.c.scored_with)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    assert len(rows) == 10 and {(r.sentiment_label, r.topic_basis) for r in rows} == {(None, "rules")}
    assert all(r.scored_with.startswith("dm2-language+rules:") for r in rows)  # completed once they are there
