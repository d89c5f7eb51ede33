"""Loading the Stable Diffusion pipeline, choosing its sampler, moving it between devices.

The model is named like every model in FineRewards (`toy:<name>`, a local folder, or a hub id)
and loaded with diffusers' own `from_pretrained`. `check_model` is the cheap part that runs
before any heavy work.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finerewards.errors import FRError, UsageError
from finerewards.libraries import quiet_libraries
from finerewards.models import check_hub_model, resolve_model

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

SCHEDULER_CLASSES = {
    "ddim": "DDIMScheduler",
    "ddpm": "DDPMScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler-ancestral": "EulerAncestralDiscreteScheduler",
    "dpm-solver": "DPMSolverMultistepScheduler",
    "pndm": "PNDMScheduler",
}
CLIPPING = {"ddim", "ddpm"}
"""Samplers whose `clip_sample` (meant for pixel diffusion) must be off for latent diffusion."""


def check_model(ref: str) -> str:
    """The loadable name of `ref`; a local folder must be a diffusers pipeline, a hub id must be
    cached or downloadable (no loading)."""
    resolved = resolve_model(ref)
    if os.path.exists(resolved):
        folder = Path(resolved)
        if not (folder / "model_index.json").is_file():
            raise UsageError(
                f"model {ref!r} is not a diffusers pipeline folder (no model_index.json in {folder})"
            )
    else:
        check_hub_model(resolved)
    return resolved


def load_pipeline(ref: str, dtype: str = "float32") -> StableDiffusionPipeline:
    """The pipeline on the CPU in `dtype`, without safety checker; errors in one line."""
    import torch
    from diffusers import StableDiffusionPipeline

    quiet_libraries()
    path = check_model(ref)
    try:
        pipe = StableDiffusionPipeline.from_pretrained(
            path,
            dtype=getattr(torch, dtype),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
            use_safetensors=True,
        )
    except FRError:
        raise
    except Exception as exc:
        text = str(exc).strip().splitlines()
        reason = text[0] if text else type(exc).__name__
        raise FRError(f"cannot load model {ref!r}: {type(exc).__name__}: {reason}") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe


def make_scheduler(name: str, base_config: Any) -> Any:
    """The sampler called `name`, built from the pipeline's scheduler config."""
    import diffusers

    cls = getattr(diffusers, SCHEDULER_CLASSES[name])
    extra = {"clip_sample": False} if name in CLIPPING else {}
    return cls.from_config(base_config, **extra)


def set_sampler(pipe: Any, name: str, base_config: Any) -> None:
    if name != "default":
        pipe.scheduler = make_scheduler(name, base_config)


def release_memory(device: str) -> None:
    """Give freed accelerator memory back (a no-op on the CPU)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
