"""One TOML file -> frozen, validated settings.

`load_settings(path, environ)` takes the environment as an argument, so tests never read the
host's. Secrets are never written in the file: the file names environment variables, and
their values are kept in `Settings.secrets`, masked whenever they describe themselves.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from alerts.settings import ChannelSettings, Digest, Rule
from collectors.records import PLATFORMS
from collectors.settings import BlueskySettings, CollectSettings, MastodonSettings
from models.settings import ModelSettings
from monitor.configload import Builder, ConfigError
from monitor.countries import COUNTRY_CODES

__all__ = ["Account", "ConfigError", "Settings", "config_path", "load_settings"]

CONFIG_ENV = "DIPLOMONITOR_CONFIG"
DATABASE_ENV = "DIPLOMONITOR_DATABASE_URL"
HEALTH_ENV = "DIPLOMONITOR_HEALTH_ADDRESS"  # overrides [service].health_address (one per process)
DEFAULT_CONFIG = "diplomonitor.toml"
KINDS = (
    "ministry", "embassy", "consulate", "mission", "head_of_state", "head_of_government",
    "minister", "ambassador", "cultural_institute", "other",
)  # fmt: skip
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")
_MASTODON_USER = re.compile(r"^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$")


def normalise_handle(platform: str, handle: str) -> str:
    """Canonical form of a handle: lower-case, no leading '@'; ValueError if malformed."""
    value = handle.strip().lstrip("@").lower()
    if platform == "bluesky":
        if not _DOMAIN.match(value):
            raise ValueError(f"'{handle}' is not a Bluesky handle (a domain such as name.bsky.social)")
        return value
    user, sep, host = value.partition("@")
    if not sep or not _MASTODON_USER.match(user) or not _DOMAIN.match(host):
        raise ValueError(f"'{handle}' is not a Mastodon handle (user@instance, e.g. bmi@social.bund.de)")
    return value


@dataclass(frozen=True, slots=True)
class Account:
    """A watched account as configured."""

    platform: Literal["bluesky", "mastodon"]
    handle: str
    country: str  # sending country, ISO 3166-1 alpha-2
    kind: str
    host_country: str | None = None
    name: str | None = None
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "handle", normalise_handle(self.platform, self.handle))
        for attr in ("country", "host_country"):
            code = getattr(self, attr)
            if code is None:
                continue
            if code.upper() not in COUNTRY_CODES:
                raise ValueError(f"{attr} '{code}' is not an ISO 3166-1 alpha-2 code (e.g. FR, DE, EU)")
            object.__setattr__(self, attr, code.upper())
        if self.kind not in KINDS:
            raise ValueError(f"kind '{self.kind}' is not one of: {', '.join(KINDS)}")

    @property
    def key(self) -> tuple[str, str]:
        return (self.platform, self.handle)

    @property
    def instance(self) -> str | None:
        return self.handle.partition("@")[2] if self.platform == "mastodon" else None


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """`[database]`: the URL (a password belongs in DIPLOMONITOR_DATABASE_URL instead)."""

    url: str | None = None
    pool_size: int = 5
    echo: bool = False


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """`[schedule]`: how often each job runs (periods are aligned on the clock, from 00:00 UTC)."""

    collect_minutes: float = 15
    engagement_minutes: float = 60
    profiles_minutes: float = 360
    resolve_minutes: float = 1440  # re-resolve handles (a handle may move to another DID or server)
    score_minutes: float = 2
    alerts_minutes: float = 5
    deliver_seconds: float = 30
    digests_minutes: float = 5  # how often due digests are looked for (their hour is in [[alerts.digests]])

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


def check_address(address: str) -> str:
    """`address` if it is HOST:PORT (port 0: any free port), else ValueError."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"'{address}' is not HOST:PORT, e.g. 127.0.0.1:9464 (port 0: any free port)")
    return address


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """`[service]`: the long-running process."""

    health_address: str = "127.0.0.1:9464"  # port 0: any free port (logged at start)
    log_format: Literal["auto", "text", "json"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    stop_seconds: float = 8  # on SIGTERM, how long the batch in hand may take to finish
    workers: int = 8  # jobs that may run at the same time in one process

    def __post_init__(self) -> None:
        check_address(self.health_address)
        if not 0 < self.stop_seconds <= 9:
            raise ValueError("stop_seconds must be between 0 and 9 (the service exits within 10 seconds)")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")


@dataclass(frozen=True, slots=True)
class AlertsSettings:
    """`[alerts]`: rules, the channels they are sent to, digests, and how deliveries retry."""

    rules: tuple[Rule, ...] = ()
    channels: tuple[ChannelSettings, ...] = ()
    digests: tuple[Digest, ...] = ()
    retry_seconds: float = 60  # first retry of a failed delivery; doubles each time
    max_retry_seconds: float = 3600
    max_attempts: int = 50  # then the delivery is marked failed
    lease_seconds: float = 300  # a delivery being sent is retried after this if its sender died
    dashboard_url: str | None = None  # base URL of the dashboard, linked from every alert

    def __post_init__(self) -> None:
        for name in ("retry_seconds", "max_retry_seconds", "max_attempts", "lease_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.dashboard_url is not None and not re.match(r"^https?://[^\s/]+\S*$", self.dashboard_url):
            raise ValueError(f"dashboard_url '{self.dashboard_url}' is not an http(s) URL")


class Secrets(Mapping[str, str]):
    """Values of the environment variables the config names; never shown in full."""

    def __init__(self, values: Mapping[str, str]):
        self._values = dict(values)

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return "Secrets(" + ", ".join(f"{k}=***" for k in sorted(self._values)) + ")"


@dataclass(frozen=True)
class Settings:
    """Everything diplomonitor needs to run, validated."""

    path: Path
    database_url: str
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    collect: CollectSettings = field(default_factory=CollectSettings)
    bluesky: BlueskySettings = field(default_factory=BlueskySettings)
    mastodon: MastodonSettings = field(default_factory=MastodonSettings)
    models: ModelSettings = field(default_factory=ModelSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    alerts: AlertsSettings = field(default_factory=AlertsSettings)
    accounts: tuple[Account, ...] = ()
    secrets: Secrets = field(default_factory=lambda: Secrets({}), repr=False)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve_path(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def masked_database_url(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.database_url).render_as_string(hide_password=True)

    def describe(self) -> dict[str, Any]:
        """A loggable summary, with secrets masked."""
        return {
            "config": str(self.path),
            "database": self.masked_database_url(),
            "accounts": len(self.accounts),
            "platforms": sorted({a.platform for a in self.accounts}),
            "rules": [r.name for r in self.alerts.rules],
            "channels": [c.name for c in self.alerts.channels],
            "secrets_set": sorted(self.secrets),
        }


def config_path(explicit: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path:
    """The config file: --config, else $DIPLOMONITOR_CONFIG, else ./diplomonitor.toml."""
    return Path(explicit or environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


SECTIONS: dict[str, type] = {
    "database": DatabaseSettings,
    "collect": CollectSettings,
    "bluesky": BlueskySettings,
    "mastodon": MastodonSettings,
    "models": ModelSettings,
    "schedule": ScheduleSettings,
    "service": ServiceSettings,
}


def load_settings(path: str | os.PathLike[str], environ: Mapping[str, str]) -> Settings:
    """Read and validate the config file; raise ConfigError naming file, line and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "file not found (create one with `diplomonitor init`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"cannot read the file: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        line = int(found.group(1)) if found else len(text.splitlines()) or 1  # "at end of document"
        raise ConfigError(path, f"not valid TOML: {exc}", line) from None
    return _settings(Builder(path.absolute(), text), data, environ)


def _settings(b: Builder, data: dict[str, Any], environ: Mapping[str, str]) -> Settings:
    known = {*SECTIONS, "accounts", "alerts"}
    for key in data:
        if key not in known:
            raise b.error((key,), f"unknown section '{key}' (expected one of: {', '.join(sorted(known))})")
    sections: dict[str, Any] = {
        name: b.build(cls, data.get(name, {}), (name,)) for name, cls in SECTIONS.items()
    }
    accounts = _accounts(b, data.get("accounts", []))
    alerts = _alerts(b, data.get("alerts", {}), accounts)
    if environ.get(HEALTH_ENV):
        try:
            address = check_address(environ[HEALTH_ENV])
        except ValueError as exc:
            raise ConfigError(b.path, f"{HEALTH_ENV} (environment): {exc}") from None
        sections["service"] = replace(sections["service"], health_address=address)
    url = environ.get(DATABASE_ENV) or sections["database"].url
    database_url = _database_url(b, url)
    secrets = _secrets(environ, sections["bluesky"], sections["mastodon"], alerts)
    return Settings(
        path=b.path, database_url=database_url, accounts=accounts, alerts=alerts, secrets=secrets, **sections
    )


def _accounts(b: Builder, items: Any) -> tuple[Account, ...]:
    if not isinstance(items, list):
        raise b.error(("accounts",), "expected [[accounts]] tables")
    seen: dict[tuple[str, str], int] = {}
    out = []
    for i, item in enumerate(items):
        if isinstance(item, Mapping) and item.get("platform") not in (None, *PLATFORMS):
            raise b.error(
                ("accounts", i, "platform"),
                f"unknown platform {item['platform']!r} (expected 'bluesky' or 'mastodon')",
            )
        account = b.build(Account, item, ("accounts", i))
        if account.key in seen:
            raise b.error(
                ("accounts", i, "handle"),
                f"duplicate account {account.platform}:{account.handle} "
                f"(already listed as account {seen[account.key] + 1})",
            )
        seen[account.key] = i
        out.append(account)
    return tuple(out)


def _alerts(b: Builder, data: Any, accounts: tuple[Account, ...]) -> AlertsSettings:
    if not isinstance(data, Mapping):
        raise b.error(("alerts",), "expected an [alerts] table")
    raw_channels = data.get("channels", {})
    if not isinstance(raw_channels, Mapping):
        raise b.error(("alerts", "channels"), "expected [alerts.channels.NAME] tables")
    channels = tuple(
        b.build(ChannelSettings, v, ("alerts", "channels", k), name=k) for k, v in raw_channels.items()
    )
    lists: dict[str, Any] = {}
    for key, cls in (("rules", Rule), ("digests", Digest)):
        raw = data.get(key, [])
        if not isinstance(raw, list):
            raise b.error(("alerts", key), f"expected [[alerts.{key}]] tables")
        lists[key] = tuple(b.build(cls, v, ("alerts", key, i)) for i, v in enumerate(raw))
    for key in ("rules", "digests"):
        names: set[str] = set()
        for i, item in enumerate(lists[key]):
            if item.name in names:
                raise b.error(("alerts", key, i, "name"), f"duplicate name '{item.name}'")
            names.add(item.name)
            for channel in item.channels:
                if channel not in raw_channels:
                    raise b.error(
                        ("alerts", key, i, "channels"),
                        f"unknown channel '{channel}' (define it as [alerts.channels.{channel}])",
                    )
            _check_scope(b, ("alerts", key, i), item.scope, item.scope_value, accounts)
    rest = {k: v for k, v in data.items() if k not in ("rules", "channels", "digests")}
    return b.build(AlertsSettings, rest, ("alerts",), channels=channels, **lists)


def _check_scope(
    b: Builder, at: tuple[str | int, ...], scope: str, value: str | None, accounts: tuple[Account, ...]
) -> None:
    wanted = (value or "").lstrip("@").lower()
    known = {
        "account": {a.handle for a in accounts},
        "group": {g for a in accounts for g in a.groups},
        "country": {a.country.lower() for a in accounts},
        "platform": set(PLATFORMS),
    }.get(scope)
    if known is not None and wanted not in {k.lower() for k in known}:
        where = "bluesky or mastodon" if scope == "platform" else "among the configured accounts"
        raise b.error((*at, "scope_value"), f"{scope} '{value}' is not {where}")


def _database_url(b: Builder, url: str | None) -> str:
    from sqlalchemy.engine import make_url

    if not url:
        return f"sqlite:///{b.path.parent / 'diplomonitor.db'}"
    try:
        parsed = make_url(url)
    except Exception:
        raise b.error(
            ("database", "url"), "not a database URL (e.g. postgresql+psycopg://user@host/db)"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise b.error(("database", "url"), "diplomonitor supports sqlite and postgresql URLs")
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    db = parsed.database
    if parsed.get_backend_name() == "sqlite" and db and db != ":memory:" and not Path(db).is_absolute():
        parsed = parsed.set(database=str(b.path.parent / db))
    return parsed.render_as_string(hide_password=False)


def _secrets(
    environ: Mapping[str, str], bluesky: BlueskySettings, mastodon: MastodonSettings, alerts: AlertsSettings
) -> Secrets:
    names = {bluesky.password_env}
    for c in alerts.channels:
        names.update(n for n in (c.url_env, c.password_env, c.token_env) if n)
    values = {n: environ[n] for n in names if environ.get(n)}
    values.update({k: v for k, v in environ.items() if k.startswith(mastodon.token_env_prefix) and v})
    return Secrets(values)
