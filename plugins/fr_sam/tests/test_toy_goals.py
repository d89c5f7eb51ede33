"""The toy preset's measured goals, on ground-truth renders (TOYWORLD.md) and their near misses:
the satisfying image scores above the same image with one extra object in >= 85% of pairs, and
above the image with one (prompt-named) colour changed in >= 80% of pairs."""

from __future__ import annotations

from typing import Any

import pytest

from finerewards.models import toy_model_names
from finerewards.registry import get_registry
from fr_sam.testing import toy_near_miss_pairs

pytestmark = pytest.mark.skipif(
    not {"toy:sam", "toy:clip", "toy:lm"} <= set(toy_model_names()), reason="toy:sam/clip/lm not shipped yet"
)


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    spec = get_registry().reward("sam")
    reward = spec.build(spec.resolve_options("toy"))
    reward.setup("cpu", "float32")
    rows = toy_near_miss_pairs(per_category=8, seed=0)  # ~120 images: the time budget of the suite
    images, prompts, where = [], [], []
    for i, row in enumerate(rows):
        for kind in ("image", "extra", "recolored"):
            if row[kind] is not None:
                images.append(row[kind])
                prompts.append(row["prompt"])
                where.append((i, kind))
    scores: dict[tuple[int, str], float] = {}
    for start in range(0, len(images), spec.batch_size):
        out = reward.score(images[start : start + spec.batch_size], prompts[start : start + spec.batch_size])
        scores.update(zip(where[start : start + spec.batch_size], out.scores))
    reward.close()
    return {"rows": rows, "scores": scores}


def _accuracy(results: dict[str, Any], kind: str) -> tuple[float, int]:
    scores = results["scores"]
    wins = [
        scores[(i, "image")] > scores[(i, kind)] for i, _ in enumerate(results["rows"]) if (i, kind) in scores
    ]
    return sum(wins) / len(wins), len(wins)


def test_satisfying_image_beats_one_extra_object(results: dict[str, Any]) -> None:
    accuracy, n = _accuracy(results, "extra")
    assert n >= 40
    assert accuracy >= 0.85, f"extra-object pairs: {accuracy:.2%} of {n}"


def test_satisfying_image_beats_one_recolored_object(results: dict[str, Any]) -> None:
    accuracy, n = _accuracy(results, "recolored")
    assert n >= 20
    assert accuracy >= 0.80, f"recoloured pairs: {accuracy:.2%} of {n}"


def test_skipping_background_points_finds_the_same_parts() -> None:
    """The toy preset does not prompt SAM on the white background: on ground-truth renders the
    parts (boxes and labels) are those the full grid finds."""
    from finerewards.testing import default_inputs

    spec = get_registry().reward("sam")
    images, prompts = default_inputs()
    found = {}
    for mode in ("prompt", "skip"):
        reward = spec.build(spec.resolve_options("toy", {"background_points": mode}))
        reward.setup("cpu", "float32")
        out = reward.score(images, prompts)
        found[mode] = [[(p["box"], p["label"]) for p in d["parts"]] for d in out.details]
        prompted = [d["points_prompted"] for d in out.details]
        reward.close()
        if mode == "skip":
            assert max(prompted) < 256 / 2  # most of the 16 x 16 grid is background
    assert found["skip"] == found["prompt"]
    assert sum(map(len, found["skip"])) >= len(images)
