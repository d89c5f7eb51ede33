"""Near-miss pairs in the toy world: a satisfying render and the same scene one edit away.

Used by the toy-preset goal tests and by benchmarks/bench_caption.py. A pair is kept only when
the oracle accepts the satisfying image and rejects the edited one, so an edit that leaves the
prompt satisfied (recolouring an object of `two circles`) never counts as a near miss.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from finerewards.toyworld.prompts import load_prompt_rows
from finerewards.toyworld.render import SceneObject, layout, render_scene
from finerewards.toyworld.world import COLORS

if TYPE_CHECKING:
    from PIL.Image import Image

COMPOSITION = ("two_object", "counting", "color_attr", "position")
VARIANTS = ("missing", "recolored")
"""The near misses of the goals; `swapped` (two objects trade colours) is measured as well."""


@dataclass(frozen=True)
class Pair:
    prompt: str
    category: str
    variant: str
    good: Image
    bad: Image
    good_scene: tuple[SceneObject, ...] = ()
    bad_scene: tuple[SceneObject, ...] = ()


def edit(scene: list[SceneObject], variant: str, rng: random.Random) -> list[SceneObject] | None:
    """One object removed (`missing`), given another palette colour (`recolored`), or two
    objects of different shapes and colours trading colours (`swapped`: attribute binding)."""
    out = list(scene)
    i = rng.randrange(len(out))
    if variant == "swapped":
        pairs = [
            (a, b)
            for a in range(len(out))
            for b in range(a + 1, len(out))
            if out[a].color != out[b].color and out[a].shape != out[b].shape
        ]
        if not pairs:
            return None
        a, b = rng.choice(pairs)
        out[a], out[b] = replace(out[a], color=scene[b].color), replace(out[b], color=scene[a].color)
    elif variant == "missing":
        if len(out) < 2:
            return None
        out.pop(i)
    elif variant == "recolored":
        out[i] = replace(out[i], color=rng.choice([c for c in COLORS if c != out[i].color]))
    else:
        raise ValueError(f"unknown variant {variant!r} (known: missing, recolored, swapped)")
    return out


def near_miss_pairs(
    variants: Iterable[str] = VARIANTS,
    categories: Iterable[str] = COMPOSITION,
    per_category: int = 24,
    seeds: int = 4,
) -> list[Pair]:
    """Up to `per_category` pairs per (variant, category) from `toy:test` prompts, seeded."""
    from finerewards.toyworld.oracle import judge

    rows = load_prompt_rows("test")
    pairs: list[Pair] = []
    for variant in variants:
        for category in categories:
            prompts = [p for p, c in rows if c == category]
            kept = 0
            for seed in range(seeds):
                for prompt in prompts:
                    if kept >= per_category:
                        break
                    scene = layout(prompt, seed)
                    rng = random.Random(f"{prompt}|{seed}|{variant}")
                    edited = edit(scene, variant, rng)
                    if edited is None:
                        continue
                    good, bad = render_scene(scene), render_scene(edited)
                    if not judge(prompt, good)["satisfied"] or judge(prompt, bad)["satisfied"]:
                        continue
                    pairs.append(Pair(prompt, category, variant, good, bad, tuple(scene), tuple(edited)))
                    kept += 1
    return pairs


def pair_accuracy(pairs: list[Pair], good: list[float], bad: list[float]) -> dict[str, dict[str, float]]:
    """Share of pairs whose satisfying image scores strictly above its near miss, per
    variant and category (`n`: how many pairs)."""
    out: dict[str, dict[str, float]] = {}
    for pair, g, b in zip(pairs, good, bad):
        key = f"{pair.variant}/{pair.category}"
        row = out.setdefault(key, {"wins": 0.0, "n": 0.0})
        row["wins"] += float(g > b)
        row["n"] += 1
    return {k: {"accuracy": v["wins"] / v["n"], "n": v["n"]} for k, v in out.items()}
