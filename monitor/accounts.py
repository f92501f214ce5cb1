"""The accounts registry: the config file is the source of truth, the database follows it."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, update

from monitor.config import Account, Settings, load_settings
from monitor.errors import ConfigError
from monitor.schema import accounts

CSV_COLUMNS = ("platform", "handle", "country", "kind", "host_country", "name", "groups")


def read_accounts_csv(path: Path) -> list[Account]:
    """Accounts from a CSV file (columns as CSV_COLUMNS; groups separated by ';')."""
    out = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"platform", "handle", "country", "kind"} - set(reader.fieldnames or ())
        if missing:
            raise ConfigError(path, f"missing column(s): {', '.join(sorted(missing))}", line=1)
        for row in reader:
            unknown = set(row) - set(CSV_COLUMNS)
            if unknown - {None}:
                raise ConfigError(path, f"unknown column(s): {', '.join(sorted(unknown - {None}))}", line=1)
            groups = tuple(g.strip() for g in (row.get("groups") or "").split(";") if g.strip())
            try:
                out.append(
                    Account(
                        platform=(row["platform"] or "").strip(),  # type: ignore[arg-type]
                        handle=(row["handle"] or "").strip(),
                        country=(row["country"] or "").strip(),
                        kind=(row["kind"] or "").strip(),
                        host_country=(row.get("host_country") or "").strip() or None,
                        name=(row.get("name") or "").strip() or None,
                        groups=groups,
                    )
                )
            except ValueError as exc:
                raise ConfigError(path, str(exc), line=reader.line_num) from None
            if out[-1].platform not in ("bluesky", "mastodon"):
                raise ConfigError(path, f"unknown platform '{out[-1].platform}'", line=reader.line_num)
    return out


def to_toml(account: Account) -> str:
    """One [[accounts]] table; strings are JSON-escaped, which TOML basic strings accept."""
    fields: Mapping[str, object] = {
        "platform": account.platform,
        "handle": account.handle,
        "country": account.country,
        "kind": account.kind,
        "host_country": account.host_country,
        "name": account.name,
        "groups": list(account.groups) or None,
    }
    lines = ["[[accounts]]"]
    lines += [f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in fields.items() if v is not None]
    return "\n".join(lines) + "\n"


def import_accounts(settings: Settings, new: list[Account], environ: Mapping[str, str]) -> list[Account]:
    """Append accounts not yet configured to the config file; the file stays valid or unchanged."""
    known = {a.key for a in settings.accounts}
    fresh: dict[tuple[str, str], Account] = {}
    for a in new:
        if a.key not in known:
            fresh.setdefault(a.key, a)
    if not fresh:
        return []
    path = settings.path
    before = path.read_text(encoding="utf-8")
    addition = "\n" + "\n".join(to_toml(a) for a in fresh.values())
    path.write_text(before.rstrip("\n") + "\n" + addition, encoding="utf-8")
    try:
        load_settings(path, environ)
    except ConfigError:
        path.write_text(before, encoding="utf-8")
        raise
    return list(fresh.values())


@dataclass(frozen=True, slots=True)
class SyncReport:
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    reactivated: tuple[str, ...] = ()
    deactivated: tuple[str, ...] = ()


def sync_accounts(conn: Connection, configured: Sequence[Account], now: datetime) -> SyncReport:
    """Make the accounts table match the config; removed accounts are deactivated, never deleted."""
    existing = {(r.platform, r.handle): r for r in conn.execute(select(accounts))}
    added, updated, reactivated = [], [], []
    for a in configured:
        values = {
            "country": a.country,
            "kind": a.kind,
            "host_country": a.host_country,
            "groups": list(a.groups),
            "display_name": a.name,
        }
        row = existing.get(a.key)
        label = f"{a.platform}:{a.handle}"
        if row is None:
            conn.execute(
                accounts.insert().values(
                    platform=a.platform,
                    handle=a.handle,
                    instance=a.instance,
                    active=True,
                    created_at=now,
                    updated_at=now,
                    **values,
                )
            )
            added.append(label)
            continue
        changed: dict[str, Any] = {k: v for k, v in values.items() if getattr(row, k) != v and v is not None}
        if not row.active:
            reactivated.append(label)
            changed.update(active=True, deactivated_at=None)
        elif changed:
            updated.append(label)
        if changed:
            conn.execute(update(accounts).where(accounts.c.id == row.id).values(updated_at=now, **changed))
    keys = {a.key for a in configured}
    gone = [r for k, r in existing.items() if k not in keys and r.active]
    for r in gone:
        conn.execute(
            update(accounts)
            .where(accounts.c.id == r.id)
            .values(active=False, deactivated_at=now, updated_at=now)
        )
    return SyncReport(
        tuple(added), tuple(updated), tuple(reactivated), tuple(f"{r.platform}:{r.handle}" for r in gone)
    )
