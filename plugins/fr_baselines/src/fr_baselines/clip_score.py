"""CLIPScore (Hessel et al. 2021, "CLIPScore: A Reference-free Evaluation Metric for Image
Captioning"): w * max(cos(E_image, E_text), 0) with w = 2.5; w = 100 gives torchmetrics'
CLIPScore. Range [0, w]; typical values for matching photo/prompt pairs 0.6 to 0.9 (w = 2.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from finerewards import RewardOutput, resolve_model
from fr_baselines.base import BaselineReward
from fr_baselines.clip_pair import ClipPair, load_clip_pair

if TYPE_CHECKING:
    from PIL.Image import Image

    from fr_baselines.plugin import ClipScoreOptions


class ClipScore(BaselineReward):
    options: ClipScoreOptions
    pair: ClipPair

    def load(self) -> None:
        path = resolve_model(self.options.model)
        self.pair = load_clip_pair(path, path, self.device, self.dtype)

    def compute(self, images: Sequence[Image], prompts: Sequence[str]) -> RewardOutput:
        texts = [self.options.prefix + prompt for prompt in prompts]
        cos = self.pair.cosines(images, texts).tolist()
        scores = [self.options.w * max(c, 0.0) for c in cos]
        return RewardOutput(scores, [{"cosine": c} for c in cos])
