"""Where a configured model lives on disk, and which version it is.

A model is looked for, in order: as a local folder (absolute, or relative to the config), in
`cache_dir` (where `diplomonitor models pull` puts it), then in the Hugging Face cache. The
network is never used here: downloading is `models pull`'s job (models.pull).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from models import ModelUnavailable

SOURCE_FILE = "diplomonitor-source.json"  # written by `models pull`: repo id and commit
WEIGHTS = ("*.safetensors", "pytorch_model*.bin")
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Located:
    """A model folder found on disk."""

    name: str  # as configured: a hub id or a folder
    path: Path
    version: str  # the hub commit it was pulled at, else a hash of its config and weights


def safe_name(name: str) -> str:
    """The folder name of a hub id inside cache_dir ("org/model" -> "org--model")."""
    return name.strip("/").replace("/", "--")


def looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or "\\" in name


def locate(name: str, *, cache_dir: Path, base_dir: Path, role: str) -> Located:
    """Find a model without the network; ModelUnavailable says how to get it."""
    local = Path(name).expanduser()
    local = local if local.is_absolute() else base_dir / local
    if (local / "config.json").is_file():
        return Located(name, local, model_version(local))
    if looks_like_path(name):
        raise ModelUnavailable(f"{role} model folder {local} has no config.json: check [models] {role}")
    pulled = cache_dir / safe_name(name)
    if (pulled / "config.json").is_file():
        return Located(name, pulled, model_version(pulled))
    cached = _hub_cache(name)
    if cached is not None:
        return Located(name, cached, model_version(cached))
    raise ModelUnavailable(
        f"{role} model '{name}' is not in {cache_dir} nor in the Hugging Face cache: run "
        f"`diplomonitor models pull` (on a network without internet access, copy a pulled "
        f"{cache_dir.name} folder next to the config)"
    )


def _hub_cache(name: str) -> Path | None:
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(name, local_files_only=True))
    except (OSError, ValueError):  # not cached, or not a valid hub id
        return None
    return folder if (folder / "config.json").is_file() else None


def model_version(folder: Path) -> str:
    """The hub commit `models pull` recorded, the snapshot's commit, else a content hash."""
    source = folder / SOURCE_FILE
    if source.is_file():
        revision = json.loads(source.read_text(encoding="utf-8")).get("revision")
        if revision:
            return str(revision)
    if folder.parent.name == "snapshots":
        return folder.name
    digest = hashlib.sha256((folder / "config.json").read_bytes())
    for pattern in WEIGHTS:
        for weights in sorted(folder.glob(pattern)):
            size = weights.stat().st_size
            digest.update(f"{weights.name}:{size}".encode())
            with weights.open("rb") as fh:  # head and tail: cheap, and differ between trainings
                digest.update(fh.read(_CHUNK))
                fh.seek(max(0, size - _CHUNK))
                digest.update(fh.read(_CHUNK))
    return "sha256:" + digest.hexdigest()[:16]
