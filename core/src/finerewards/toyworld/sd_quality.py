"""Measuring `toy:sd` (or any toy-world pipeline): oracle accuracy on a prompt set, and speed.

`python -m finerewards.toyworld.sd_quality [--model toy:sd] [--per-prompt 4] [--seed 0]`
samples every prompt of `toy:test` `per-prompt` times (image i of the run is seeded with
seed + i, prompts batched together for speed) and prints the oracle's accuracy as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from finerewards.train.config import GenerationConfig


def load_pipeline(model: str, lora: str | Path | None = None) -> Any:
    """The pipeline through the real loading path (offline), with a trained LoRA when given
    (a run folder, a LoRA folder or its safetensors file, as `fr generate --lora` takes)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from diffusers import StableDiffusionPipeline

    from finerewards.models import resolve_model

    pipe = StableDiffusionPipeline.from_pretrained(resolve_model(model))
    pipe.set_progress_bar_config(disable=True)
    if lora is not None:
        from finerewards.train.lora import load_lora_file

        load_lora_file(pipe, lora)
    return pipe


def generation_settings(**changes: Any) -> GenerationConfig:
    """`fr generate`'s settings for the toy world (the toy preset), with `changes` over them."""
    from finerewards.train.settings import generation_settings as resolve

    return resolve(model=None, lora=None, preset="toy", flags=changes, set_items=[])[1]


def sample(pipe: Any, prompts: Sequence[str], seeds: Sequence[int], settings: GenerationConfig) -> list[Any]:
    """One uint8 (64, 64, 3) array per (prompt, seed), sampled as `fr generate` samples."""
    import numpy as np

    from finerewards.train.generate import generate_images

    return [np.asarray(image) for image in generate_images(pipe, list(prompts), list(seeds), settings)]


def evaluate_model(
    model: str = "toy:sd",
    prompt_set: str = "toy:test",
    per_prompt: int = 4,
    seed: int = 0,
    steps: int | None = None,
    guidance: float | None = None,
    batch: int = 64,
    limit: int | None = None,
) -> dict[str, Any]:
    """Oracle accuracy of a pipeline's samples, with the settings and timing used."""
    from finerewards.toyworld.oracle import evaluate
    from finerewards.toyworld.prompts import load_prompt_set

    settings = generation_settings(steps=steps, guidance_scale=guidance, batch_size=batch)
    prompts = [p for p in load_prompt_set(prompt_set) for _ in range(per_prompt)][:limit]
    pipe = load_pipeline(model)
    started = time.time()
    images = sample(pipe, prompts, [seed + i for i in range(len(prompts))], settings)
    seconds = time.time() - started
    result = evaluate(zip(prompts, images))
    result["settings"] = {
        "model": model,
        "prompts": prompt_set,
        "per_prompt": per_prompt,
        "seed": seed,
        "steps": settings.steps,
        "guidance_scale": settings.guidance_scale,
        "guidance_start": settings.guidance_start,
    }
    result["seconds_per_64_images"] = round(seconds / len(prompts) * 64, 2)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Oracle accuracy of a toy-world pipeline.")
    parser.add_argument("--model", default="toy:sd")
    parser.add_argument("--prompts", default="toy:test")
    parser.add_argument("--per-prompt", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--guidance", type=float, default=None)
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    result = evaluate_model(
        args.model, args.prompts, args.per_prompt, args.seed, args.steps, args.guidance, limit=args.limit
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
