"""The life cycle every baseline reward shares: options in, models loaded in setup, freed in close."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from finerewards import RewardOutput
from fr_baselines.common import check_pairs, free, torch_dtype

if TYPE_CHECKING:
    from PIL.Image import Image


class BaselineReward:
    """Subclasses implement `load()` (set attributes) and `compute()` (one batch, one pass)."""

    def __init__(self, options: Any) -> None:
        self.options = options
        self.device = "cpu"
        self.loaded = False

    def setup(self, device: str, dtype: str) -> None:
        self.device = device
        self.dtype = torch_dtype(dtype)
        self.load()
        self.loaded = True

    def load(self) -> None:
        raise NotImplementedError

    def compute(self, images: Sequence[Image], prompts: Sequence[str]) -> RewardOutput:
        raise NotImplementedError

    def score(self, images: Sequence[Image], prompts: Sequence[str]) -> RewardOutput:
        check_pairs(images, prompts)
        if not self.loaded:
            raise RuntimeError(f"{type(self).__name__}.setup() must run before score()")
        if not images:
            return RewardOutput([], [])
        return self.compute(images, prompts)

    def close(self) -> None:
        """Drop every model reference and give the memory back."""
        for name in list(vars(self)):
            if name not in {"options", "device", "dtype", "loaded"}:
                delattr(self, name)
        self.loaded = False
        free(self.device)
