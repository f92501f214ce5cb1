"""The two network heads diplomonitor runs, as torch modules taking (input_ids, attention_mask).

Imported only when a model is loaded: importing this module imports torch and transformers.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from models import ModelIncompatible

Kind = Literal["classifier", "encoder"]


class Logits(nn.Module):
    """A sequence classifier returning its logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


class MeanPooled(nn.Module):
    """A sentence encoder: mean of the token states under the mask, L2-normalised."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, p=2.0, dim=-1)


def load_module(folder: Path, kind: Kind, *, attention: str = "sdpa") -> nn.Module:
    """The model in `folder` wrapped for `kind`, in eval mode (fp32)."""
    from transformers import AutoModel, AutoModelForSequenceClassification
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a service logs; it draws no progress bars
    cls = AutoModelForSequenceClassification if kind == "classifier" else AutoModel
    try:
        model = cls.from_pretrained(folder, local_files_only=True, attn_implementation=attention)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelIncompatible(f"cannot load the model in {folder} as a {kind}: {exc}") from None
    module = Logits(model) if kind == "classifier" else MeanPooled(model)
    return module.eval()


def quantize_int8(module: nn.Module) -> nn.Module:
    """torch's int8 dynamic quantisation of the Linear layers (embeddings stay fp32)."""
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():  # torch.ao is deprecated in favour of torchao, still works
        warnings.simplefilter("ignore")
        return quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)
