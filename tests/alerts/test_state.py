"""Alerts fire on state changes: once while true, cooldown, resolution, races between evaluators."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from alerts.settings import ChannelSettings
from monitor.alerting.evaluate import evaluate_rules
from monitor.db import make_engine
from monitor.schema import alert_events, alert_states, deliveries, posts
from tests.alerts.conftest import H, rule, settings
from tests.conftest import NOW

HOOK = ChannelSettings(name="hook", kind="webhook", url_env="HOOK_URL")


def rows(engine: Engine, table: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(table).order_by(*table.primary_key.columns)))


def test_fires_once_while_true_then_resolves_with_a_notice(world: Engine) -> None:
    s = settings((rule(name="busy", threshold=5, channels=("hook",), notify_resolved=True),), (HOOK,))
    first = evaluate_rules(world, s.alerts, now=NOW)
    again = evaluate_rules(world, s.alerts, now=NOW)  # the same data again
    later = evaluate_rules(world, s.alerts, now=NOW + 10 * 60 * timedelta(seconds=1))  # still true
    assert (first.fired, again.fired, later.fired) == (1, 0, 0)
    assert [o.action for o in (*first.outcomes, *again.outcomes, *later.outcomes)] == [
        "fire",
        "firing",
        "firing",
    ]
    (event,) = rows(world, alert_events)
    assert (event.rule, event.scope, event.value, event.threshold, event.metric) == (
        "busy",
        "all",
        6,
        5,
        "post_count",
    )
    assert event.title == "busy: posts 6 >= 5 (all accounts)"
    assert [p["url"] for p in event.details["posts"]] == [  # most engaging first
        "https://example.org/de@social.bund.de/201", "https://example.org/fr.bsky.social/101",
        "https://example.org/fr.bsky.social/104",
    ]  # fmt: skip
    resolved = evaluate_rules(world, s.alerts, now=NOW + 5 * H)  # most posts have left the 6-hour window
    assert (resolved.fired, resolved.resolved) == (0, 1)
    (event,) = rows(world, alert_events)
    assert event.resolved_at == NOW + 5 * H
    (state,) = rows(world, alert_states)
    assert (state.firing, state.event_id, state.last_fired_at) == (False, None, NOW)
    kinds = [(d.channel, d.kind, d.dedup_key) for d in rows(world, deliveries)]
    assert kinds == [("hook", "fire", f"fire:{event.id}"), ("hook", "resolve", f"resolve:{event.id}")]


def test_cooldown_suppresses_a_refire_until_it_has_passed(world: Engine) -> None:
    """Account 1 has 4 posts in the window at NOW (101 to 104, 1 to 5 hours old)."""
    s = settings(
        (rule(name="busy", threshold=3, cooldown_hours=3, scope="account", scope_value="fr.bsky.social"),)
    )
    assert evaluate_rules(world, s.alerts, now=NOW).fired == 1
    with world.begin() as conn:  # the storm passes...
        conn.execute(update(posts).where(posts.c.id.in_([101, 102])).values(deleted_at=NOW))
    assert evaluate_rules(world, s.alerts, now=NOW + H).resolved == 1  # only 103 left
    with world.begin() as conn:  # ...and comes back
        conn.execute(update(posts).where(posts.c.id.in_([101, 102])).values(deleted_at=None))
    suppressed = evaluate_rules(world, s.alerts, now=NOW + 2 * H)  # 101, 102, 103: true, but 2 h < 3 h
    assert (suppressed.fired, suppressed.outcomes[0].action) == (0, "suppressed")
    with world.begin() as conn:
        conn.execute(update(posts).where(posts.c.id == 103).values(created_at=NOW + 2 * H))
    assert evaluate_rules(world, s.alerts, now=NOW + 3 * H).fired == 1  # 3 h after the first: fires again
    assert len(rows(world, alert_events)) == 2


def test_dry_run_changes_nothing(world: Engine) -> None:
    s = settings((rule(name="busy", threshold=5, channels=("hook",)),), (HOOK,))
    report = evaluate_rules(world, s.alerts, now=NOW, dry_run=True)
    assert [(o.action, o.verdict.value) for o in report.outcomes] == [("fire", 6)]
    assert (
        rows(world, alert_events) == [] and rows(world, alert_states) == [] and rows(world, deliveries) == []
    )


def test_an_older_evaluation_never_undoes_a_newer_one(world: Engine) -> None:
    s = settings((rule(name="busy", threshold=5),))
    assert evaluate_rules(world, s.alerts, now=NOW).fired == 1
    late = evaluate_rules(world, s.alerts, now=NOW - 5 * H)  # a slow process, with an older clock
    assert late.outcomes[0].action == "stale"
    assert rows(world, alert_states)[0].firing is True


def test_members_leaving_the_scope_are_resolved_silently(world: Engine) -> None:
    s = settings((rule(name="quiet", metric="silence", threshold=48, per_member=True),))
    assert evaluate_rules(world, s.alerts, now=NOW).fired == 1  # us.bsky.social, 80 h
    narrower = settings((rule(name="quiet", metric="silence", threshold=48, per_member=True, scope="group",
                              scope_value="eu"),))  # fmt: skip
    evaluate_rules(world, narrower.alerts, now=NOW + H)
    (state,) = [r for r in rows(world, alert_states) if r.scope == "bluesky:us.bsky.social"]
    assert state.firing is False
    assert rows(world, alert_events)[0].resolved_at == NOW + H


def _race(url: str, s: Any, workers: int = 4) -> list[Any]:
    barrier = threading.Barrier(workers)
    reports: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        engine = make_engine(url)  # each evaluator with its own pool, like separate processes
        try:
            barrier.wait()
            reports.append(evaluate_rules(engine, s.alerts, now=NOW))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return reports


@pytest.mark.parametrize("per_member", [False, True])
def test_evaluators_racing_open_one_alert(world: Engine, db_url: str, per_member: bool) -> None:
    s = settings((rule(name="busy", threshold=1, per_member=per_member, channels=("hook",)),), (HOOK,))
    reports = _race(db_url, s)
    expected = 2 if per_member else 1  # accounts 1 and 2 posted in the window
    assert sum(r.fired for r in reports) == expected
    with world.connect() as conn:
        assert conn.execute(select(func.count()).select_from(alert_events)).scalar() == expected
        assert conn.execute(select(func.count()).select_from(deliveries)).scalar() == expected
