"""Judging rules, quiet hours and the [alerts] config: pure functions, no database."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from alerts.quiet import QuietHours
from alerts.rules import CAP, WindowStats, judge
from monitor.config import ConfigError, load_settings
from tests.alerts.conftest import rule


@pytest.mark.parametrize(("fields", "stats", "firing", "value", "note"), [
    ({"threshold": 5}, WindowStats(6, 6), True, 6, ""),
    ({"threshold": 5, "comparison": "<"}, WindowStats(6, 6), False, 6, ""),
    ({"threshold": 0.4, "min_posts": 10}, WindowStats(0.9, 9), False, None,
     "9 posts, fewer than min_posts 10"),
    ({"threshold": 1}, WindowStats(None, 0), False, None, "no data"),
    ({"threshold": 3, "spike": "zscore"}, WindowStats(4, 4, (1, 2, 1, 2)), True, 5.0, ""),
    ({"threshold": 3, "spike": "ratio"}, WindowStats(4, 4, (1, 2, 1, 2)), False, 4 / 1.5, ""),
    ({"threshold": 3, "spike": "zscore"}, WindowStats(4, 4, (2, 2, 2)), True, CAP, ""),
    ({"threshold": 3, "spike": "zscore"}, WindowStats(2, 4, (2, 2, 2)), False, 0.0, ""),
    ({"threshold": 2, "spike": "ratio"}, WindowStats(3, 3, (0, 0)), True, CAP, ""),
    ({"threshold": 2, "spike": "zscore"}, WindowStats(3, 3, (1,)), False, None, "1 baseline windows, need 2"),
])  # fmt: skip
def test_judge(fields: dict, stats: WindowStats, firing: bool, value: float | None, note: str) -> None:
    verdict = judge(rule(**fields), stats)
    assert (verdict.firing, verdict.note) == (firing, note)
    assert verdict.value == (pytest.approx(value) if value is not None else None)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_quiet_hours_wrap_midnight_and_follow_daylight_saving() -> None:
    q = QuietHours.parse("22:00-07:00", "Europe/Paris")
    assert (q.start, q.end) == (time(22), time(7))
    assert not q.contains(at("2026-10-15 19:59"))  # 21:59 CEST
    assert q.contains(at("2026-10-15 20:00"))
    assert q.release(at("2026-10-15 23:30")) == at("2026-10-16 05:00")  # 07:00 CEST
    assert q.release(at("2026-10-25 03:00")) == at("2026-10-25 06:00")  # 07:00 CET, after the change
    assert q.release(at("2026-10-15 12:00")) == at("2026-10-15 12:00")
    day = QuietHours.parse("9:30-17:00", "UTC")
    assert day.contains(at("2026-10-15 09:30")) and not day.contains(at("2026-10-15 17:00"))


@pytest.mark.parametrize(("body", "line", "field", "message"), [
    ('metric = "post_count"\nthreshold = 1\nquiet_hours = "late"\n', 5, "alerts.rules[1].quiet_hours",
     "quiet_hours 'late' is not HH:MM-HH:MM"),
    ('metric = "post_count"\nthreshold = 1\ntimezone = "Mars/Base"\n', 5, "alerts.rules[1].timezone",
     "timezone 'Mars/Base' is not an IANA time zone"),
    ('metric = "silence"\nthreshold = 1\nspike = "zscore"\n', 5, "alerts.rules[1].spike",
     "spike does not apply to metric 'silence'"),
    ('metric = "keyword"\nthreshold = 1\n', 1, "alerts.rules[1].keywords", "keywords are needed"),
    ('metric = "post_count"\nthreshold = 1\nscope = "group"\nscope_value = "nowhere"\n', 6,
     "alerts.rules[1].scope_value", "group 'nowhere' is not among the configured accounts"),
    ('metric = "post_count"\nthreshold = 1\nscope = "platform"\nscope_value = "x"\n', 6,
     "alerts.rules[1].scope_value", "platform 'x' is not bluesky or mastodon"),
])  # fmt: skip
def test_bad_rules_name_line_and_field(write_config, body: str, line: int, field: str, message: str) -> None:
    path = write_config('[[alerts.rules]]\nname = "r"\n' + body)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert (caught.value.line, caught.value.field) == (line, field)
    assert message in caught.value.problem


def test_alerts_config_with_digests_and_retry_settings(write_config) -> None:
    path = write_config(
        '[[accounts]]\nplatform = "bluesky"\nhandle = "ec.europa.eu"\ncountry = "EU"\nkind = "ministry"\n'
        'groups = ["eu"]\n'
        "[alerts]\nretry_seconds = 30\nmax_attempts = 5\n"
        '[alerts.channels.mail]\nkind = "email"\nsmtp_host = "smtp.example.org"\nsender = "a@example.org"\n'
        'recipients = ["b@example.org"]\nusername = "u"\npassword_env = "SMTP_PW"\n'
        '[[alerts.digests]]\nname = "daily"\nchannels = ["mail"]\nhour = 7\ntimezone = "Europe/Berlin"\n'
        '[[alerts.rules]]\nname = "eu"\nmetric = "post_count"\nthreshold = 1\nscope = "group"\n'
        'scope_value = "eu"\n'
    )
    s = load_settings(path, {"SMTP_PW": "pw"})
    assert (s.alerts.retry_seconds, s.alerts.max_attempts) == (30, 5)
    assert [(d.name, d.hour, d.channels) for d in s.alerts.digests] == [("daily", 7, ("mail",))]
    assert s.secrets["SMTP_PW"] == "pw"
    unknown = write_config("[alerts]\nretries = 3\n", "u.toml")
    with pytest.raises(ConfigError, match="unknown field 'retries'"):
        load_settings(unknown, {})
    digest = write_config('[[alerts.digests]]\nname = "d"\nchannels = ["nope"]\n', "d.toml")
    with pytest.raises(ConfigError, match="unknown channel 'nope'"):
        load_settings(digest, {})


def test_the_example_config_is_valid() -> None:
    from pathlib import Path

    s = load_settings(Path(__file__).parents[2] / "examples" / "diplomonitor.toml", {})
    assert {r.name for r in s.alerts.rules} >= {"negative-storm", "silent-account"}
