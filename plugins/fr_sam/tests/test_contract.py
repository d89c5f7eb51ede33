"""The core's reward contract, on tiny random models (always) and on the toy models (when shipped)."""

from __future__ import annotations

from typing import Any

import pytest

from finerewards.models import toy_model_names
from finerewards.testing import RewardContract, default_inputs
from finerewards.types import Reward
from fr_sam.testing import shared_tiny_models

TOY_MODELS = {"toy:sam", "toy:clip", "toy:lm"}


class TestSamContractTiny(RewardContract):
    """Tiny random SAM/CLIP/Llama through the real loading paths (weights_only, from_pretrained)."""

    reward_name = "sam"
    plugin_module = "fr_sam.plugin"
    preset = "toy"

    def make_reward(self) -> Reward:
        spec = self.spec()
        options: dict[str, Any] = shared_tiny_models()
        reward = spec.build(spec.resolve_options(self.preset, options))
        reward.setup(self.device, self.dtype)
        return reward


@pytest.mark.skipif(not TOY_MODELS <= set(toy_model_names()), reason="toy:sam/clip/lm not shipped yet")
class TestSamContractToy(RewardContract):
    """The toy preset exactly as users get it (4 inputs: the toy SAM's 16 x 16 point grid costs
    about a second per image on a shared CPU core)."""

    reward_name = "sam"
    plugin_module = "fr_sam.plugin"
    preset = "toy"

    def make_inputs(self) -> tuple[list[Any], list[str]]:
        images, prompts = default_inputs()
        return images[:4], prompts[:4]
