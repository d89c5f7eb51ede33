"""Test rewards and helpers for the trainer tests (importable by subprocesses: on PYTHONPATH).

`redshare` is the share of pixels whose red channel beats both others: a simple, learnable
signal even for a random tiny UNet. `nanshare` is the same but NaN for one image, to check that
non-finite rewards stop a round with a message naming the reward and the sample.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from finerewards import RewardOptions, RewardOutput, RewardSpec, hookimpl


class RedOptions(RewardOptions):
    margin: int = 0


class RedShare:
    def __init__(self, options: RedOptions) -> None:
        self.margin = options.margin
        self.calls: list[int] = []

    def setup(self, device: str, dtype: str) -> None:
        pass

    def score(self, images: Sequence[Any], prompts: Sequence[str]) -> RewardOutput:
        import numpy as np

        out = []
        for image in images:
            a = np.asarray(image.convert("RGB")).astype(np.int32)
            red = (a[..., 0] > a[..., 1] + self.margin) & (a[..., 0] > a[..., 2] + self.margin)
            out.append(float(red.mean()))
        return RewardOutput(out)

    def close(self) -> None:
        pass


class RedPlusLength(RedShare):
    """Depends on the image and on its prompt: catches scores computed against the wrong prompt."""

    batches: list[int] = []
    """Sizes of the batches scored in this process."""

    def score(self, images: Sequence[Any], prompts: Sequence[str]) -> RewardOutput:
        RedPlusLength.batches.append(len(images))
        red = RedShare.score(self, images, prompts).scores
        return RewardOutput([r + len(p) for r, p in zip(red, prompts)])


class NanShare(RedShare):
    def score(self, images: Sequence[Any], prompts: Sequence[str]) -> RewardOutput:
        scores = RedShare.score(self, images, prompts).scores
        if len(scores) > 2:
            scores[2] = float("nan")
        return RewardOutput(scores)


@hookimpl
def register_rewards(register: Callable[[RewardSpec], None]) -> None:
    register(
        RewardSpec(
            name="redshare",
            description="share of red-dominant pixels (test reward)",
            factory="train_support:RedShare",
            options=RedOptions,
            score_range=(0.0, 1.0),
            batch_size=64,
        )
    )
    register(
        RewardSpec(
            name="redshare-low",
            description="redshare, lower is better (test reward: learning must go the other way)",
            factory="train_support:RedShare",
            options=RedOptions,
            higher_is_better=False,
            batch_size=64,
        )
    )
    register(
        RewardSpec(
            name="redlen",
            description="redshare plus the prompt's length (test reward)",
            factory="train_support:RedPlusLength",
            options=RedOptions,
            batch_size=5,
        )
    )
    register(
        RewardSpec(
            name="nanshare",
            description="redshare with one NaN (test reward)",
            factory="train_support:NanShare",
            options=RedOptions,
            batch_size=64,
        )
    )


# helpers ---------------------------------------------------------------------------------

TINY = [
    "generation.steps=3",
    "generation.height=16",
    "generation.width=16",
    "training.steps_per_round=4",
    "training.batch_size=4",
    "training.learning_rate=1e-3",
]
"""Settings that make a round take about a second with the tiny pipeline."""

PROMPTS = ["a red circle", "two blue squares", "a green triangle and a yellow square", "four circles"]

_PIPELINE: list[Path] = []


def tiny_pipeline() -> Path:
    """A tiny random Stable Diffusion pipeline, built once per test process."""
    if not _PIPELINE:
        from finerewards.testing_models import build_tiny_pipeline

        folder = Path(tempfile.mkdtemp(prefix="fr-tiny-sd-"))
        atexit.register(shutil.rmtree, folder, True)
        _PIPELINE.append(build_tiny_pipeline(folder / "sd", image_size=16, color_vae=True))
    return _PIPELINE[0]


def write_prompts(path: Path, prompts: Sequence[str] = PROMPTS) -> Path:
    path.write_text("\n".join(prompts) + "\n", encoding="utf-8")
    return path


@contextmanager
def red_registry() -> Iterator[None]:
    """The test rewards registered through a temporary plugin (as the issue prescribes)."""
    import train_support

    from finerewards.plugins import PluginHost
    from finerewards.registry import Registry, reset_registry

    host = PluginHost().load(entry_points=False)
    host.register(train_support, "redtest")
    reset_registry(Registry.from_host(host))
    try:
        yield
    finally:
        reset_registry()


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread: the 2-core test machines are shared, and results stay comparable."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fake_dist(root: Path) -> Path:
    """A fake installed distribution whose entry point is this module (for `fr` subprocesses)."""
    from fakes import make_dist

    return make_dist(root, "fr-redtest", {}, {"redtest": "train_support"})


def lora_tensors(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(folder / "pytorch_lora_weights.safetensors"))


def max_lora_diff(a: Path, b: Path) -> float:
    ta, tb = lora_tensors(a), lora_tensors(b)
    assert ta.keys() == tb.keys() and ta
    return max(float((ta[k] - tb[k]).abs().max()) for k in ta)


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.update(extra or {})
    return env
