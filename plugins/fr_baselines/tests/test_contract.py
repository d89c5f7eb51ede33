"""The core's reward contract for all six rewards, on tiny random models in the published formats.

Each reward is built through its spec with options that point at a tiny model written to a
temporary folder, so the real loading paths run (transformers folders, the HPSv2 open_clip
checkpoint, the ImageReward BLIP checkpoint, the aesthetic .pth) with no download.
"""

from __future__ import annotations

from typing import Any

import pytest
from frb_tiny import tiny_options

from finerewards.models import toy_model_names
from finerewards.testing import RewardContract
from finerewards.types import Reward

PLUGIN = "fr_baselines.plugin"


class TinyContract(RewardContract):
    plugin_module = PLUGIN
    preset = "paper"

    def make_reward(self) -> Reward:
        spec = self.spec()
        options: dict[str, Any] = {**self.options, **tiny_options(self.reward_name)}
        reward = spec.build(spec.resolve_options(self.preset, options))
        reward.setup(self.device, self.dtype)
        return reward


class TestClipContract(TinyContract):
    reward_name = "clip"


class TestPickScoreContract(TinyContract):
    reward_name = "pickscore"


class TestHPSv2Contract(TinyContract):
    reward_name = "hpsv2"


class TestImageRewardContract(TinyContract):
    reward_name = "imagereward"


class TestAestheticContract(TinyContract):
    reward_name = "aesthetic"


class TestBlipItmContract(TinyContract):
    reward_name = "blip-itm"


class TestBlipItcContract(TinyContract):
    reward_name = "blip-itm"
    options = {"head": "itc"}


@pytest.mark.skipif("toy:clip" not in toy_model_names(), reason="toy:clip is not shipped yet")
class TestClipToyPresetContract(RewardContract):
    """The toy preset as users run it: toy:clip, shipped with the core."""

    reward_name = "clip"
    plugin_module = PLUGIN
    preset = "toy"


@pytest.mark.skipif("toy:itm" not in toy_model_names(), reason="toy:itm is not shipped")
class TestBlipItmToyPresetContract(RewardContract):
    """The toy preset as users run it: toy:itm, shipped with the core."""

    reward_name = "blip-itm"
    plugin_module = PLUGIN
    preset = "toy"
