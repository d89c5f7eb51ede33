"""The reward contract test-suite that every reward plugin reuses.

Subclass `RewardContract` in a test module and name the reward::

    from finerewards.testing import RewardContract

    class TestMyReward(RewardContract):
        reward_name = "my-reward"
        plugin_module = "fr_myreward.plugin"

The suite checks what the core relies on: a valid spec; one finite score per input; scores
that do not depend on batch size or on the other items of a batch; correct pairing of images
with prompts (shuffling the pairs permutes the scores the same way: the original research
notebook scored images against the wrong prompts); repeatable scores; and an entry-point module
that imports no heavy library.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from finerewards.registry import get_registry
from finerewards.types import Reward, RewardSpec

if TYPE_CHECKING:
    from PIL.Image import Image

HEAVY_MODULES = ("torch", "transformers", "diffusers", "segment_anything", "open_clip")

DEFAULT_PROMPTS = (
    "a red circle",
    "a blue square and a green triangle",
    "two circles",
    "a purple triangle to the left of a red square",
    "a green circle above a blue triangle",
    "three squares",
)


class _TouchOnUnpickle:
    """Pickles to a call of `Path.touch(marker)`: unpickling it runs code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        from pathlib import Path

        return (Path.touch, (self.marker,))


def code_running_checkpoint(path: str | os.PathLike[str]) -> str:
    """Write a torch checkpoint at `path` whose unpickling would run code (it creates a marker
    file), for testing that a weight loader refuses it; returns the marker's path, which must
    stay absent. Imports torch."""
    import torch

    marker = f"{os.fspath(path)}.ran-code"
    torch.save({"weight": torch.zeros(1), "payload": _TouchOnUnpickle(marker)}, path)
    return marker


def default_inputs() -> tuple[list[Image], list[str]]:
    """Ground-truth toy-world renders paired with their prompts (distinct images and prompts)."""
    from finerewards.toyworld.render import render

    prompts = list(DEFAULT_PROMPTS)
    return [render(prompt, seed=i) for i, prompt in enumerate(prompts)], prompts


class RewardContract:
    """Base class of a reward's contract tests; override the class attributes as needed."""

    reward_name: ClassVar[str] = ""
    preset: ClassVar[str] = "toy"
    options: ClassVar[dict[str, Any]] = {}
    plugin_module: ClassVar[str | None] = None
    """The module named by the plugin's entry point; it must import no heavy library."""
    tolerance: ClassVar[float] = 1e-4
    device: ClassVar[str] = "cpu"
    dtype: ClassVar[str] = "float32"

    # hooks a subclass may override -------------------------------------------------------

    def spec(self) -> RewardSpec:
        return get_registry().reward(self.reward_name)

    def make_reward(self) -> Reward:
        spec = self.spec()
        reward = spec.build(spec.resolve_options(self.preset, self.options))
        reward.setup(self.device, self.dtype)
        return reward

    def make_inputs(self) -> tuple[list[Image], list[str]]:
        return default_inputs()

    # fixtures ----------------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def reward(cls) -> Iterator[Reward]:
        built = cls().make_reward()
        yield built
        built.close()

    @pytest.fixture(scope="class")
    @classmethod
    def inputs(cls) -> tuple[list[Image], list[str]]:
        images, prompts = cls().make_inputs()
        assert len(images) == len(prompts) >= 3, "the contract needs at least 3 inputs"
        return images, prompts

    @pytest.fixture(scope="class")
    @classmethod
    def baseline(cls, reward: Reward, inputs: tuple[list[Image], list[str]]) -> list[float]:
        images, prompts = inputs
        return list(reward.score(images, prompts).scores)

    def assert_close(self, got: Sequence[float], want: Sequence[float], what: str) -> None:
        assert len(got) == len(want), f"{what}: {len(got)} scores for {len(want)} inputs"
        for i, (a, b) in enumerate(zip(got, want)):
            assert math.isclose(a, b, rel_tol=self.tolerance, abs_tol=self.tolerance), (
                f"{what}: item {i} scored {a} here and {b} in the full batch"
            )

    # the contract ------------------------------------------------------------------------

    def test_spec_is_valid(self) -> None:
        spec = self.spec()
        assert spec.name == self.reward_name
        assert spec.description.strip(), "a reward needs a description"
        assert self.preset in spec.presets
        spec.resolve_options(self.preset, self.options)
        assert callable(spec.load_factory())
        get_registry().normalizer(spec.default_normalizer)

    def test_one_finite_score_per_input(self, reward: Reward, inputs: tuple[list[Image], list[str]]) -> None:
        images, prompts = inputs
        output = reward.score(images, prompts)
        low, high = self.spec().score_range
        assert len(output.scores) == len(images)
        assert len(output.details) == len(images)
        for value in output.scores:
            assert math.isfinite(value), f"non-finite score {value}"
            assert low - 1e-6 <= value <= high + 1e-6, f"score {value} outside {low}..{high}"
        json.dumps(output.details)  # details must be JSON-serialisable

    def test_scores_do_not_depend_on_batching(
        self, reward: Reward, inputs: tuple[list[Image], list[str]], baseline: list[float]
    ) -> None:
        images, prompts = inputs
        singles = [reward.score([img], [p]).scores[0] for img, p in zip(images, prompts)]
        self.assert_close(singles, baseline, "batch size 1")
        half = len(images) // 2
        split = list(reward.score(images[:half], prompts[:half]).scores) + list(
            reward.score(images[half:], prompts[half:]).scores
        )
        self.assert_close(split, baseline, "other batch companions")

    def test_pairs_stay_paired_when_shuffled(
        self, reward: Reward, inputs: tuple[list[Image], list[str]], baseline: list[float]
    ) -> None:
        images, prompts = inputs
        order = list(range(len(images)))
        random.Random(0).shuffle(order)
        if order == sorted(order):
            order.reverse()
        shuffled = reward.score([images[i] for i in order], [prompts[i] for i in order]).scores
        self.assert_close(shuffled, [baseline[i] for i in order], "shuffled pairs")

    def test_scores_repeat(
        self, reward: Reward, inputs: tuple[list[Image], list[str]], baseline: list[float]
    ) -> None:
        images, prompts = inputs
        self.assert_close(reward.score(images, prompts).scores, baseline, "second call")

    def test_plugin_module_imports_no_heavy_library(self) -> None:
        module = self.plugin_module
        if module is None:
            pytest.skip("no plugin_module named")
        code = (
            f"import sys, {module}\n"
            f"heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]\n"
            "print(','.join(heavy))"
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        ).stdout.strip()
        assert not out, f"importing {module} imported {out}"
