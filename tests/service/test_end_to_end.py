"""`diplomonitor run` as a real process against a local AppView, tiny models and a webhook."""

from __future__ import annotations

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
from tests.service.world import (
    HOOK_ENV,
    KEY,
    KEY_ENV,
    Receiver,
    add_accounts,
    add_posts,
    server_uris,
    write_config,
)

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


def test_a_service_lifecycle_with_kill_9_at_every_stage(
    tmp_path: Path,
    sqlite_url: str,
    receiver: Receiver,
    tiny_models: dict[str, str],
    open_engine: Callable[..., Engine],
) -> None:
    """One story, four processes: killed mid-collection, killed mid-scoring, killed after the
    delivery, then stopped with SIGTERM. Every post is stored and scored once, one alert is
    delivered once, health and metrics answer, and no secret reaches the logs."""
    server = FakeBluesky(page_size=5, latency=0.03).start()
    handles = add_accounts(server, accounts=4, posts=40)
    total = 160
    config = write_config(tmp_path / "dm.toml", sqlite_url, server, handles, tiny_models, posts_per_batch=2)
    engine, env = open_engine(sqlite_url), {HOOK_ENV: receiver.url, **KEY}
    with ServiceProcess(config, "--only", "collect", env=env) as first:  # killed mid-collection
        first.started()
        first.wait(lambda: 0 < _count(engine, posts) < total - 20, 60, "a collection half done")
        first.kill()
    assert 0 < _count(engine, posts) < total
    with ServiceProcess(config, env=env) as second:  # finishes collecting, killed mid-scoring
        second.started()
        second.wait(lambda: _count(engine, posts) == total, 60, "the collection finished")
        second.wait(lambda: 0 < _count(engine, scores) < total - 10, 60, "scoring half done")
        second.kill()
    assert 0 < _count(engine, scores) < total
    with ServiceProcess(config, env=env) as third:  # finishes scoring, alerts, delivers; then killed
        health = third.started()
        third.wait(lambda: _scored_once(engine) and _sent(engine) == 1, 60, "all scored, the alert sent")
        assert http_get(health + "/healthz") == (200, "ok\n")

        def agreed() -> str | None:  # counters are per process: what this one's log lines say it did
            scored = sum(r["counts"]["scored"] for r in third.runs("score"))
            sent = sum(r["counts"]["sent"] for r in third.runs("deliver"))
            text = http_get(health + "/metrics")[1]
            lines = (f"diplomonitor_posts_scored_total {scored:.1f}", f"_deliveries_sent_total {sent:.1f}")
            return text if all(line in text for line in lines) else None

        metrics = third.wait(agreed, 10, "metrics that agree with the log")
        for line in ("diplomonitor_unscored_posts 0.0", 'diplomonitor_alert_deliveries{status="failed"} 0.0',
                     f'diplomonitor_http_requests_total{{host="{server.host}"}}'):  # fmt: skip
            assert line in metrics, line
        third.wait(lambda: len(third.runs("alerts")) >= 2, 30, "the rule evaluated again")
        third.kill()  # after the delivery: a restart must not send it again
    with ServiceProcess(config, env=env) as fourth:
        fourth.started()
        fourth.wait(lambda: len(fourth.runs("alerts")) >= 2 and len(fourth.runs("deliver")) >= 2, 30, "runs")
        begun = time.monotonic()
        assert fourth.stop() == 0
        assert time.monotonic() - begun < 10
    server.stop()
    uris = _stored_uris(engine)
    assert len(uris) == len(set(uris)) == total and set(uris) == server_uris(server)  # every post, once
    assert _scored_once(engine)
    assert _count(engine, alert_events) == 1 and _count(engine, deliveries) == 1 and _sent(engine) == 1
    assert len(receiver.received()) == 1 and "busy-day" in json.dumps(receiver.received())
    (started,) = [r for r in fourth.lines if r["message"].startswith("starting diplomonitor")]
    assert (started["database"], started["secrets_set"]) == (sqlite_url, sorted([HOOK_ENV, KEY_ENV]))
    for process in (first, second, third, fourth):
        assert receiver.url not in process.output()  # a secret's value is never logged
    ran = {r["job"] for p in (second, third, fourth) for r in p.runs()}
    assert ran >= {"collect-bluesky", "engagement", "profiles", "resolve", "reception", "score", "alerts",
                   "deliver"}  # fmt: skip
    assert [r for p in (first, second, third, fourth) for r in p.runs(outcome="failed")] == []
    assert fourth.runs(outcome="failed") == [] and fourth.records(message="service stopped")


@pytest.mark.postgres
def test_two_processes_on_postgresql_share_the_work(
    tmp_path: Path,
    pg_url: str,
    bluesky: FakeBluesky,
    receiver: Receiver,
    tiny_models: dict[str, str],
    open_engine: Callable[..., Engine],
) -> None:
    handles = add_accounts(bluesky, accounts=4, posts=40)
    total = 160
    config = write_config(tmp_path / "dm.toml", pg_url, bluesky, handles, tiny_models, posts_per_batch=4)
    engine, env = open_engine(pg_url), {HOOK_ENV: receiver.url, **KEY}
    with ServiceProcess(config, env=env) as a, ServiceProcess(config, env=env) as b:
        a.started(), b.started()
        wait_for(lambda: _count(engine, posts) == total and _scored_once(engine), 90, "all posts scored")
        wait_for(lambda: _sent(engine) == 1, 30, "the alert delivered")
        wait_for(
            lambda: len({r["period"] for r in a.runs("deliver") + b.runs("deliver")}) >= 4, 30, "periods"
        )
        assert (a.stop(), b.stop()) == (0, 0)
    runs = a.runs() + b.runs() + a.runs(outcome="failed") + b.runs(outcome="failed")
    # Each exclusive job ran at most once per period across the two processes, whichever won it;
    # how punctual the scheduler was on a loaded machine is not what this test proves.
    per_period = Counter((r["job"], r["period"]) for r in runs if r["job"] != "score")
    assert per_period and max(per_period.values()) == 1, [k for k, n in per_period.items() if n > 1]
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
    handles = add_accounts(bluesky, accounts=2, posts=10)
    config = write_config(tmp_path / "dm.toml", pg_url, bluesky, handles, tiny_models)
    engine = open_engine(pg_url, application_name="dm-test")  # spared by the cuts
    env = {HOOK_ENV: receiver.url, **KEY}
    admin = open_engine(PG_URL)  # the server's own database: never cut
    name = pg_url.rsplit("/", 1)[1]
    with ServiceProcess(config, env=env) as service:
        health = service.started()
        wait_for(lambda: _count(engine, posts) == 20 and _scored_once(engine), 60, "the first posts scored")
        now = datetime.now(UTC)
        for i, handle in enumerate(handles):
            add_posts(bluesky, f"did:plc:acct{i:04d}", handle, 5, now, first=1000, step=timedelta(seconds=1))
        deadline = time.monotonic() + 2
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # cut, again and again
            while time.monotonic() < deadline:
                conn.execute(text(CUT), {"db": name})
                time.sleep(0.05)
        cut_at = datetime.now(UTC).isoformat()
        failed = wait_for(lambda: service.runs(outcome="failed"), 10, "a job failing on the cut connection")
        assert any("database error" in r["message"] for r in failed), failed
        service.wait(
            lambda: _count(engine, posts) == 30 and _scored_once(engine), 60, "new posts after the cut"
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
    with ServiceProcess(config, env={HOOK_ENV: receiver.url, **KEY}) as service:
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
