"""Getting models onto disk (`diplomonitor models pull`) and describing them (`models info`).

Pulling downloads each configured hub model into cache_dir/<org>--<name> at a pinned commit
and, for the ONNX runtime, exports and quantises it there once; a network without internet
access copies that folder. HF_HUB_OFFLINE=1 is honoured: nothing is downloaded, and models
that are not already there are reported as unavailable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from models import ModelError, ModelUnavailable
from models.locate import SOURCE_FILE, Located, locate, looks_like_path, safe_name
from models.settings import ModelSettings

log = logging.getLogger(__name__)
KINDS = {"sentiment": "classifier", "embedding": "encoder"}
# What transformers needs (weights, configs, tokenizer); other frameworks' weights are skipped.
ALLOW = ["*.json", "*.txt", "*.model", "*.safetensors", "1_Pooling/*"]
TRUTHY = {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One configured model: where it is, which version, whether it loads."""

    role: str
    name: str
    location: str | None
    version: str | None
    status: str  # "ok", "not loaded" (each possibly with advice after "; "), or what is wrong


def offline(environ: Mapping[str, str]) -> bool:
    """Whether HF_HUB_OFFLINE asks for no network access."""
    return environ.get("HF_HUB_OFFLINE", "").strip().lower() in TRUTHY


def pull_models(
    settings: ModelSettings, *, cache_dir: Path, base_dir: Path, environ: Mapping[str, str]
) -> list[ModelInfo]:
    """Download (unless local or offline) and prepare every configured model for offline use."""
    out = []
    for role, name in (("sentiment", settings.sentiment), ("embedding", settings.embedding)):
        if not name:
            continue
        located = _get(role, name, settings, cache_dir=cache_dir, base_dir=base_dir, environ=environ)
        if settings.runtime == "onnx":
            from models.export import ensure_onnx

            ensure_onnx(located, KINDS[role], cache_dir, settings.quantize)
        out.append(ModelInfo(role, name, str(located.path), located.version, "ok"))
    return out


def _get(
    role: str, name: str, s: ModelSettings, *, cache_dir: Path, base_dir: Path, environ: Mapping[str, str]
) -> Located:
    try:
        return locate(name, role=role, cache_dir=cache_dir, base_dir=base_dir)
    except ModelUnavailable:
        if looks_like_path(name):
            raise
    if offline(environ):
        raise ModelUnavailable(
            f"{role} model '{name}' is not in {cache_dir} and HF_HUB_OFFLINE is set: unset it to "
            f"download, or copy a pulled {cache_dir.name} folder from a machine with internet access"
        )
    return _download(role, name, cache_dir / safe_name(name), s.hub_endpoint)


def _download(role: str, name: str, folder: Path, endpoint: str | None) -> Located:
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import HTTPError

    log.info("downloading %s model %s into %s", role, name, folder)
    try:
        revision = HfApi(endpoint=endpoint).model_info(name).sha
        snapshot_download(name, revision=revision, local_dir=folder, allow_patterns=ALLOW, endpoint=endpoint)
    except (OSError, ValueError, HTTPError) as exc:  # connection, HTTP status, offline, bad id
        hub = endpoint or "https://huggingface.co"
        raise ModelUnavailable(f"cannot download {role} model '{name}' from {hub}: {exc}") from None
    (folder / SOURCE_FILE).write_text(json.dumps({"repo_id": name, "revision": revision}), encoding="utf-8")
    return Located(name, folder, str(revision))


def describe_models(
    settings: ModelSettings, *, cache_dir: Path, base_dir: Path, load: bool
) -> list[ModelInfo]:
    """What is configured, where it is, and (with `load`) whether it loads."""
    from models.runtime import load_text_model

    rows = []
    for role, name in (("sentiment", settings.sentiment), ("embedding", settings.embedding)):
        if not name:
            rows.append(ModelInfo(role, "(off)", None, None, "switched off"))
            continue
        try:
            located = locate(name, role=role, cache_dir=cache_dir, base_dir=base_dir)
        except ModelError as exc:
            rows.append(ModelInfo(role, name, None, None, str(exc)))
            continue
        status = "not loaded"
        if load:
            try:
                load_text_model(located, KINDS[role], runtime=settings.runtime, quantize=settings.quantize,  # type: ignore[arg-type]
                                cache_dir=cache_dir, threads=settings.threads)  # fmt: skip
                status = "ok"
            except ModelError as exc:
                status = str(exc)
        if role == "embedding" and settings.calibration_for(name) is None:
            status += (
                "; not calibrated, so topics use keyword rules only: run "
                "`diplomonitor models eval FILE --fit-calibration` and add [models] calibration"
            )
        rows.append(ModelInfo(role, name, str(located.path), located.version, status))
    return rows
