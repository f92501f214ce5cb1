"""`diplomonitor init`: a documented starter config."""

from __future__ import annotations

from pathlib import Path

import click

from monitor.cli.app import App, pass_app

TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "diplomonitor.toml"


@click.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@pass_app
def init(app: App, path: Path | None, force: bool) -> None:
    """Write a documented starter config (default: the --config path)."""
    target = path or app.config_path
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; use --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(TEMPLATE.read_text(encoding="utf-8"), encoding="utf-8")
    click.echo(f"wrote {target}; next: diplomonitor --config {target} db upgrade")
