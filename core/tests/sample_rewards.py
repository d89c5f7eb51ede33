"""Small pure-Python rewards for the core tests (importable through fake entry points)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from finerewards import RewardOptions, RewardOutput, RewardSpec, hookimpl

CALLS: list[int] = []


class RedOptions(RewardOptions):
    threshold: int = 150
    scale: float = 1.0
    weights: str = ""
    """Unused: a model-like option, to check that bad paths and ids fail before any work."""


class RedShare:
    """Share of clearly red pixels: a reward anyone can check by eye."""

    def __init__(self, options: RedOptions) -> None:
        self.options = options
        self.ready = False

    def setup(self, device: str, dtype: str) -> None:
        self.ready = True

    def score(self, images: Sequence[Any], prompts: Sequence[str]) -> RewardOutput:
        assert self.ready
        CALLS.append(len(images))
        scores, details = [], []
        for image in images:
            data = image.convert("RGB").tobytes()
            pixels = [data[i : i + 3] for i in range(0, len(data), 3)]
            red = sum(1 for r, g, b in pixels if r > self.options.threshold and g < 100 and b < 100)
            share = red / len(pixels)
            scores.append(self.options.scale * share)
            details.append({"red_pixels": red})
        return RewardOutput(scores, details)

    def close(self) -> None:
        self.ready = False


class PromptLength:
    """Length of the prompt in words: lets tests see which prompt an image was scored with."""

    def __init__(self, options: RewardOptions) -> None:
        pass

    def setup(self, device: str, dtype: str) -> None:
        pass

    def score(self, images: Sequence[Any], prompts: Sequence[str]) -> RewardOutput:
        return RewardOutput([float(len(p.split())) for p in prompts])

    def close(self) -> None:
        pass


class OfflineReward(PromptLength):
    def setup(self, device: str, dtype: str) -> None:
        raise OSError("We couldn't connect to 'https://huggingface.co'.\nCheck your internet connection.")


class NaNReward(PromptLength):
    def score(self, images: Sequence[Any], prompts: Sequence[str]) -> RewardOutput:
        return RewardOutput([float("nan") if "bad" in p else 1.0 for p in prompts])


RED = RewardSpec(
    name="redshare",
    description="share of red pixels (test reward)",
    factory="sample_rewards:RedShare",
    score_range=(0.0, 1.0),
    options=RedOptions,
    presets={"toy": {}, "paper": {"threshold": 200}},
    default_normalizer="rank",
)
LENGTH = RewardSpec(
    name="promptlen",
    description="words in the prompt (test reward)",
    factory="sample_rewards:PromptLength",
    score_range=(0.0, 100.0),
)
NAN = RewardSpec(
    name="nanreward", description="NaN for prompts with 'bad'", factory="sample_rewards:NaNReward"
)
OFFLINE = RewardSpec(
    name="offline", description="its model cannot load (test reward)", factory="sample_rewards:OfflineReward"
)


@hookimpl
def register_rewards(register: Any) -> None:
    register(RED)
    register(LENGTH)
    register(NAN)
    register(OFFLINE)
