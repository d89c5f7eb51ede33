"""The core's reward contract, on tiny random models (always) and on the toy models (when shipped)."""

from __future__ import annotations

import pytest

from finerewards.models import toy_model_names
from finerewards.testing import RewardContract
from finerewards.types import Reward
from fr_caption.tiny import shared

TOY_MODELS = {"toy:captioner", "toy:clip"}


class TestCaptionContractTiny(RewardContract):
    """Tiny random BLIP-2 (OPT) + CLIP text tower through the real loading paths, both similarities."""

    reward_name = "caption"
    plugin_module = "fr_caption.plugin"
    preset = "toy"
    options = {"similarity": "cosine+ngram", "max_new_tokens": 6, "num_beams": 2}

    def make_reward(self) -> Reward:
        spec = self.spec()
        overrides = {
            **self.options,
            "captioner": str(shared("Blip2ForConditionalGeneration")),
            "text_encoder": str(shared("clip")),
        }
        reward = spec.build(spec.resolve_options(self.preset, overrides))
        reward.setup(self.device, self.dtype)
        return reward


@pytest.mark.skipif(not TOY_MODELS <= set(toy_model_names()), reason="toy:captioner/toy:clip not shipped yet")
class TestCaptionContractToy(RewardContract):
    """The toy preset exactly as users get it."""

    reward_name = "caption"
    plugin_module = "fr_caption.plugin"
    preset = "toy"


@pytest.mark.skipif(not TOY_MODELS <= set(toy_model_names()), reason="toy:captioner/toy:clip not shipped yet")
class TestCaptionContractToyCosine(RewardContract):
    """The paper's similarity (cosine of toy:clip text embeddings) on the toy captioner."""

    reward_name = "caption"
    plugin_module = "fr_caption.plugin"
    preset = "toy"
    options = {"similarity": "cosine"}
