"""ONNX export (torch.onnx.export, no extra converter) and int8 dynamic quantisation.

Done once per model version into cache_dir (by `diplomonitor models pull`, or on first load),
so a scoring process only loads the result.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from models import ModelIncompatible
from models.locate import Located

log = logging.getLogger(__name__)
OPSET = 17


def exported_path(located: Located, kind: str, cache_dir: Path, quantize: bool) -> Path:
    """Where the ONNX file of this model version lives inside cache_dir."""
    version = located.version.replace("sha256:", "")[:16]
    folder = cache_dir / "onnx" / f"{located.path.name}-{kind}-{version}"
    return folder / ("model.int8.onnx" if quantize else "model.onnx")


def ensure_onnx(located: Located, kind: str, cache_dir: Path, quantize: bool) -> Path:
    """The exported (and, if asked, quantised) ONNX file, created if missing."""
    target = exported_path(located, kind, cache_dir, quantize)
    if target.is_file():
        return target
    full = exported_path(located, kind, cache_dir, quantize=False)
    if not full.is_file():
        _export(located, kind, full)
    if quantize:
        _quantize(full, target)
    return target


def _export(located: Located, kind: str, target: Path) -> None:
    import torch

    from models.torch_modules import load_module

    log.info("exporting %s to ONNX in %s (once per model version)", located.name, target.parent)
    # Eager attention traces the padding mask as plain tensor ops (sdpa's fast paths would be
    # specialised to the example's mask); the example has padding so the mask path is kept.
    module = load_module(located.path, kind, attention="eager")  # type: ignore[arg-type]
    ids = torch.tensor([[0, 10, 11, 12, 13, 2], [0, 10, 11, 2, 1, 1]], dtype=torch.long)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], dtype=torch.long)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's tracer notes
            torch.onnx.export(
                module,
                (ids, mask),
                str(partial),
                input_names=["input_ids", "attention_mask"],
                output_names=["output"],
                dynamic_axes={**axes, "output": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
    except Exception as exc:  # the exporter raises many types; all mean "cannot export"
        partial.unlink(missing_ok=True)
        raise ModelIncompatible(f"cannot export {located.name} to ONNX: {exc}") from exc
    os.replace(partial, target)


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    log.info("quantising %s to int8", source)
    partial = target.with_suffix(".partial")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime logs a pre-processing hint on the root logger
    try:
        quantize_dynamic(str(source), str(partial), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    os.replace(partial, target)
