from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError, load_settings

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "diplomonitor.toml"

ACCOUNT = """
[[accounts]]
platform = "bluesky"
handle = "ec.europa.eu"
country = "EU"
kind = "ministry"
"""


def test_example_config_loads_with_defaults_next_to_the_file() -> None:
    s = load_settings(EXAMPLE, {})
    assert s.database_url == f"sqlite:///{EXAMPLE.parent.absolute() / 'diplomonitor.db'}"
    assert {a.platform for a in s.accounts} == {"bluesky", "mastodon"}
    assert all(a.country and a.kind for a in s.accounts)
    assert s.bluesky.appview_url == "https://public.api.bsky.app"


def test_accounts_are_normalised(write_config) -> None:
    path = write_config(
        '[[accounts]]\nplatform = "mastodon"\nhandle = "@BMI@Social.Bund.de"\ncountry = "de"\n'
        'kind = "ministry"\nhost_country = "fr"\ngroups = ["g7"]\n'
    )
    (a,) = load_settings(path, {}).accounts
    assert (a.handle, a.country, a.host_country, a.instance, a.groups) == (
        "bmi@social.bund.de", "DE", "FR", "social.bund.de", ("g7",),
    )  # fmt: skip


def test_database_url_from_environment_wins_and_is_masked(write_config) -> None:
    path = write_config('[database]\nurl = "sqlite:///other.db"\n')
    env = {"DIPLOMONITOR_DATABASE_URL": "postgresql://dm:s3cret@db.example.org/dm"}
    s = load_settings(path, env)
    assert s.database_url == "postgresql+psycopg://dm:s3cret@db.example.org/dm"
    assert "s3cret" not in s.masked_database_url()
    assert "s3cret" not in repr(s.describe())
    assert load_settings(path, {}).database_url == f"sqlite:///{path.parent / 'other.db'}"


def test_secrets_come_from_the_environment_and_are_masked(write_config) -> None:
    path = write_config(
        '[alerts.channels.ops]\nkind = "slack"\nurl_env = "SLACK_HOOK"\n'
        '[[alerts.rules]]\nname = "r"\nmetric = "post_count"\nthreshold = 3\nchannels = ["ops"]\n'
    )
    s = load_settings(path, {"SLACK_HOOK": "https://hooks.example/T0/B0/xyz", "OTHER": "x"})
    assert s.secrets["SLACK_HOOK"] == "https://hooks.example/T0/B0/xyz"
    assert "OTHER" not in s.secrets
    assert "xyz" not in repr(s) and "xyz" not in repr(s.secrets) and "xyz" not in str(s.describe())


BAD = [
    pytest.param(ACCOUNT.replace('handle = "ec.europa.eu"\n', ""), 2, "accounts[1].handle",
                 "missing required field 'handle'", id="missing-field"),
    pytest.param('[collect]\nbackfill_days = "thirty"\n', 2, "collect.backfill_days",
                 "expected an integer, got a string 'thirty'", id="wrong-type"),
    pytest.param(ACCOUNT.replace('"bluesky"', '"twitter"'), 3, "accounts[1].platform",
                 "unknown platform 'twitter'", id="unknown-platform"),
    pytest.param(ACCOUNT.replace('"EU"', '"XX"'), 5, "accounts[1].country",
                 "country 'XX' is not an ISO 3166-1 alpha-2 code", id="bad-country"),
    pytest.param(ACCOUNT + ACCOUNT.replace("ec.europa.eu", "EC.Europa.EU"), 10, "accounts[2].handle",
                 "duplicate account bluesky:ec.europa.eu (already listed as account 1)", id="duplicate"),
    pytest.param('[collect]\nbackfill_days = 3\nrefresh_days = [\n', 3, None, "not valid TOML",
                 id="toml-syntax"),
    pytest.param('[collect]\nbackfil_days = 3\n', 2, "collect.backfil_days",
                 "unknown field 'backfil_days'", id="unknown-field"),
    pytest.param('[colect]\nbackfill_days = 3\n', 1, "colect", "unknown section 'colect'",
                 id="unknown-section"),
    pytest.param(ACCOUNT.replace('"ministry"', '"spy"'), 6, "accounts[1].kind",
                 "kind 'spy' is not one of", id="bad-kind"),
    pytest.param('[[alerts.rules]]\nname = "r"\nmetric = "post_count"\nthreshold = 1\nchannels = ["x"]\n',
                 5, "alerts.rules[1].channels", "unknown channel 'x'", id="rule-unknown-channel"),
    pytest.param('[[alerts.rules]]\nname = "r"\nmetric = "vibes"\nthreshold = 1\n', 3,
                 "alerts.rules[1].metric", "'vibes' is not one of", id="rule-bad-metric"),
    pytest.param('[bluesky]\nappview_url = "public.api.bsky.app"\n', 2, "bluesky.appview_url",
                 "must start with http", id="post-init-validation"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "line", "field", "message"), BAD)
def test_broken_config_names_file_line_and_field(write_config, body, line, field, message) -> None:
    path = write_config(body)
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    err = info.value
    assert (err.path, err.line, err.field) == (path, line, field)
    assert message in str(err)
    assert str(err).startswith(f"{path}, line {line}: ")
    assert "\n" not in str(err)


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="diplomonitor init"):
        load_settings(tmp_path / "nope.toml", {})


def test_health_address_from_the_environment_wins(write_config) -> None:
    """DIPLOMONITOR_HEALTH_ADDRESS gives each process on one machine its own /healthz port."""
    path = write_config('[service]\nhealth_address = "127.0.0.1:9464"\n')
    assert load_settings(path, {}).service.health_address == "127.0.0.1:9464"
    env = {"DIPLOMONITOR_HEALTH_ADDRESS": "127.0.0.1:0"}
    assert load_settings(path, env).service.health_address == "127.0.0.1:0"
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {"DIPLOMONITOR_HEALTH_ADDRESS": "localhost"})
    assert str(caught.value) == (
        f"{path}: DIPLOMONITOR_HEALTH_ADDRESS (environment): 'localhost' is not HOST:PORT, "
        "e.g. 127.0.0.1:9464 (port 0: any free port)"
    )
