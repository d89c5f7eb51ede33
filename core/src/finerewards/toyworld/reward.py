"""The `oracle` reward: the toy world's exact judge as a reward (a toy-world-only upper bound)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from finerewards.errors import UsageError
from finerewards.types import NoOptions, RewardOutput

if TYPE_CHECKING:
    from PIL.Image import Image


class OracleReward:
    """Scores 1 when the image holds exactly what the prompt asks, else partial credit < 0.9.

    No model: `setup` and `close` do nothing. Prompts must be toy-world prompts.
    """

    def __init__(self, options: NoOptions | None = None) -> None:
        self.options = options

    def setup(self, device: str, dtype: str) -> None:
        """Nothing to load: the oracle is plain geometry."""

    def score(self, images: Sequence[Image], prompts: Sequence[str]) -> RewardOutput:
        from finerewards.toyworld.oracle import judge

        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} images for {len(prompts)} prompts")
        details = []
        for image, prompt in zip(images, prompts, strict=True):
            try:
                details.append(judge(prompt, image))
            except ValueError as exc:
                raise UsageError(f"oracle reward: {exc}") from None
        return RewardOutput([d.pop("score") for d in details], details)

    def close(self) -> None:
        """Nothing to free."""
