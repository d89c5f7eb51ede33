"""Test rewards and helpers for the trainer tests (importable by subprocesses: on PYTHONPATH).

`redshare` is the share of pixels whose red channel beats both others: a simple, learnable
signal even for a random tiny UNet. `nanshare` is the same but NaN for one image, to check that
non-finite rewards stop a round with a message naming the reward and the sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from finerewards import RewardOptions, RewardOutput, RewardSpec, hookimpl


class RedOptions(RewardOptions):
    margin: int = 0


class RedShare:
    def __init__(self, options: RedOptions) -> None:
        self.margin = options.margin
        self.calls: list[int] = []

    def setup(self, device: str, dtype: str) -> None:
        pass

    def score(self, images: Sequence[Any], prompts: Sequence[str]) -> RewardOutput:
        import numpy as np

        out = []
        for image in images:
            a = np.asarray(image.convert("RGB")).astype(np.int32)
            red = (a[..., 0] > a[..., 1] + self.margin) & (a[..., 0] > a[..., 2] + self.margin)
            out.append(float(red.mean()))
        return RewardOutput(out)

    def close(self) -> None:
        pass


class NanShare(RedShare):
    def score(self, images: Sequence[Any], prompts: Sequence[str]) -> RewardOutput:
        scores = RedShare.score(self, images, prompts).scores
        if len(scores) > 2:
            scores[2] = float("nan")
        return RewardOutput(scores)


@hookimpl
def register_rewards(register: Callable[[RewardSpec], None]) -> None:
    register(
        RewardSpec(
            name="redshare",
            description="share of red-dominant pixels (test reward)",
            factory="train_support:RedShare",
            options=RedOptions,
            score_range=(0.0, 1.0),
            batch_size=64,
        )
    )
    register(
        RewardSpec(
            name="nanshare",
            description="redshare with one NaN (test reward)",
            factory="train_support:NanShare",
            options=RedOptions,
            batch_size=64,
        )
    )
