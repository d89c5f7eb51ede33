"""Random scenes, near-miss variants and object crops: the data the toy models learn from.

The renderer draws scenes that satisfy a prompt; the toy CLIP and captioner also need scenes no
prompt describes (three mixed objects...), scenes that *almost* satisfy one (an object missing,
recoloured, added, the relation flipped) as hard negatives, and the object crops the SAM
reward labels. Everything takes a `random.Random`, so training data is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from finerewards.toyworld.render import SceneObject, _separated, render_array
from finerewards.toyworld.world import (
    COLORS,
    MARGIN,
    MAX_OBJECTS,
    MAX_SIDE,
    MIN_SIDE,
    SHAPES,
    SIZE,
)

if TYPE_CHECKING:
    from PIL.Image import Image

Scene = list[SceneObject]

CROP_CONTEXT = 1.5
"""A labelling crop is a square `CROP_CONTEXT` times the object's longer box side."""


def place(rng: random.Random, placed: Sequence[SceneObject], shape: str, color: str) -> SceneObject | None:
    """A new object at a random free spot, or None when 200 tries find none."""
    for _ in range(200):
        size = rng.randint(MIN_SIDE, MAX_SIDE)
        x = rng.randint(MARGIN, SIZE - MARGIN - size)
        y = rng.randint(MARGIN, SIZE - MARGIN - size)
        candidate = SceneObject(shape, color, size, x, y)
        if all(_separated(candidate, other) for other in placed):
            return candidate
    return None


def random_scene(rng: random.Random, n_objects: int | None = None) -> Scene:
    """A valid scene of 1..4 (or `n_objects`) objects of random shapes and colours.

    Half the multi-object scenes repeat one shape or one (colour, shape) pair, so counting
    phrases (`three red circles`) are common enough to learn.
    """
    n = n_objects or rng.randint(1, MAX_OBJECTS)
    while True:
        kinds = [(rng.choice(COLORS), rng.choice(SHAPES)) for _ in range(n)]
        if n > 1 and rng.random() < 0.5:
            shared_shape = rng.random() < 0.5
            base = kinds[0]
            kinds = [(c if shared_shape else base[0], base[1]) for c, _ in kinds]
        scene: Scene = []
        for color, shape in kinds:
            obj = place(rng, scene, shape, color)
            if obj is None:
                break
            scene.append(obj)
        if len(scene) == n:
            return scene


# --- near-miss variants -----------------------------------------------------------------


def drop_object(rng: random.Random, scene: Scene) -> Scene | None:
    """One object missing (None for a single-object scene)."""
    if len(scene) < 2:
        return None
    out = list(scene)
    out.pop(rng.randrange(len(out)))
    return out


def recolor_object(rng: random.Random, scene: Scene) -> Scene:
    """One object in another palette colour."""
    out = list(scene)
    i = rng.randrange(len(out))
    out[i] = replace(out[i], color=rng.choice([c for c in COLORS if c != out[i].color]))
    return out


def reshape_object(rng: random.Random, scene: Scene) -> Scene:
    """One object of another shape (same box)."""
    out = list(scene)
    i = rng.randrange(len(out))
    out[i] = replace(out[i], shape=rng.choice([s for s in SHAPES if s != out[i].shape]))
    return out


def add_object(rng: random.Random, scene: Scene) -> Scene | None:
    """One extra random object (None when the scene is full or no spot is free)."""
    if len(scene) >= MAX_OBJECTS:
        return None
    obj = place(rng, scene, rng.choice(SHAPES), rng.choice(COLORS))
    return None if obj is None else [*scene, obj]


def swap_colors(rng: random.Random, scene: Scene) -> Scene | None:
    """Two objects of different colours and shapes trade colours (attribute binding)."""
    pairs = [
        (i, j)
        for i in range(len(scene))
        for j in range(i + 1, len(scene))
        if scene[i].color != scene[j].color and scene[i].shape != scene[j].shape
    ]
    if not pairs:
        return None
    i, j = rng.choice(pairs)
    out = list(scene)
    out[i], out[j] = replace(scene[i], color=scene[j].color), replace(scene[j], color=scene[i].color)
    return out


def flip_scene(scene: Scene, horizontal: bool) -> Scene:
    """The scene mirrored left-right (or top-bottom); shapes keep their orientation."""
    if horizontal:
        return [replace(o, x=SIZE - o.x - o.size) for o in scene]
    return [replace(o, y=SIZE - o.y - o.size) for o in scene]


def flip_relation(rng: random.Random, scene: Scene, relation: str | None = None) -> Scene:
    """The scene mirrored along the relation's axis (random axis when `relation` is None)."""
    horizontal = relation.startswith("to the") if relation else rng.random() < 0.5
    return flip_scene(scene, horizontal)


VARIANTS: dict[str, Callable[[random.Random, Scene], Scene | None]] = {
    "missing": drop_object,
    "recolored": recolor_object,
    "extra": add_object,
    "flipped": flip_relation,
    "swapped": swap_colors,
    "reshaped": reshape_object,
}
"""Near-miss edits by name; each returns None when it does not apply to the scene."""


# --- images ------------------------------------------------------------------------------


def crop_box(bbox: tuple[int, int, int, int], context: float = CROP_CONTEXT) -> tuple[int, int, int, int]:
    """The labelling crop (left, top, right, bottom) for an object box (x, y, w, h): a square
    `context` times the longer side, centred on the box; it may reach outside the canvas."""
    x, y, w, h = bbox
    side = max(1, round(max(w, h) * context))
    left = round(x + w / 2 - side / 2)
    top = round(y + h / 2 - side / 2)
    return (left, top, left + side, top + side)


def crop_object(
    image: Image | np.ndarray,
    bbox: tuple[int, int, int, int],
    size: int = SIZE,
    context: float = CROP_CONTEXT,
) -> Image:
    """The toy CLIP's labelling input for one object: `crop_box` of the image, white outside
    the canvas, resized to `size` x `size` (bicubic). Use the same crop at training and scoring."""
    from PIL import Image as PILImage

    picture = PILImage.fromarray(image) if isinstance(image, np.ndarray) else image.convert("RGB")
    left, top, right, bottom = crop_box(bbox, context)
    canvas = PILImage.new("RGB", (right - left, bottom - top), (255, 255, 255))
    canvas.paste(picture, (-left, -top))
    return canvas.resize((size, size), PILImage.Resampling.BICUBIC)


def scene_bbox(obj: SceneObject) -> tuple[int, int, int, int]:
    """An object's box as (x, y, w, h), the oracle's convention."""
    return (obj.x, obj.y, obj.size, obj.size)


def degrade(array: np.ndarray, rng: random.Random) -> np.ndarray:
    """A mildly degraded copy (blur, colour shift, noise), like a small generator's output.

    Training on a share of these keeps the toy models usable on generated images, which are
    never as clean as ground-truth renders; the palette colour of every object stays nearest.
    """
    image = array.astype(np.float32)
    if rng.random() < 0.6:
        k = rng.choice([0.15, 0.25, 0.35])
        blurred = image.copy()
        for axis in (0, 1):
            blurred = (1 - 2 * k) * blurred + k * np.roll(blurred, 1, axis) + k * np.roll(blurred, -1, axis)
        image = blurred
    shift = np.array([rng.uniform(-12, 12) for _ in range(3)], dtype=np.float32)
    image = image + shift * (image.min(axis=2, keepdims=True) < 200)
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(0, 6), image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def render_scenes(scenes: Sequence[Scene]) -> np.ndarray:
    """(N, SIZE, SIZE, 3) uint8 renders of valid scenes."""
    return np.stack([render_array(s) for s in scenes])
