"""Toy preset goal: `clip` (toy:clip) and `blip-itm` (toy:itm) prefer the satisfying render to
their near misses (the issue sets the goal for clip; blip-itm is held to the same one).

Pairs follow TOYWORLD.md: a ground-truth render of a toy:test prompt against the same scene
with one object missing, one object recoloured (where the prompt names colours), or one object
added; the oracle confirms that the first satisfies the prompt and the second does not. Goal:
the satisfying render scores higher in at least 75% of the pairs of each kind (a tie counts as a
miss).
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest

from finerewards.models import toy_model_names
from finerewards.registry import get_registry
from finerewards.toyworld import oracle
from finerewards.toyworld.prompts import load_prompt_set, parse
from finerewards.toyworld.render import SceneObject, layout, render_scene, scene_problems
from finerewards.toyworld.world import COLORS, MAX_OBJECTS, MAX_SIDE, MIN_SIDE, SHAPES, SIZE

GOAL = 0.75
KINDS = ("missing", "recolored", "extra")


def near_misses(prompt: str, scene: list[SceneObject], rng: random.Random) -> dict[str, list[SceneObject]]:
    """One near miss of each kind that applies to this prompt and scene."""
    out: dict[str, list[SceneObject]] = {}
    if len(scene) >= 2:
        drop = rng.randrange(len(scene))
        out["missing"] = [o for i, o in enumerate(scene) if i != drop]
    if any(spec.color for spec in parse(prompt).objects):
        i = rng.choice([i for i, spec in enumerate(parse(prompt).objects) if spec.color])
        color = rng.choice([c for c in COLORS if c != scene[i].color])
        out["recolored"] = [
            *scene[:i],
            SceneObject(scene[i].shape, color, scene[i].size, scene[i].x, scene[i].y),
            *scene[i + 1 :],
        ]
    if len(scene) < MAX_OBJECTS:
        for _ in range(500):
            size = rng.randint(MIN_SIDE, MAX_SIDE)
            extra = SceneObject(
                rng.choice(SHAPES),
                rng.choice(COLORS),
                size,
                rng.randint(2, SIZE - 2 - size),
                rng.randint(2, SIZE - 2 - size),
            )
            if not scene_problems(tuple([*scene, extra])):
                out["extra"] = [*scene, extra]
                break
    return out


def toy_pairs(per_kind: int = 60, seed: int = 0) -> list[tuple[str, str, Any, Any]]:
    """(kind, prompt, satisfying image, near-miss image), oracle-checked, `per_kind` of each kind."""
    rng = random.Random(seed)
    prompts = load_prompt_set("test")
    rng.shuffle(prompts)
    pairs: list[tuple[str, str, Any, Any]] = []
    counts: dict[str, int] = defaultdict(int)
    for n, prompt in enumerate(prompts * 4):
        scene = layout(prompt, seed=10_000 + n)
        good = render_scene(scene)
        for kind, objects in near_misses(prompt, scene, rng).items():
            if counts[kind] >= per_kind:
                continue
            bad = render_scene(objects)
            if oracle.satisfies(prompt, good) and not oracle.satisfies(prompt, bad):
                pairs.append((kind, prompt, good, bad))
                counts[kind] += 1
        if all(counts[k] >= per_kind for k in KINDS):
            break
    return pairs


def test_near_miss_pairs_follow_the_rules() -> None:
    pairs = toy_pairs(per_kind=10)
    assert {kind for kind, *_ in pairs} == set(KINDS)
    for _kind, prompt, good, bad in pairs:
        assert good.size == bad.size == (SIZE, SIZE)
        assert oracle.satisfies(prompt, good) and not oracle.satisfies(prompt, bad)


@pytest.mark.parametrize(
    "name, model",
    [
        pytest.param(
            name,
            model,
            marks=pytest.mark.skipif(model not in toy_model_names(), reason=f"{model} not shipped"),
        )
        for name, model in (("clip", "toy:clip"), ("blip-itm", "toy:itm"))
    ],
)
def test_toy_preset_prefers_the_satisfying_render(name: str, model: str) -> None:
    spec = get_registry().reward(name)
    reward = spec.build(spec.resolve_options("toy"))
    reward.setup("cpu", "float32")
    pairs = toy_pairs()
    images = [img for _, _, good, bad in pairs for img in (good, bad)]
    prompts = [p for _, p, _, _ in pairs for _ in (0, 1)]
    out = reward.score(images, prompts)
    scores = out.scores
    wins: dict[str, list[bool]] = defaultdict(list)
    for i, (kind, *_rest) in enumerate(pairs):
        wins[kind].append(scores[2 * i] > scores[2 * i + 1])
    rates = {kind: sum(w) / len(w) for kind, w in wins.items()}
    overall = sum(sum(w) for w in wins.values()) / len(pairs)
    print(f"{name} ({model}) pair accuracy: {rates}, overall {overall:.3f} on {len(pairs)} pairs")
    assert overall >= GOAL, rates
    for kind, rate in rates.items():
        assert rate >= GOAL, f"{kind}: {rate:.2f} < {GOAL} ({rates})"
