"""The colourfulness metric: sigma_rgyb + 0.3 * mu_rgyb over the opponent colour channels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from finerewards import RewardOutput
from fr_example_reward.plugin import ColorfulnessOptions


class Colorfulness:
    """Hasler and Suesstrunk (2003), "Measuring colourfulness in natural images"."""

    def __init__(self, options: ColorfulnessOptions) -> None:
        self.scale = options.scale

    def setup(self, device: str, dtype: str) -> None:
        """Nothing to load: the metric is arithmetic on the pixels."""

    def score(self, images: Sequence[Any], prompts: Sequence[str]) -> RewardOutput:
        scores, details = [], []
        for image in images:
            rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
            rg = rgb[..., 0] - rgb[..., 1]
            yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
            sigma = float(np.hypot(rg.std(), yb.std()))
            mu = float(np.hypot(rg.mean(), yb.mean()))
            scores.append(self.scale * (sigma + 0.3 * mu))
            details.append({"sigma_rgyb": sigma, "mu_rgyb": mu})
        return RewardOutput(scores, details)

    def close(self) -> None:
        """Nothing to free."""
