"""A tokenizer and a network run together: sorted by length, dynamically padded, batched.

`load_text_model` is the one loading path (production, tests and benchmark alike): ONNX
Runtime (exported once into cache_dir, int8 by default) or torch (fp32, or torch's int8
dynamic quantisation).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from models import ModelIncompatible
from models.locate import Located

log = logging.getLogger(__name__)
Kind = Literal["classifier", "encoder"]
_ROBERTA_LIKE = {"roberta", "xlm-roberta", "camembert", "xlm-roberta-xl"}


class Forward(Protocol):
    """A network: (input_ids, attention_mask), both int64 [batch, tokens] -> float32 [batch, n]."""

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray: ...


class TorchForward:
    def __init__(self, module: Any):
        self.module = module

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.module(torch.from_numpy(input_ids), torch.from_numpy(attention_mask))
        return out.float().numpy()


class OnnxForward:
    def __init__(self, path: Path, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelIncompatible(f"ONNX Runtime cannot load {path}: {exc}") from exc

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32)


@dataclass
class TextModel:
    """Texts in, one float vector per text out (logits or a sentence embedding)."""

    located: Located
    tokenizer: Any
    forward: Forward
    config: Any
    max_length: int
    batch_size: int
    runtime: str

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, truncated to the model's maximum length, unpadded."""
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_length, padding=False)
        return [list(ids) for ids in enc["input_ids"]]

    def run(self, texts: Sequence[str]) -> np.ndarray:
        """One output row per text, in the order given."""
        return self.run_encoded(self.encode(texts))

    def run_encoded(self, encoded: Sequence[Sequence[int]]) -> np.ndarray:
        """Forward passes over length-sorted batches, each padded to its own longest text."""
        pad = self.tokenizer.pad_token_id or 0
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out: np.ndarray | None = None
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            width = max(len(encoded[i]) for i in chunk)
            ids = np.full((len(chunk), width), pad, dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                ids[row, : len(encoded[i])] = encoded[i]
                mask[row, : len(encoded[i])] = 1
            result = self.forward(ids, mask)
            if out is None:
                out = np.empty((len(encoded), result.shape[1]), dtype=np.float32)
            out[chunk] = result
        return out if out is not None else np.empty((0, 0), dtype=np.float32)


def load_text_model(
    located: Located,
    kind: Kind,
    *,
    runtime: str,
    quantize: bool,
    cache_dir: Path,
    batch_size: int = 16,
    max_length: int = 0,
    threads: int = 0,
) -> TextModel:
    """Tokenizer + network of a located model, ready to run."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(located.path, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(located.path, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelIncompatible(f"cannot read the tokenizer or config in {located.path}: {exc}") from None
    forward: Forward
    if runtime == "onnx":
        from models.export import ensure_onnx

        forward = OnnxForward(ensure_onnx(located, kind, cache_dir, quantize), threads)
    else:
        forward = _torch_forward(located, kind, quantize, threads)
    limit = model_max_length(config, tokenizer)
    length = min(limit, max_length) if max_length else limit
    label = f"{runtime}{'-int8' if quantize else '-fp32'}"
    log.info("loaded %s (%s, %s, max %d tokens)", located.name, kind, label, length)
    return TextModel(located, tokenizer, forward, config, length, batch_size, label)


def _torch_forward(located: Located, kind: Kind, quantize: bool, threads: int) -> TorchForward:
    import torch

    from models.torch_modules import load_module, quantize_int8

    if threads:
        torch.set_num_threads(threads)
    module = load_module(located.path, kind)
    return TorchForward(quantize_int8(module) if quantize else module)


def model_max_length(config: Any, tokenizer: Any) -> int:
    """Tokens a model accepts: its position table (less RoBERTa's offset) and the tokenizer's."""
    limit = int(getattr(config, "max_position_embeddings", 512) or 512)
    if getattr(config, "model_type", "") in _ROBERTA_LIKE:
        limit -= int(getattr(config, "pad_token_id", 1) or 1) + 1
    declared = getattr(tokenizer, "model_max_length", limit) or limit
    return int(min(limit, declared))
