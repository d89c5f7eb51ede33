"""Ground-truth renders: exact toy-world images from a prompt and a seed, or from a scene.

`render(prompt, seed)` draws a random scene that satisfies the prompt (placement, sizes and
free colours come from the seed) and rasterises it without antialiasing. `render_scene`
draws a given list of objects, so tests can build near-misses (one object missing, recoloured,
an extra object) on purpose.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from finerewards.toyworld.prompts import parse
from finerewards.toyworld.world import (
    BACKGROUND,
    COLORS,
    GAP,
    MARGIN,
    MAX_OBJECTS,
    MAX_SIDE,
    MIN_SIDE,
    PALETTE,
    SHAPES,
    SIZE,
    relation_holds,
)

if TYPE_CHECKING:
    from PIL.Image import Image

RGB = tuple[int, int, int]
CLEAR_OFFSET = 8
"""Rendered `position` scenes keep the relation's main offset >= this, for unambiguous data."""


@dataclass(frozen=True)
class SceneObject:
    """An object to draw: `x`, `y` are the top-left corner of its `size` x `size` box.

    `color` is a palette name, or an RGB triple for off-palette test images.
    """

    shape: str
    color: str | RGB
    size: int
    x: int
    y: int

    @property
    def center(self) -> tuple[float, float]:
        """Centre of the bounding box (what relations compare)."""
        return (self.x + self.size / 2, self.y + self.size / 2)

    @property
    def rgb(self) -> RGB:
        return PALETTE[self.color] if isinstance(self.color, str) else self.color


@lru_cache(maxsize=64)
def shape_mask(shape: str, size: int) -> np.ndarray:
    """The filled pixels of a shape in its size x size box (read-only bool array).

    Circle: pixel centres within radius size/2 of the box centre. Triangle: apex up, row y
    spans |x + 0.5 - size/2| <= (y + 1)/2, so the apex row is 1-2 px and the base fills the
    box. Every shape's bounding box is exactly size x size.
    """
    coords = np.arange(size) + 0.5
    xs, ys = np.meshgrid(coords, coords)
    half = size / 2
    if shape == "square":
        mask = np.ones((size, size), dtype=bool)
    elif shape == "circle":
        mask = (xs - half) ** 2 + (ys - half) ** 2 <= half**2
    elif shape == "triangle":
        mask = np.abs(xs - half) <= (ys + 0.5) / 2
    else:
        raise ValueError(f"unknown shape {shape!r} (known: {', '.join(SHAPES)})")
    mask.setflags(write=False)
    return mask


def scene_problems(objects: Sequence[SceneObject]) -> list[str]:
    """The toy-world rules a scene breaks (empty when it is a valid ground-truth scene)."""
    problems = []
    if not 1 <= len(objects) <= MAX_OBJECTS:
        problems.append(f"{len(objects)} objects (allowed 1 to {MAX_OBJECTS})")
    for i, obj in enumerate(objects):
        if obj.shape not in SHAPES:
            problems.append(f"object {i}: unknown shape {obj.shape!r}")
        if isinstance(obj.color, str) and obj.color not in PALETTE:
            problems.append(f"object {i}: unknown colour {obj.color!r}")
        if not MIN_SIDE <= obj.size <= MAX_SIDE:
            problems.append(f"object {i}: size {obj.size} outside {MIN_SIDE}..{MAX_SIDE}")
        low, high = MARGIN, SIZE - MARGIN - obj.size
        if not (low <= obj.x <= high and low <= obj.y <= high):
            problems.append(f"object {i}: closer than {MARGIN} px to the edge")
    for i, a in enumerate(objects):
        for j in range(i + 1, len(objects)):
            if not _separated(a, objects[j]):
                problems.append(f"objects {i} and {j}: less than {GAP} px apart")
    return problems


def _separated(a: SceneObject, b: SceneObject) -> bool:
    """Bounding boxes at least GAP px apart along x or along y."""
    return (
        b.x - (a.x + a.size) >= GAP
        or a.x - (b.x + b.size) >= GAP
        or b.y - (a.y + a.size) >= GAP
        or a.y - (b.y + b.size) >= GAP
    )


def render_array(objects: Sequence[SceneObject], check: bool = True) -> np.ndarray:
    """The scene as a (SIZE, SIZE, 3) uint8 array; `check=False` allows rule-breaking scenes."""
    if check:
        problems = scene_problems(objects)
        if problems:
            raise ValueError("invalid scene: " + "; ".join(problems))
    canvas = np.empty((SIZE, SIZE, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    for obj in objects:
        mask = shape_mask(obj.shape, obj.size)
        x0, y0 = max(obj.x, 0), max(obj.y, 0)
        x1, y1 = min(obj.x + obj.size, SIZE), min(obj.y + obj.size, SIZE)
        if x1 <= x0 or y1 <= y0:
            continue
        sub = mask[y0 - obj.y : y1 - obj.y, x0 - obj.x : x1 - obj.x]
        canvas[y0:y1, x0:x1][sub] = obj.rgb
    return canvas


def render_scene(objects: Sequence[SceneObject], check: bool = True) -> Image:
    """The scene as a PIL RGB image; `check=False` allows rule-breaking scenes (touching...)."""
    from PIL import Image as PILImage

    return PILImage.fromarray(render_array(objects, check), mode="RGB")


def _rng(prompt: str, seed: int) -> random.Random:
    digest = hashlib.sha256(f"{prompt}\x00{int(seed)}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def layout(prompt: str, seed: int) -> list[SceneObject]:
    """A random valid scene that satisfies `prompt`, the same for the same (prompt, seed).

    Objects are listed in the prompt's order; free colours are uniform over the palette.
    """
    req = parse(prompt)
    rng = _rng(req.prompt, seed)
    while True:
        placed: list[SceneObject] = []
        for spec in req.objects:
            color = spec.color or rng.choice(COLORS)
            for _ in range(200):
                size = rng.randint(MIN_SIDE, MAX_SIDE)
                x = rng.randint(MARGIN, SIZE - MARGIN - size)
                y = rng.randint(MARGIN, SIZE - MARGIN - size)
                candidate = SceneObject(spec.shape, color, size, x, y)
                if all(_separated(candidate, other) for other in placed):
                    placed.append(candidate)
                    break
            else:
                break
        if len(placed) == len(req.objects) and (
            req.relation is None or _clear_relation(req.relation, placed[0], placed[1])
        ):
            return placed


def _clear_relation(relation: str, a: SceneObject, b: SceneObject) -> bool:
    (ax, ay), (bx, by) = a.center, b.center
    main = abs(ax - bx) if relation.startswith("to the") else abs(ay - by)
    return relation_holds(relation, a.center, b.center) and main >= CLEAR_OFFSET


def render(prompt: str, seed: int) -> Image:
    """A ground-truth render of `prompt` (ValueError outside the grammar)."""
    return render_scene(layout(prompt, seed))


def render_batch_array(prompts: Sequence[str], seeds: Sequence[int]) -> np.ndarray:
    """(N, SIZE, SIZE, 3) uint8 renders, for training loops that want arrays, not PIL images."""
    return np.stack([render_array(layout(p, s)) for p, s in zip(prompts, seeds, strict=True)])
