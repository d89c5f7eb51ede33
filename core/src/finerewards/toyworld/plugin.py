"""The toy world's built-in plugin: the `oracle` reward and the `fr toyworld` commands.

Cheap to import (no numpy, torch or model library): the reward's code is named by its
factory string and the commands import their work inside each command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from finerewards.hookspecs import hookimpl
from finerewards.types import RewardSpec

ORACLE = RewardSpec(
    name="oracle",
    description=(
        "Toy world's exact judge (upper bound, toy world only): 1 when the image holds exactly "
        "what the prompt asks, else partial credit below 0.9."
    ),
    factory="finerewards.toyworld.reward:OracleReward",
    higher_is_better=True,
    score_range=(0.0, 1.0),
    presets={"toy": {}},
    default_normalizer="none",
    batch_size=64,
    toy_only=True,
    prompt_check="finerewards.toyworld.prompts:parse",
)


@hookimpl
def register_rewards(register: Callable[[Any], None]) -> None:
    register(ORACLE)


@hookimpl
def register_commands(app: Any) -> None:
    from finerewards.toyworld.cli import app as toyworld_app

    app.add_typer(toyworld_app, name="toyworld")
