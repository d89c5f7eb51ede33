"""PickScore (Kirstain et al. 2023, "Pick-a-Pic: An Open Dataset of User Preferences for
Text-to-Image Generation"): logit_scale.exp() * cos(E_image, E_text) with the CLIPModel
yuvalkirstain/PickScore_v1 (ViT-H/14 fine-tuned on Pick-a-Pic) and the processor of
laion/CLIP-ViT-H-14-laion2B-s32B-b79K, exactly as the model card computes it (logit_scale.exp()
is 100, so the score is 100 * cos; typical values 18 to 23).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from finerewards import RewardOutput, resolve_model
from fr_baselines.base import BaselineReward
from fr_baselines.clip_pair import ClipPair, load_clip_pair

if TYPE_CHECKING:
    from PIL.Image import Image

    from fr_baselines.plugin import PickScoreOptions


class PickScore(BaselineReward):
    options: PickScoreOptions
    pair: ClipPair

    def load(self) -> None:
        model, processor = resolve_model(self.options.model), resolve_model(self.options.processor)
        self.pair = load_clip_pair(model, processor, self.device, self.dtype)
        self.scale = self.pair.logit_scale()

    def compute(self, images: Sequence[Image], prompts: Sequence[str]) -> RewardOutput:
        cos = self.pair.cosines(images, prompts).tolist()
        return RewardOutput([self.scale * c for c in cos], [{"cosine": c} for c in cos])
