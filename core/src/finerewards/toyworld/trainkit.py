"""Helpers shared by the toy CLIP and captioner trainers: which texts they may learn from,
how pixels reach the model, and the learning-rate schedule.

Both models are judged on toy:test, so both keep its held-out prompts (the color_attr and
position ones) out of their training texts, by the same rule.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from finerewards.toyworld.prompts import HELD_OUT, load_prompt_rows
from finerewards.toyworld.world import CATEGORIES

if TYPE_CHECKING:
    import torch

MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
"""Image normalisation of both models: pixels map to [-1, 1], white background at +1. Written
into each saved image processor, so users' preprocessing matches training."""


@lru_cache(maxsize=1)
def held_out_texts() -> frozenset[str]:
    """toy:test prompts of the held-out categories: never a training text or caption."""
    return frozenset(p for p, c in load_prompt_rows("test") if c in HELD_OUT)


@lru_cache(maxsize=1)
def train_prompts() -> dict[str, tuple[str, ...]]:
    """The distinct toy:train prompts by category (held-out test prompts excluded)."""
    by_category: dict[str, set[str]] = {c: set() for c in CATEGORIES}
    for prompt, category in load_prompt_rows("train"):
        if prompt not in held_out_texts():
            by_category[category].add(prompt)
    return {c: tuple(sorted(p)) for c, p in by_category.items()}


def pixel_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> normalised float (N, 3, H, W), as the saved image processors do
    for 64 x 64 inputs (their resize and centre crop are then identities)."""
    import torch

    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < warmup:
        return (step + 1) / warmup
    return float(0.5 * (1 + np.cos(np.pi * (step - warmup) / max(1, total - warmup))))
