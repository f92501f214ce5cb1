"""`diplomonitor classify` and `diplomonitor models ...`: scoring posts and getting the models."""

from __future__ import annotations

import os
from dataclasses import asdict

import click

from monitor.cli.app import App, emit, output_options, pass_app, progress


@click.command()
@click.option(
    "--rescore", is_flag=True, help="Score every post again, even those scored by the current models."
)
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Score at most N posts.")
@pass_app
def classify(app: App, rescore: bool, limit: int | None) -> None:
    """Score unscored posts: language, sentiment and soft-power topics."""
    from models import ModelError
    from monitor import scoring
    from monitor.compose import build_scorer

    engine = app.ready_engine()
    scorer = build_scorer(app.settings)
    try:
        scorer.versions()  # a missing model: one clear error before anything is drawn
        total = scoring.unscored_count(engine, scorer, rescore=rescore)
        total = min(total, limit) if limit else total
        with progress(range(total), total, "scoring") as bar:
            report = scoring.score_pending(
                engine, scorer, limit=limit, rescore=rescore, now=app.now(), progress=bar.update
            )
    except ModelError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"scored {report.scored} post(s) in {report.batches} batch(es)")


@click.group()
def models() -> None:
    """Get the scoring models for offline use and check them."""


def _model_paths(app: App) -> dict[str, object]:
    s = app.settings
    return {"cache_dir": s.resolve_path(s.models.cache_dir), "base_dir": s.base_dir}


@models.command("pull")
@pass_app
def models_pull(app: App) -> None:
    """Download the configured models into cache_dir (and export them for ONNX Runtime)."""
    from models import ModelError
    from models.pull import pull_models

    try:
        rows = pull_models(app.settings.models, environ=os.environ, **_model_paths(app))  # type: ignore[arg-type]
    except ModelError as exc:
        raise click.ClickException(str(exc)) from None
    for row in rows:
        click.echo(f"{row.role}: {row.name} at {row.location} (version {row.version})")
    click.echo(f"models ready in {_model_paths(app)['cache_dir']}")


@models.command("info")
@click.option("--no-load", is_flag=True, help="Only look for the models on disk, do not load them.")
@output_options
@pass_app
def models_info(app: App, no_load: bool, fmt: str) -> None:
    """Show the configured models, where they are, their version and whether they load."""
    from models.language import LanguageDetector
    from models.pull import describe_models
    from models.taxonomy import load_taxonomy

    s = app.settings.models
    rows = [asdict(r) for r in describe_models(s, load=not no_load, **_model_paths(app))]  # type: ignore[arg-type]
    topics = load_taxonomy(s.topics_file and app.settings.resolve_path(s.topics_file))
    detector = LanguageDetector(s.languages)
    rows += [
        {"role": "language", "name": detector.model_name.split(":")[0], "location": "bundled",
         "version": f"{len(s.languages)} languages", "status": "ok"},
        {"role": "topics", "name": f"{len(topics.topics)} topics", "location": s.topics_file or "bundled",
         "version": topics.version, "status": "ok"},
    ]  # fmt: skip
    if fmt == "table":
        precision = "int8" if s.quantize else "full precision"
        click.echo(f"runtime: {s.runtime} ({precision}), cache: {_model_paths(app)['cache_dir']}")
    emit(rows, ["role", "name", "location", "version", "status"], fmt)
    if any(r["status"] not in ("ok", "not loaded", "switched off") for r in rows):
        raise SystemExit(1)
