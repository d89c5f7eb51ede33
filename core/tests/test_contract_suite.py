"""The contract suite passes for a good reward and catches the bugs it exists for."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import sample_rewards
from PIL import Image

from finerewards import RewardOutput
from finerewards.testing import RewardContract


def _inputs() -> tuple[list[Image.Image], list[str]]:
    images = []
    for i in range(5):
        image = Image.new("RGB", (16, 16), (255, 255, 255))
        for y in range(i * 3):
            for x in range(16):
                image.putpixel((x, y), (220, 40, 40))
        images.append(image)
    return images, ["a", "b b", "c c c", "d", "e e"]


class TestRedShareContract(RewardContract):
    reward_name = "redshare"
    plugin_module = "sample_rewards"

    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def _registry(cls) -> Iterator[None]:
        from finerewards.plugins import PluginHost
        from finerewards.registry import Registry, reset_registry

        host = PluginHost().load(entry_points=False)
        host.register(sample_rewards, "samples")
        reset_registry(Registry.from_host(host))
        yield
        reset_registry()

    def make_inputs(self) -> tuple[list[Image.Image], list[str]]:
        return _inputs()


class MixesPairs(sample_rewards.PromptLength):
    """The notebook's bug: scores image i against prompt (i + 1) of the batch."""

    def score(self, images: Sequence[Any], prompts: Sequence[str]) -> RewardOutput:
        shifted = list(prompts[1:]) + list(prompts[:1])
        return RewardOutput([float(len(p.split())) for p in shifted])


class BatchNormalised(sample_rewards.PromptLength):
    """Scores relative to the batch mean: depends on the other items of the batch."""

    def score(self, images: Sequence[Any], prompts: Sequence[str]) -> RewardOutput:
        raw = [float(len(p.split())) for p in prompts]
        mean = sum(raw) / len(raw)
        return RewardOutput([r - mean for r in raw])


@pytest.mark.parametrize(
    ("reward", "test_name"),
    [
        (MixesPairs(None), "test_pairs_stay_paired_when_shuffled"),  # type: ignore[arg-type]
        (BatchNormalised(None), "test_scores_do_not_depend_on_batching"),  # type: ignore[arg-type]
    ],
)
def test_contract_catches_broken_rewards(reward: Any, test_name: str) -> None:
    contract = RewardContract()
    inputs = _inputs()
    baseline = list(reward.score(*inputs).scores)
    with pytest.raises(AssertionError):
        getattr(contract, test_name)(reward, inputs, baseline)
