"""The reward's own logic: parts filtering, count check, score, details, batching, vocabulary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from finerewards.registry import get_registry
from finerewards.testing import default_inputs
from finerewards.types import Reward
from fr_sam.labels import Label, crop_box
from fr_sam.parts import (
    ImageParts,
    Part,
    foreground_points,
    generator_kwargs,
    largest_component,
    remove_small_regions,
    select_parts,
)
from fr_sam.phrases import noun_phrases
from fr_sam.plugin import SamRewardOptions
from fr_sam.reward import SamReward, surplus_parts
from fr_sam.testing import shared_tiny_models
from fr_sam.vocab import load_vocabulary


def _square_mask(x: int, y: int, side: int) -> np.ndarray:
    mask = np.zeros((64, 64), dtype=bool)
    mask[y : y + side, x : x + side] = True
    return mask


def _record(mask: np.ndarray, iou: float = 0.9) -> dict[str, Any]:
    return {"area": int(mask.sum()), "segmentation": mask, "predicted_iou": iou, "stability_score": 0.95}


def test_background_sized_and_small_masks_are_not_parts() -> None:
    options = SamRewardOptions(min_area=20, max_area_fraction=0.5, max_parts=2)
    background = np.ones((64, 64), dtype=bool)
    background[10:30, 10:30] = False
    records = [
        _record(background),  # the background region SAM returns for a point on the background
        _record(_square_mask(5, 5, 3)),  # a speck
        _record(_square_mask(10, 10, 15)),
        _record(_square_mask(30, 30, 20)),
        _record(_square_mask(40, 2, 10)),
    ]
    found = select_parts(records, options, 64 * 64, 0.7)
    assert [p.area for p in found.parts] == [400, 225]  # largest first, at most max_parts
    assert found.parts[0].box == (30, 30, 50, 50)  # exclusive ends, from the mask
    assert (found.background_masks, found.small_masks, found.over_limit) == (1, 1, 1)


def test_small_holes_and_islands_are_cleaned_like_the_library() -> None:
    mask = _square_mask(10, 10, 20)
    mask[15, 15] = False  # a one-pixel hole
    mask[50:52, 50:52] = True  # a 4-pixel island far away
    filled, changed = remove_small_regions(mask, 20, "holes")
    assert changed and filled[15, 15] and filled[50, 50]
    cleaned, changed = remove_small_regions(filled, 20, "islands")
    assert changed and not cleaned[50:52, 50:52].any() and cleaned.sum() == 400
    alone = _square_mask(0, 0, 3)
    kept, changed = remove_small_regions(alone, 20, "islands")
    assert kept.sum() == 9  # a mask that is all small islands keeps its largest (as the library)
    two = _square_mask(0, 0, 10) | _square_mask(30, 30, 5)
    largest, cut = largest_component(two)
    assert cut and largest.sum() == 100


def test_a_mask_widened_by_a_fragment_is_a_duplicate_once_cleaned() -> None:
    """A mask holding one object plus a few pixels of another escapes box NMS (its box spans
    both objects); cleaning shrinks its box back and NMS removes the duplicate."""
    a, b = _square_mask(5, 5, 18), _square_mask(35, 35, 18)
    widened = a.copy()
    widened[40:43, 40:43] = True
    merged = a | b  # two objects in one mask: single_component keeps the larger piece
    records = [_record(a, 0.95), _record(b, 0.95), _record(widened, 0.97), _record(merged, 0.9)]
    plain = select_parts(records, SamRewardOptions(min_region_area=0), 64 * 64, 0.7)
    assert len(plain.parts) == 4
    cleaned = select_parts(records, SamRewardOptions(min_area=20, single_component=True), 64 * 64, 0.7)
    assert sorted(p.box for p in cleaned.parts) == [(5, 5, 23, 23), (35, 35, 53, 53)]


def test_foreground_points_leave_out_the_plain_background() -> None:
    from segment_anything.utils.amg import build_point_grid

    grid = build_point_grid(16)
    image = np.full((64, 64, 3), 255, dtype=np.uint8)
    image[8:24, 8:24] = (220, 30, 30)  # a red square
    image[40:50, 40:50] = 230  # a faint grey smudge: within the tolerance, background
    kept = foreground_points(grid, image, tolerance=40)
    xs, ys = kept[:, 0] * 64, kept[:, 1] * 64
    assert len(kept) == 16  # the 4 x 4 grid points on the square (spacing 4 px)
    assert ((xs >= 8) & (xs < 24) & (ys >= 8) & (ys < 24)).all()
    assert len(foreground_points(grid, image, tolerance=20)) == 16 + 4  # and the smudge


def test_generator_settings_precedence() -> None:
    recommended = {"points_per_side": 16, "points_per_batch": 256, "pred_iou_thresh": 0.8}
    kwargs = generator_kwargs(SamRewardOptions(pred_iou_thresh=0.5), recommended)
    assert kwargs["points_per_side"] == 16 and kwargs["points_per_batch"] == 256
    assert kwargs["pred_iou_thresh"] == 0.5  # an explicit option wins over the folder
    assert kwargs["stability_score_thresh"] == 0.95  # the library default fills the rest
    assert kwargs["crop_n_layers"] == 0 and kwargs["min_mask_region_area"] == 0


def test_crop_box_is_a_centred_square_with_context() -> None:
    assert crop_box((10, 20, 30, 40), 1.5) == (5, 15, 35, 45)
    assert crop_box((0, 0, 20, 10), 1.0) == (0, -5, 20, 15)


def _labels(*texts: str) -> list[Label]:
    return [Label(t, 0.9 - 0.1 * i) for i, t in enumerate(texts)]


def test_surplus_parts_follow_the_prompt_counts() -> None:
    two = noun_phrases("two circles")
    assert surplus_parts(_labels("red circle", "blue circle"), two) == set()
    assert surplus_parts(_labels("red circle", "blue circle", "green circle"), two) == {2}
    assert surplus_parts(_labels("red circle", "green square"), two) == set()  # left to the LM
    pair = noun_phrases("a red circle and a circle")
    assert surplus_parts(_labels("blue circle", "red circle"), pair) == set()
    assert surplus_parts(_labels("red circle", "red circle", "blue circle"), pair) == {2}
    assert surplus_parts(_labels("circle", "circle"), noun_phrases("some circles")) == set()


def _parts(*areas: int) -> ImageParts:
    return ImageParts([Part(np.zeros((4, 4), bool), (0, 0, 2, 2), a, 0.9, 0.9) for a in areas], 1, 0, 0)


def test_score_is_the_mean_rating_or_area_weighted() -> None:
    reward = SamReward(SamRewardOptions(vocabulary="none"))
    score, detail = reward._combine(
        "a red circle", _parts(100, 300), _labels("red circle", "blue square"), [3.0, 1.0]
    )
    assert score == pytest.approx(2.0)
    assert [p["label"] for p in detail["parts"]] == ["red circle", "blue square"]
    assert detail["parts"][0]["box"] == [0, 0, 2, 2] and detail["parts"][1]["area"] == 300
    assert detail["background_masks"] == 1
    json.dumps(detail)
    area = SamReward(SamRewardOptions(vocabulary="none", weighting="area"))
    score, _ = area._combine(
        "a red circle", _parts(100, 300), _labels("red circle", "blue square"), [3.0, 1.0]
    )
    assert score == pytest.approx((3 * 100 + 1 * 300) / 400)


def test_count_check_rates_surplus_parts_as_unlikely() -> None:
    on = SamReward(SamRewardOptions(vocabulary="none", count_check=True))
    off = SamReward(SamRewardOptions(vocabulary="none", count_check=False))
    labels = _labels("red circle", "blue circle", "green circle")
    score_on, detail = on._combine("two circles", _parts(1, 1, 1), labels, [3.0, 3.0, 3.0])
    score_off, _ = off._combine("two circles", _parts(1, 1, 1), labels, [3.0, 3.0, 3.0])
    assert score_off == 3.0 and score_on == pytest.approx(7 / 3)
    assert detail["parts"][2]["surplus"] is True and detail["parts"][2]["lm_rating"] == 3.0


def test_no_parts_gives_the_documented_empty_score() -> None:
    reward = SamReward(SamRewardOptions(vocabulary="none", empty_score=1.5))
    score, detail = reward._combine("a cat", _parts(), [], [])
    assert score == 1.5 and detail["parts"] == []


def test_vocabularies() -> None:
    coco_ade = load_vocabulary("coco-ade20k")
    assert {"person", "sky", "brick wall", "television", "chest of drawers", "playing field"} <= set(coco_ade)
    assert not any(label.endswith(("-other", "-stuff")) for label in coco_ade)
    assert len(coco_ade) == len(set(coco_ade)) > 250
    toy = load_vocabulary("toy")
    assert len(toy) == 15 and "purple triangle" in toy
    assert load_vocabulary("none") == ()


def test_vocabulary_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("# my labels\nCat\ndog  # a comment\n\ncat\n")
    assert load_vocabulary(str(path)) == ("cat", "dog")


def test_candidates_put_the_prompt_phrases_first() -> None:
    reward = SamReward(SamRewardOptions(vocabulary="toy"))
    names = reward.candidates("two circles and a red square")
    assert names[:2] == ["circle", "red square"]
    assert len(names) == 16 and names.count("red square") == 1  # 15 toy labels + "circle"
    assert SamReward(SamRewardOptions(vocabulary="none")).candidates("") == ["object"]


@pytest.fixture(scope="module")
def tiny_reward() -> Reward:
    spec = get_registry().reward("sam")
    reward = spec.build(spec.resolve_options("toy", shared_tiny_models()))
    reward.setup("cpu", "float32")
    return reward


def test_one_encoder_one_clip_and_one_lm_forward_per_batch(tiny_reward: SamReward) -> None:
    calls = {"encoder": 0, "vision": 0, "lm": 0}

    def counter(name: str) -> Any:
        def hook(*_: Any) -> None:
            calls[name] += 1

        return hook

    assert tiny_reward.finder and tiny_reward.labeller and tiny_reward.rater
    handles = [
        tiny_reward.finder.sam.image_encoder.register_forward_hook(counter("encoder")),
        tiny_reward.labeller.model.vision_model.register_forward_hook(counter("vision")),
        tiny_reward.rater.model.register_forward_hook(counter("lm")),
    ]
    tiny_reward.rating_cache.clear()
    try:
        images, prompts = default_inputs()
        out = tiny_reward.score(images, prompts)
    finally:
        for handle in handles:
            handle.remove()
    assert sum(1 for d in out.details if d["parts"]) >= 3  # parts of several images in the batch
    assert calls == {"encoder": 1, "vision": 1, "lm": 1}


def test_ratings_are_cached_on_the_reward(tiny_reward: SamReward) -> None:
    images, prompts = default_inputs()
    tiny_reward.score(images[:2], prompts[:2])
    assert tiny_reward.rater is not None
    before = tiny_reward.rater.forward_passes
    again = tiny_reward.score(images[:2], prompts[:2])
    assert tiny_reward.rater.forward_passes == before  # every (prompt, label) was cached
    keys = {(p, part["label"]) for p, d in zip(prompts, again.details) for part in d["parts"]}
    assert keys <= {(p, label) for p, label, _ in tiny_reward.rating_cache}


def test_images_without_parts_score_empty_score(tmp_path: Path) -> None:
    spec = get_registry().reward("sam")
    options = {**shared_tiny_models(), "pred_iou_thresh": 1.0, "empty_score": 1.0}
    reward = spec.build(spec.resolve_options("toy", options))
    reward.setup("cpu", "float32")
    images, prompts = default_inputs()
    out = reward.score(images[:3], prompts[:3])
    assert out.scores == [1.0, 1.0, 1.0]
    assert all(d["parts"] == [] for d in out.details)


def test_images_of_different_sizes_share_a_batch(tiny_reward: SamReward) -> None:
    """The batched SAM encoder pads each image like SamPredictor: sizes may differ in a batch."""
    images, prompts = default_inputs()
    odd = [images[0].crop((0, 0, 64, 48)), images[1].resize((40, 40)), images[2]]
    batch = tiny_reward.score(odd, prompts[:3]).scores
    singles = [tiny_reward.score([img], [p]).scores[0] for img, p in zip(odd, prompts[:3])]
    assert batch == pytest.approx(singles, abs=1e-4)


def _decoder_points(reward: SamReward, images: list[Any], prompts: list[str]) -> tuple[list[int], Any]:
    """Points per mask-decoder call while scoring, and the reward's output."""
    points: list[int] = []

    def count(_module: Any, _args: Any, kwargs: dict[str, Any], _out: Any) -> None:
        points.append(int(kwargs["sparse_prompt_embeddings"].shape[0]))

    assert reward.finder is not None
    handle = reward.finder.sam.mask_decoder.register_forward_hook(count, with_kwargs=True)
    try:
        out = reward.score(images, prompts)
    finally:
        handle.remove()
    return points, out


def test_background_points_are_not_prompted() -> None:
    spec = get_registry().reward("sam")
    images, prompts = default_inputs()
    batch = [images[0], Image.new("RGB", (64, 64), "white")]
    calls, outs = {}, {}
    for mode in ("prompt", "skip"):
        reward = spec.build(spec.resolve_options("toy", {**shared_tiny_models(), "background_points": mode}))
        reward.setup("cpu", "float32")
        calls[mode], outs[mode] = _decoder_points(reward, batch, [prompts[0], "a red circle"])
    grid = 16  # the tiny folder's 4 x 4 grid
    assert calls["prompt"] == [grid, grid]
    assert [d["points_prompted"] for d in outs["prompt"].details] == [grid, grid]
    assert len(calls["skip"]) == 1 and 0 < calls["skip"][0] < grid  # the render's objects only
    assert [d["points_prompted"] for d in outs["skip"].details] == [calls["skip"][0], 0]
    assert outs["skip"].details[1]["parts"] == [] and outs["skip"].scores[1] == 1.0  # blank: empty score
