"""Helpers shared by the toy model trainers: which texts they may learn from, how pixels reach
the model, the learning-rate schedule, and the training record each model card carries.

Both models are judged on toy:test, so both keep its held-out prompts (the color_attr and
position ones) out of their training texts, by the same rule.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finerewards.toyworld.prompts import HELD_OUT, load_prompt_rows
from finerewards.toyworld.render import SceneObject, shape_mask
from finerewards.toyworld.world import CATEGORIES, COLORS, SHAPES, SIZE

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


def write_model_card(
    out_dir: Path, card: dict[str, Any], script: str, settings: Any, seconds: float, cpu_seconds: float
) -> None:
    """Write `fr_model.json` (atomically): `card` plus how the model was trained (script,
    settings, seed) and what it cost on which machine."""
    import torch

    from finerewards.fsutil import atomic_write_json

    training = {
        "script": script,
        "settings": asdict(settings),
        "seed": settings.seed,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads",
    }
    atomic_write_json(Path(out_dir) / "fr_model.json", {**card, "training": training})


def sincos_positions(grid: int, dim: int, temperature: float = 100.0) -> np.ndarray:
    """(grid * grid, dim) 2-D sine-cosine codes of a ViT's patch grid, row-major like its
    patches: the first half of the channels encodes the row, the second half the column."""
    quarter = dim // 4
    omega = 1.0 / temperature ** (np.arange(quarter) / quarter)
    rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")

    def encode(pos: np.ndarray) -> np.ndarray:
        angles = np.outer(pos.reshape(-1), omega)
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    codes = np.concatenate([encode(rows), encode(cols)], axis=1)
    return np.pad(codes, ((0, 0), (0, dim - codes.shape[1])))


def init_patch_positions(weight: torch.Tensor, grid: int, scale: float = 0.3) -> None:
    """Start a ViT's learned patch position embeddings (all rows but the class token's) at
    scaled 2-D sine-cosine codes. From the library's tiny random init a small ViT learns where
    things are only slowly, and relations ("above", "to the left of") are all about where."""
    import torch

    flat = weight.data.view(-1, weight.shape[-1])
    codes = torch.from_numpy(scale * sincos_positions(grid, flat.shape[1])).to(flat.dtype)
    flat[1:] = codes


BACKGROUND_KIND = len(COLORS) * len(SHAPES)
"""Kind id of a background patch; an object's kind is colour index * 3 + shape index."""


def kind_of(obj: SceneObject) -> int:
    return COLORS.index(str(obj.color)) * len(SHAPES) + SHAPES.index(obj.shape)


def patch_targets(scenes: Sequence[Sequence[SceneObject]], patch: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-patch targets of the auxiliary geometry loss, row-major like a ViT's patches.

    kinds (N, P): the kind of the object covering most of the patch when it covers at least a
    quarter of it, else BACKGROUND_KIND; centres (N, P, 2): that object's centre (x, y) / SIZE.
    """
    grid = SIZE // patch
    kinds = np.full((len(scenes), grid * grid), BACKGROUND_KIND, dtype=np.int64)
    centres = np.zeros((len(scenes), grid * grid, 2), dtype=np.float32)
    for n, scene in enumerate(scenes):
        ids = np.full((SIZE, SIZE), -1, dtype=np.int64)
        for i, obj in enumerate(scene):
            mask = shape_mask(obj.shape, obj.size)
            ids[obj.y : obj.y + obj.size, obj.x : obj.x + obj.size][mask] = i
        blocks = ids.reshape(grid, patch, grid, patch).transpose(0, 2, 1, 3).reshape(grid * grid, -1)
        for p, block in enumerate(blocks):
            counts = np.bincount(block[block >= 0], minlength=len(scene))
            if counts.size and counts.max() * 4 >= patch * patch:
                obj = scene[int(counts.argmax())]
                kinds[n, p] = kind_of(obj)
                centres[n, p] = (obj.center[0] / SIZE, obj.center[1] / SIZE)
    return kinds, centres


def scene_summary(scenes: Sequence[Sequence[SceneObject]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-kind (count / 4, mean centre x / SIZE, mean centre y / SIZE) of each scene, (N, 15, 3),
    and which kinds are present (N, 15): the pooled auxiliary target (a set of objects with
    where they are, from which relations are linear)."""
    out = np.zeros((len(scenes), BACKGROUND_KIND, 3), dtype=np.float32)
    present = np.zeros((len(scenes), BACKGROUND_KIND), dtype=bool)
    for n, scene in enumerate(scenes):
        for obj in scene:
            k = kind_of(obj)
            out[n, k] += (1.0, obj.center[0] / SIZE, obj.center[1] / SIZE)
            present[n, k] = True
    counts = np.maximum(out[:, :, :1], 1.0)
    out[:, :, 1:] /= counts
    out[:, :, 0] /= 4.0
    return out, present


def geometry_head(width: int) -> torch.nn.Module:
    """The training-only head of the patch geometry loss (kind logits + centre), never saved."""
    import torch

    return torch.nn.Linear(width, BACKGROUND_KIND + 1 + 2)


def geometry_loss(
    head: torch.nn.Module, tokens: torch.Tensor, scenes: Sequence[Sequence[SceneObject]], patch: int
) -> torch.Tensor:
    """Auxiliary loss on a ViT's patch tokens (N, P, D): each patch names the kind of the object
    covering it (or background) and where that object's centre is.

    Captions and contrastive texts say where things are only through rare relation words; this
    dense signal teaches every patch token what it belongs to and where that object sits, so
    relations become a comparison of two tokens' centres.
    """
    import torch

    kinds, centres = (torch.from_numpy(a) for a in patch_targets(scenes, patch))
    out = head(tokens)
    ce = torch.nn.functional.cross_entropy(out[..., : BACKGROUND_KIND + 1].flatten(0, 1), kinds.flatten())
    on_object = kinds != BACKGROUND_KIND
    if not bool(on_object.any()):
        return ce
    error = ((out[..., BACKGROUND_KIND + 1 :] - centres) ** 2).sum(-1)[on_object].mean()
    return ce + 10.0 * error
