from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from monitor.cli.main import cli
from monitor.config import load_settings


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


@pytest.mark.parametrize("path", [(), *[p for p, _ in _commands(cli)]], ids=lambda p: " ".join(p) or "root")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"], env={"DIPLOMONITOR_CONFIG": "/nonexistent.toml"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    command = cli
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert command.help, f"`diplomonitor {' '.join(path)}` has no help text"


def test_help_and_status_paths_import_no_models() -> None:
    code = (
        "import sys; import monitor.cli.main;"
        "heavy = {'torch', 'transformers', 'onnxruntime'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _run(config: Path, *args: str, input: str | None = None) -> click.testing.Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], input=input, env={})


def test_init_upgrade_sync_status_end_to_end(tmp_path: Path) -> None:
    config = tmp_path / "diplomonitor.toml"
    assert _run(config, "init").exit_code == 0
    assert _run(config, "init").exit_code == 1  # never overwrites silently
    assert load_settings(config, {}).accounts
    result = _run(config, "status")
    assert result.exit_code == 1 and "db upgrade" in result.output
    assert _run(config, "db", "upgrade").exit_code == 0
    assert _run(config, "db", "current").exit_code == 0
    sync = _run(config, "accounts", "sync", "--no-resolve")  # the starter accounts are not on loopback
    assert sync.exit_code == 0 and "6 added" in sync.output
    status = _run(config, "status", "--format", "csv")
    assert status.exit_code == 0
    assert status.output.splitlines()[0].startswith("platform,handle,country,kind,status,posts")
    assert len(status.output.splitlines()) == 7


def test_accounts_import_appends_to_config_and_rejects_bad_rows(tmp_path: Path) -> None:
    config = tmp_path / "diplomonitor.toml"
    config.write_text(
        '[[accounts]]\nplatform = "bluesky"\nhandle = "ec.europa.eu"\ncountry = "EU"\nkind = "ministry"\n',
        encoding="utf-8",
    )
    assert _run(config, "db", "upgrade").exit_code == 0
    good = tmp_path / "good.csv"
    good.write_text(
        "platform,handle,country,kind,name,groups\n"
        "bluesky,ec.europa.eu,EU,ministry,,\n"
        'mastodon,bmi@social.bund.de,DE,ministry,"Innen, Bund",germany;g7\n',
        encoding="utf-8",
    )
    result = _run(config, "accounts", "import", str(good))
    assert result.exit_code == 0, result.output
    assert "added 1 account(s)" in result.output and "2 added" in result.output
    (_, bmi) = load_settings(config, {}).accounts
    assert (bmi.name, bmi.groups) == ("Innen, Bund", ("germany", "g7"))
    before = config.read_text(encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("platform,handle,country,kind\nbluesky,x.bsky.social,ZZ,embassy\n", encoding="utf-8")
    result = _run(config, "accounts", "import", str(bad))
    assert result.exit_code == 1
    assert f"{bad}, line 2: country 'ZZ'" in result.output
    assert config.read_text(encoding="utf-8") == before
    listing = _run(config, "accounts", "list", "--format", "csv")
    rows = {r["handle"]: r for r in csv.DictReader(io.StringIO(listing.output))}
    assert (rows["bmi@social.bund.de"]["display_name"], rows["bmi@social.bund.de"]["groups"]) == (
        "Innen, Bund",
        "germany,g7",
    )


def test_broken_config_is_one_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "diplomonitor.toml"
    config.write_text("[collect]\nbackfill_days = -1\n", encoding="utf-8")
    result = _run(config, "status")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {config}, line 2: collect.backfill_days: backfill_days must be at least 1"
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_pulls_missing_models_before_the_service_and_goes_on_offline() -> None:
    """`make run` on a machine with internet scores posts without an extra step."""
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(["make", "-n", "run", "CONFIG=my.toml"], cwd=root, capture_output=True, text=True,
                         check=True).stdout.splitlines()  # fmt: skip
    steps = [line for line in out if "--config my.toml" in line]
    assert [s.split("--config my.toml ")[1].split(" ||")[0] for s in steps] == [
        "db upgrade", "accounts sync", "models pull", "run",
    ]  # fmt: skip
    assert " || " in steps[2]  # offline: the one-line error, then the service starts anyway
