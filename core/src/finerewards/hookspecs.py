"""The hooks a FineRewards plugin can implement (pluggy project name "finerewards").

Hooks register things; the registered objects do the work. Each `register` callable takes one
spec (`RewardSpec`, `NormalizerSpec`, `AggregatorSpec`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("finerewards")
hookimpl = pluggy.HookimplMarker("finerewards")


@hookspec
def register_rewards(register: Callable[[Any], None]) -> None:
    """Register rewards: call register(RewardSpec(...)) once per reward."""


@hookspec
def register_normalizers(register: Callable[[Any], None]) -> None:
    """Register per-prompt-group normalisers: register(NormalizerSpec(...))."""


@hookspec
def register_aggregators(register: Callable[[Any], None]) -> None:
    """Register rank aggregators that combine several rewards: register(AggregatorSpec(...))."""


@hookspec
def register_commands(app: Any) -> None:
    """Add commands to the `fr` typer app."""
