"""The oracle: exact on ground-truth renders, right on hand-made edge cases, robust to blur."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from finerewards.testing import RewardContract
from finerewards.toyworld import oracle
from finerewards.toyworld import prompts as tp
from finerewards.toyworld.render import SceneObject, layout, render, render_array, shape_mask
from finerewards.toyworld.world import CATEGORIES

Obj = SceneObject


def test_exact_on_thousands_of_ground_truth_renders() -> None:
    """Every distinct prompt x 2 seeds (2,166 renders): objects, centres, areas and verdicts."""
    checked = 0
    for category in CATEGORIES:
        for prompt in tp.all_prompts(category):
            for seed in (11, 12):
                scene = layout(prompt, seed)
                found = oracle.find_objects(render_array(scene))
                want = sorted(
                    (o.shape, o.color, o.center, int(shape_mask(o.shape, o.size).sum())) for o in scene
                )
                got = sorted((o.shape, o.color, o.center, o.area) for o in found)
                assert got == want, f"{prompt!r} seed {seed}"
                assert oracle.satisfies(prompt, found), f"{prompt!r} seed {seed}"
                checked += 1
    assert checked >= 2000


def test_evaluate_on_renders_of_the_test_set() -> None:
    items = [(p, render(p, i)) for i, p in enumerate(tp.load_prompt_set("test"))]
    result = oracle.evaluate(items)
    assert result["accuracy"] == {c: 1.0 for c in [*CATEGORIES, "overall"]}
    assert result["n"]["position"] == 100 and result["n"]["overall"] == len(items)


def test_evaluate_overall_is_the_mean_of_categories() -> None:
    blank = Image.new("RGB", (64, 64), "white")
    items = [
        ("a circle", render("a circle", 0)),
        ("a red square", blank),
        ("a red square", render("a red square", 1)),
    ]
    result = oracle.evaluate(items)
    assert result["accuracy"] == {"single_object": 1.0, "colors": 0.5, "overall": 0.75}
    assert result["n"] == {"single_object": 1, "colors": 2, "overall": 3}


def scene(*objects: SceneObject, check: bool = True) -> np.ndarray:
    return render_array(objects, check=check)


def test_touching_objects_merge_and_fail_two_object_prompts() -> None:
    apart = scene(Obj("square", "red", 16, 10, 10), Obj("square", "blue", 16, 28, 10))
    touching = scene(Obj("square", "red", 16, 10, 10), Obj("square", "blue", 16, 26, 10), check=False)
    assert len(oracle.find_objects(apart)) == 2
    merged = oracle.find_objects(touching)
    assert len(merged) == 1 and merged[0].shape == "unknown"
    assert oracle.satisfies("a red square and a blue square", apart)
    assert not oracle.satisfies("a red square and a blue square", touching)
    assert not oracle.satisfies("two squares", touching)


def test_diagonal_contact_is_not_4_connected() -> None:
    image = scene(Obj("square", "red", 14, 10, 10), Obj("square", "red", 14, 24, 24), check=False)
    assert len(oracle.find_objects(image)) == 2
    assert oracle.satisfies("two squares", image)


def test_an_extra_object_breaks_exactly() -> None:
    base = [Obj("circle", "red", 18, 5, 5), Obj("triangle", "blue", 18, 40, 5)]
    extra = Obj("square", "green", 16, 20, 40)
    assert oracle.satisfies("a circle and a triangle", scene(*base))
    assert not oracle.satisfies("a circle and a triangle", scene(*base, extra))
    assert not oracle.satisfies("a red circle", scene(base[0], extra))
    assert oracle.satisfies("three circles", scene(*[Obj("circle", "red", 16, x, 20) for x in (3, 23, 43)]))
    assert not oracle.satisfies("two circles", scene(*[Obj("circle", "red", 16, x, 20) for x in (3, 23, 43)]))
    assert not oracle.satisfies(
        "four circles", scene(*[Obj("circle", "red", 16, x, 20) for x in (3, 23, 43)])
    )


def test_wrong_colour_and_wrong_shape() -> None:
    blue_square = scene(Obj("square", "blue", 20, 20, 20))
    assert oracle.satisfies("a blue square", blue_square)
    assert oracle.satisfies("a square", blue_square)
    assert not oracle.satisfies("a purple square", blue_square)
    assert not oracle.satisfies("a blue circle", blue_square)
    assert not oracle.satisfies("a triangle", blue_square)
    pair = scene(Obj("circle", "red", 18, 5, 5), Obj("square", "green", 18, 40, 40))
    assert oracle.satisfies("a red circle and a green square", pair)
    assert oracle.satisfies("a green square and a red circle", pair)
    assert not oracle.satisfies("a green circle and a red square", pair)  # colours swapped


def test_off_palette_colour_is_unknown() -> None:
    grey = scene(Obj("circle", (90, 90, 90), 20, 20, 20))
    (found,) = oracle.find_objects(grey)
    assert (found.color, found.shape) == ("unknown", "circle")
    assert oracle.satisfies("a circle", grey)
    assert not any(
        oracle.satisfies(f"a {c} circle", grey) for c in ("red", "green", "blue", "yellow", "purple")
    )


@pytest.mark.parametrize(
    ("a", "b", "holds"),
    [
        ((10, 24), (40, 24), {"to the left of"}),
        ((40, 24), (10, 24), {"to the right of"}),
        ((24, 4), (24, 40), {"above"}),
        ((24, 40), (24, 4), {"below"}),
        ((4, 4), (40, 36), {"to the left of"}),  # |dy| 32 < |dx| 36
        ((4, 4), (36, 40), {"above"}),  # |dx| 32 < |dy| 36
        ((4, 4), (40, 40), set()),  # exact diagonal: neither
        ((20, 4), (23, 40), {"above"}),
    ],
)
def test_each_relation(a: tuple[int, int], b: tuple[int, int], holds: set[str]) -> None:
    image = scene(Obj("circle", "red", 18, *a), Obj("square", "blue", 18, *b))
    for relation in ("to the left of", "to the right of", "above", "below"):
        prompt = f"a red circle {relation} a blue square"
        assert oracle.satisfies(prompt, image) == (relation in holds), prompt


def found(color: str, shape: str, center: tuple[float, float]) -> oracle.Object:
    return oracle.Object(color, shape, center, 200, (0, 0, 18, 18), (0.0, 0.0, 0.0))


@pytest.mark.parametrize(("offset", "holds"), [(3.0, False), (3.5, False), (4.0, True)])
def test_relation_needs_four_pixels(offset: float, holds: bool) -> None:
    circle = found("red", "circle", (20.0, 20.0))
    right = [circle, found("blue", "square", (20.0 + offset, 20.0))]
    below = [circle, found("blue", "square", (20.0, 20.0 + offset))]
    assert oracle.satisfies("a blue square to the right of a red circle", right) == holds
    assert oracle.satisfies("a red circle to the left of a blue square", right) == holds
    assert oracle.satisfies("a blue square below a red circle", below) == holds
    assert oracle.satisfies("a red circle above a blue square", below) == holds


def test_small_specks_and_faint_smudges_are_background() -> None:
    base = render_array(layout("a yellow triangle", 5)).astype(np.int16)
    speck = base.copy()
    speck[1:5, 1:5] = (220, 40, 40)  # 16 px: below the 20 px minimum
    assert oracle.satisfies("a yellow triangle", speck.astype(np.uint8))
    yy, xx = np.mgrid[:64, :64]
    blob = np.exp(-((yy - 55) ** 2 + (xx - 55) ** 2) / 30.0)[..., None] * 70  # grey down to 185
    smudge = base - blob
    assert ((smudge < 200).all(axis=2)).sum() >= 20, "the reference rule would see an object here"
    assert oracle.satisfies("a yellow triangle", np.clip(smudge, 0, 255).astype(np.uint8))
    dark = base.copy()
    dark[50:60, 50:60] = (60, 60, 60)
    assert not oracle.satisfies("a yellow triangle", dark.astype(np.uint8))
    assert len(oracle.find_objects(dark.astype(np.uint8))) == 2


def test_blurred_and_noisy_renders_still_read() -> None:
    rng = np.random.default_rng(0)
    prompts = tp.load_prompt_set("test")[::4]
    misses = 0
    for seed, prompt in enumerate(prompts):
        soft = render(prompt, seed).filter(ImageFilter.GaussianBlur(0.8))
        noisy = np.asarray(soft).astype(float) + rng.normal(0, 5, (64, 64, 3))
        misses += not oracle.satisfies(prompt, np.clip(noisy, 0, 255).astype(np.uint8))
    assert misses <= len(prompts) // 50, f"{misses} of {len(prompts)} soft renders misread"


def test_partial_credit() -> None:
    red_circle = Obj("circle", "red", 18, 5, 20)
    blue_square = Obj("square", "blue", 18, 40, 20)
    full = oracle.score("a red circle to the left of a blue square", scene(red_circle, blue_square))
    wrong_relation = oracle.score(
        "a red circle to the right of a blue square", scene(red_circle, blue_square)
    )
    one_missing = oracle.score("a red circle to the left of a blue square", scene(red_circle))
    recoloured = oracle.score(
        "a red circle and a blue square", scene(red_circle, Obj("square", "green", 18, 40, 20))
    )
    nothing = oracle.score("a red circle and a blue square", np.full((64, 64, 3), 255, np.uint8))
    assert full == 1.0
    assert 0.0 < one_missing < wrong_relation < 0.9
    assert one_missing < recoloured < 0.9
    assert nothing == 0.0
    assert oracle.score("a red circle", scene(red_circle, blue_square)) < 0.9


def test_accepts_pil_images_and_other_sizes() -> None:
    image = render("a green circle", 2)
    assert oracle.satisfies("a green circle", image)
    assert oracle.satisfies("a green circle", image.resize((128, 128), Image.Resampling.NEAREST))


class TestOracleRewardContract(RewardContract):
    reward_name = "oracle"
    plugin_module = "finerewards.toyworld.plugin"

    def make_inputs(self) -> tuple[list[Image.Image], list[str]]:
        prompts = [
            "a red circle",
            "a blue square and a green triangle",
            "three circles",
            "a purple triangle to the left of a red square",
            "a green circle above a blue triangle",
        ]
        images = [render(p, i) for i, p in enumerate(prompts)]
        images[2] = render("two circles", 2)  # one unsatisfied pair, so scores differ
        return images, prompts


def test_oracle_reward_spec_is_toy_only() -> None:
    from finerewards.registry import get_registry

    spec = get_registry().reward("oracle")
    assert spec.toy_only and dict(spec.presets) == {"toy": {}}
    assert spec.score_range == (0.0, 1.0)
    reward = spec.build(spec.resolve_options("toy"))
    reward.setup("cpu", "float32")
    out = reward.score(
        [render("a red circle", 0), render("a red circle", 0)], ["a red circle", "a blue circle"]
    )
    assert out.scores[0] == 1.0 and out.scores[1] < 0.9
    assert out.details[1]["satisfied"] is False and out.details[1]["objects"][0]["color"] == "red"
