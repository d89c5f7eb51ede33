"""FineRewards: fine-tune text-to-image diffusion models on their best samples, ranked by rewards.

Plugin authors import what they need from here: the `hookimpl` marker, the spec types and
`resolve_model`. Importing this package never imports torch.
"""

from __future__ import annotations

from importlib import metadata

from finerewards.hookspecs import hookimpl
from finerewards.models import resolve_model
from finerewards.types import (
    AggregatorSpec,
    NoOptions,
    NormalizerSpec,
    Reward,
    RewardOptions,
    RewardOutput,
    RewardSpec,
)

try:
    __version__ = metadata.version("finerewards")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+source"

__all__ = [
    "AggregatorSpec",
    "NoOptions",
    "NormalizerSpec",
    "Reward",
    "RewardOptions",
    "RewardOutput",
    "RewardSpec",
    "__version__",
    "hookimpl",
    "resolve_model",
]
