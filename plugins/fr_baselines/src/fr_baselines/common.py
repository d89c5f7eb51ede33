"""What the six rewards share: dtype names, checkpoint files, safe weight loading, the MLP head.

Imported only by the model modules (it imports torch), never by `plugin.py`.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from finerewards import resolve_model
from finerewards.checkpoints import load_tensor_file
from finerewards.errors import UsageError

if TYPE_CHECKING:
    from PIL.Image import Image

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype for the core's dtype name ("float32", "float16", "bfloat16")."""
    try:
        return DTYPES[name]
    except KeyError:
        raise UsageError(f"unknown dtype {name!r} (use {', '.join(DTYPES)})") from None


def checkpoint_path(ref: str, filename: str) -> str:
    """A local path to `filename` from a file, a folder, or a hub repo (cache-aware download).

    Published reward heads (HPSv2, ImageReward, the aesthetic MLP) ship as single files inside
    a hub repo, not as transformers folders; this resolves them the same way for every reward.
    """
    where = resolve_model(ref)
    if os.path.isfile(where):
        return where
    if os.path.isdir(where):
        path = Path(where) / filename
        if not path.is_file():
            raise UsageError(f"checkpoint {filename!r} not found in {where}")
        return str(path)
    from huggingface_hub import hf_hub_download

    return hf_hub_download(where, filename)


def load_state_dict(path: str) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file or of a torch checkpoint, without unpickling code.

    `.pt`/`.pth` files load with `weights_only=True`; a checkpoint that wraps its tensors in
    {"state_dict": ...} (HPSv2's) is unwrapped, and DataParallel's "module." prefix is removed.
    """
    state = load_tensor_file(path)
    if "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    out = {}
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            out[key.removeprefix("module.")] = value
    return out


class MLPHead(nn.Module):
    """The improved-aesthetic-predictor MLP, also ImageReward's: 5 linear layers, no activation.

    Its state-dict keys are those of the published checkpoints: layers.{0,2,4,6,7}.{weight,bias}
    (the odd indices are dropout layers, inert in eval mode).
    """

    def __init__(self, input_size: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(input_size, 1024),
            nn.Dropout(0.2),
            nn.Linear(1024, 128),
            nn.Dropout(0.2),
            nn.Linear(128, 64),
            nn.Dropout(0.1),
            nn.Linear(64, 16),
            nn.Linear(16, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features).squeeze(-1)


def load_mlp_head(path: str, input_size: int) -> MLPHead:
    """An MLPHead with the published weights (strict: every key and shape must match)."""
    head = MLPHead(input_size)
    state = load_state_dict(path)
    try:
        head.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise UsageError(
            f"{path} is not an aesthetic/ImageReward MLP of input size {input_size}: {exc}"
        ) from None
    return head.eval()


def rgb(images: Sequence[Image]) -> list[Image]:
    """Every image as RGB (grey, palette and RGBA renders all arrive here)."""
    return [image if image.mode == "RGB" else image.convert("RGB") for image in images]


def check_pairs(images: Sequence[Any], prompts: Sequence[str]) -> None:
    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images but {len(prompts)} prompts")


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report while loading a sub-model from a larger checkpoint."""
    from transformers.utils import logging

    before = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(before)


def free(device: str) -> None:
    """Give memory back after a model is dropped (the trainer loads rewards phase by phase)."""
    gc.collect()
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()


def text_length(tokenizer: Any, max_positions: int) -> int:
    """Truncation length: the tokenizer's limit, never more than the model's positions."""
    limit = getattr(tokenizer, "model_max_length", max_positions) or max_positions
    return int(min(limit, max_positions))
