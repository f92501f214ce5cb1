"""`diplomonitor classify` and `diplomonitor models ...`: scoring posts and getting the models."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from monitor.cli.app import App, emit, output_options, pass_app, progress


@click.command()
@click.option(
    "--rescore", is_flag=True, help="Score every post again, even those scored by the current models."
)
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Score at most N texts (posts first).")
@pass_app
def classify(app: App, rescore: bool, limit: int | None) -> None:
    """Score unscored posts, then the replies and quotes collected for them: language,
    sentiment and soft-power topics."""
    from models import ModelError
    from monitor import scoring
    from monitor.compose import build_scorer

    engine = app.ready_engine()
    scorer = build_scorer(app.settings)
    try:
        for role, why in scorer.versions().missing:  # scored without it now, completed once it is there
            click.echo(f"warning: scoring without {role}: {why}", err=True)
        total = scoring.unscored_count(engine, scorer, rescore=rescore)
        total = min(total, limit) if limit else total
        with progress(range(total), total, "scoring") as bar:
            report = scoring.score_pending(
                engine, scorer, limit=limit, rescore=rescore, now=app.now(), progress=bar.update
            )
    except ModelError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"scored {report.scored} post(s) and {report.answers} answer(s) in {report.batches} batch(es)")


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
    rows += _rule_rows(topics.rule_languages, s.languages)
    emit(rows, ["role", "name", "location", "version", "status"], fmt)
    fine = ("ok", "not loaded", "switched off")
    if any(not str(r["status"]).startswith(fine) and not r.get("advice") for r in rows):
        raise SystemExit(1)


def _rule_rows(ruled: tuple[str, ...], detected: tuple[str, ...]) -> list[dict[str, object]]:
    """Which detected languages have keyword rules, and which do not (their topics: encoder only)."""
    covered = [c for c in detected if c in ruled]
    missing = [c for c in detected if c not in ruled]
    row: dict[str, object] = {"role": "keyword rules", "location": "topics file"}
    rows: list[dict[str, object]] = [
        row | {"name": " ".join(covered) or "(none)", "version": f"{len(covered)} languages", "status": "ok"}
    ]
    if missing:
        advice = "no keyword rules: topics from the encoder only, else counted as no_rules"
        rows.append(row | {"name": " ".join(missing), "version": f"{len(missing)} languages",
                           "status": advice, "advice": True})  # fmt: skip
    return rows


@models.command("eval")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of tables.")
@click.option("--compare-runtime", is_flag=True,
              help="Also score with int8 and full precision; print their label agreement.")  # fmt: skip
@click.option("--fit-calibration", is_flag=True,
              help="Suggest the encoder's calibration and topic thresholds from this file.")  # fmt: skip
@click.option("--confusions", type=click.IntRange(min=0), default=10, show_default=True, metavar="N",
              help="How many of the worst confusions to show.")  # fmt: skip
@pass_app
def models_eval(app: App, file: Path, as_json: bool, compare_runtime: bool, fit_calibration: bool,
                confusions: int) -> None:  # fmt: skip
    """Check the models against posts you labelled: FILE has one JSON object a line with `text`,
    `topics` (a list of topic ids), and optionally `lang` and `sentiment`."""
    from models import ModelError, calibrate
    from models import evaluate as ev
    from monitor.compose import build_scorer

    scorer = build_scorer(app.settings)
    s, base = app.settings.models, app.settings.base_dir
    try:
        posts = ev.read_labelled(file, scorer.taxonomy.keys)
        versions = scorer.versions()
        report = ev.evaluate(posts, ev.predict(scorer, posts), scorer.taxonomy.keys)
        report.confusions = report.confusions[:confusions]
        extra: dict[str, Any] = {"parts": list(versions.parts), "missing": dict(versions.missing)}
        if compare_runtime:
            extra["compare_runtime"] = calibrate.compare_precision(s, base, posts)
        if fit_calibration:
            extra["fit_calibration"] = asdict(calibrate.fit(s, base, posts)) | {"encoder": s.embedding}
    except ModelError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report.as_dict() | extra, ensure_ascii=False, indent=2))
        return
    _print_report(report, extra)


def _print_report(report: Any, extra: dict[str, Any]) -> None:
    from models.evaluate import NONE

    click.echo(f"{report.posts} posts; scored with: {', '.join(extra['parts'])}")
    for role, why in extra["missing"].items():
        click.echo(f"  without {role}: {why}")
    topics = [{"topic": k, **v} for k, v in report.topics.items() if v["support"] or v["predicted"]]
    emit(topics, ["topic", "precision", "recall", "f1", "support", "predicted"])  # --json: every topic
    m = report.micro
    click.echo(f"\nmicro: precision {m['precision']:.3f}  recall {m['recall']:.3f}  F1 {m['f1']:.3f}   "
               f"macro F1 {report.macro_f1:.3f}   "
               f"language accuracy {_pct(report.language_accuracy)}")  # fmt: skip
    if report.no_rules:
        click.echo(f"{report.no_rules} post(s) in a language without keyword rules and no encoder (no_rules)")
    click.echo("\nper language")
    langs = [{"language": k, **v, "language_accuracy": _pct(v["language_accuracy"])}
             for k, v in report.languages.items()]  # fmt: skip
    emit(langs, ["language", "posts", "precision", "recall", "f1", "no_rules", "language_accuracy"])
    if report.confusions:
        click.echo("\nworst confusions (labelled -> given instead)")
    for c in report.confusions:
        what = f"added {c.predicted}" if c.expected == NONE else f"{c.expected} -> {c.predicted}"
        click.echo(f"  {c.count:3d}  {what}")
        for example in c.examples:
            click.echo(f"         e.g. {example}")
    if "sentiment" in extra["missing"]:
        click.echo("\nsentiment: not checked, the sentiment model is not there")
    if report.sentiment:
        click.echo("\nsentiment (where labelled)")
        emit(
            [{"language": k, **v} for k, v in report.sentiment.items()],
            ["language", "posts", "accuracy", "macro_f1"],
        )
    if "compare_runtime" in extra:
        c = extra["compare_runtime"]
        click.echo(f"\n{c['runtime']} int8 vs full precision on {c['posts']} posts: "
                   f"sentiment labels agree {_pct(c['sentiment_agreement'])}, "
                   f"topic sets agree {_pct(c['topic_agreement'])}")  # fmt: skip
    if "fit_calibration" in extra:
        _print_fit(extra["fit_calibration"])


def _print_fit(f: dict[str, Any]) -> None:
    click.echo(f"\nsuggested for {f['encoder']} (micro F1 on this file with them: {f['micro_f1']:.3f}); "
               "add to the config and check on posts you did not fit on:\n")  # fmt: skip
    click.echo("[models]")
    if f["thresholds"]:
        pairs = ", ".join(f"{k} = {v}" for k, v in sorted(f["thresholds"].items()))
        click.echo(f"topic_thresholds = {{ {pairs} }}")
    click.echo(f'\n[models.calibration."{f["encoder"]}"]\nfloor = {f["floor"]}\nceiling = {f["ceiling"]}')


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
