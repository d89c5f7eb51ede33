"""Ground-truth renders follow the toy world's rules, and the same seed gives the same image."""

from __future__ import annotations

import numpy as np
import pytest

from finerewards.toyworld import prompts as tp
from finerewards.toyworld.render import (
    SceneObject,
    layout,
    render,
    render_array,
    render_scene,
    scene_problems,
    shape_mask,
)
from finerewards.toyworld.world import CATEGORIES, MAX_SIDE, MIN_SIDE, PALETTE, SHAPES, relation_holds


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_fills_exactly_its_box(shape: str) -> None:
    for size in range(MIN_SIDE, MAX_SIDE + 1):
        mask = shape_mask(shape, size)
        assert mask.shape == (size, size)
        assert mask[0].any() and mask[-1].any() and mask[:, 0].any() and mask[:, -1].any()
        assert (mask == mask[:, ::-1]).all(), "shapes are left-right symmetric"


def test_triangle_points_up() -> None:
    mask = shape_mask("triangle", 20)
    assert mask[0].sum() <= 2 and mask[-1].all()
    assert (np.diff(mask.sum(axis=1)) >= 0).all()


def test_renders_are_valid_scenes_that_satisfy_their_prompt() -> None:
    for category in CATEGORIES:
        for prompt in tp.all_prompts(category)[:60]:
            for seed in (0, 1):
                objects = layout(prompt, seed)
                assert scene_problems(objects) == []
                req = tp.parse(prompt)
                assert [o.shape for o in objects] == [s.shape for s in req.objects]
                for obj, spec in zip(objects, req.objects):
                    assert spec.color is None or obj.color == spec.color
                if req.relation:
                    assert relation_holds(req.relation, objects[0].center, objects[1].center)


def test_only_palette_colours_and_white() -> None:
    pixels = np.concatenate(
        [render_array(layout(p, 3)).reshape(-1, 3) for p in tp.load_prompt_set("test")[:50]]
    )
    allowed = {tuple(v) for v in PALETTE.values()} | {(255, 255, 255)}
    assert {tuple(v) for v in np.unique(pixels, axis=0)} <= allowed


def test_same_seed_same_image_other_seed_other_image() -> None:
    prompt = "a red circle to the left of a blue square"
    a, b, c = (np.asarray(render(prompt, s)) for s in (7, 7, 8))
    assert (a == b).all()
    assert not (a == c).all()
    assert render(prompt, 7).size == (64, 64)


def test_free_colours_vary_with_the_seed() -> None:
    colours = {obj.color for seed in range(30) for obj in layout("four circles", seed)}
    assert colours == set(PALETTE)


def test_render_scene_checks_the_rules_unless_told_not_to() -> None:
    touching = [SceneObject("square", "red", 16, 10, 10), SceneObject("square", "blue", 16, 26, 10)]
    assert any("apart" in p for p in scene_problems(touching))
    with pytest.raises(ValueError, match="invalid scene"):
        render_scene(touching)
    image = np.asarray(render_scene(touching, check=False))
    assert tuple(image[12, 25]) == PALETTE["red"] and tuple(image[12, 26]) == PALETTE["blue"]
    assert scene_problems([SceneObject("circle", "red", 30, 2, 2)])
    assert scene_problems([SceneObject("circle", "red", 16, 1, 10)])
    assert scene_problems([SceneObject("hexagon", "red", 16, 10, 10)])


def test_bad_prompt_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="outside"):
        render("a dog", 0)
