"""Hook implementations only: registering is cheap, the scoring code loads on first use."""

from __future__ import annotations

from collections.abc import Callable

from finerewards import RewardOptions, RewardSpec, hookimpl


class ColorfulnessOptions(RewardOptions):
    scale: float = 1.0
    """Multiplies the metric (the published metric is roughly 0 to 150 on photographs)."""


@hookimpl
def register_rewards(register: Callable[[RewardSpec], None]) -> None:
    register(
        RewardSpec(
            name="colorfulness",
            description="Hasler-Suesstrunk colourfulness of the pixels (ignores the prompt)",
            factory="fr_example_reward.reward:Colorfulness",
            higher_is_better=True,
            score_range=(0.0, float("inf")),
            options=ColorfulnessOptions,
            presets={"toy": {}, "paper": {}},
            default_normalizer="zscore",
            batch_size=64,
        )
    )
