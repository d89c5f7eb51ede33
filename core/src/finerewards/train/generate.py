"""Sampling images with recorded seeds, and `fr generate`.

Each image gets its own generator seeded with its recorded seed, and a prompt's candidates are
always sampled together in the same chunks, whatever the process layout: the same seed gives
the same image, in a single process, across processes, and after a resume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finerewards.fsutil import make_dir
from finerewards.train.seeds import derive_seed

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

    from finerewards.train.config import GenerationConfig


NO_GUIDANCE = 1.0 + 1e-6
"""Guidance "off" inside an interval: just above 1, so the pipeline keeps its two-branch batch
(its `do_classifier_free_guidance` is `guidance_scale > 1`) while the step equals the
conditional prediction to within 1e-6."""


class GuidanceInterval:
    """A `callback_on_step_end` applying guidance only below a timestep (Kynkaenniemi et al.,
    "Applying Guidance in a Limited Interval Improves Sample and Distribution Quality", 2024).

    Guidance at the noisiest steps pushes every sample toward the prompt's mean image: for the
    toy model, a blank canvas (a third of `a red circle` samples came out empty at guidance 3).
    The callback sets the guidance of the *next* step, as the diffusers docs' dynamic-guidance
    example does; the first step's value is passed to the call (see `initial_scale`).
    """

    def __init__(self, scale: float, start: float, num_train_timesteps: int) -> None:
        self.scale = scale
        self.cutoff = start * num_train_timesteps

    def scale_at(self, timestep: float) -> float:
        return self.scale if timestep < self.cutoff else NO_GUIDANCE

    def initial_scale(self, pipe: Any) -> float:
        return self.scale_at(float(pipe.scheduler.timesteps[0]))

    def __call__(self, pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        upcoming = pipe.scheduler.timesteps
        if step + 1 < len(upcoming):
            pipe._guidance_scale = self.scale_at(float(upcoming[step + 1]))
        return kwargs


def generate_images(
    pipe: Any, prompts: str | Sequence[str], seeds: Sequence[int], settings: GenerationConfig
) -> list[Image]:
    """One image per seed (with the prompt of the same position, or one prompt for all)."""
    return generate_with_latents(pipe, prompts, seeds, settings)[0]


def generate_with_latents(
    pipe: Any, prompts: str | Sequence[str], seeds: Sequence[int], settings: GenerationConfig
) -> tuple[list[Image], list[torch.Tensor]]:
    """Images and the final latents they were decoded from (float32, on the CPU).

    Images go through the pipeline `settings.batch_size` at a time (0: all at once), prompts
    mixed within a batch: a tiny model is bound by per-call overhead, so batching across
    prompts is what makes it fast. Each image draws its noise from its own seeded generator,
    so its pixels do not depend on which batch it lands in (up to float rounding of batched
    kernels). The pipeline stops at the latents and they are decoded here exactly as the
    pipeline does it, so the images equal those of a plain `pipe(...)` call with the same seeds.
    """
    import torch

    texts = [prompts] * len(seeds) if isinstance(prompts, str) else list(prompts)
    if len(texts) != len(seeds):
        raise ValueError("one prompt per seed")
    size = settings.batch_size or len(seeds)
    negative = settings.negative_prompt if settings.guidance_scale > 1.0 else ""
    interval = None
    if settings.guidance_scale > 1.0 and settings.guidance_start < 1.0:
        interval = GuidanceInterval(
            settings.guidance_scale, settings.guidance_start, int(pipe.scheduler.config.num_train_timesteps)
        )
        pipe.scheduler.set_timesteps(settings.steps)
    images: list[Image] = []
    latents: list[torch.Tensor] = []
    for start in range(0, len(seeds), size):
        chunk = list(seeds[start : start + size])
        extra = {"negative_prompt": [negative] * len(chunk)} if negative else {}
        generators = [torch.Generator("cpu").manual_seed(int(s)) for s in chunk]
        with torch.inference_mode():
            found = pipe(
                texts[start : start + size],
                num_inference_steps=settings.steps,
                guidance_scale=interval.initial_scale(pipe) if interval else settings.guidance_scale,
                height=settings.height,
                width=settings.width,
                eta=settings.eta,
                generator=generators,
                output_type="latent",
                callback_on_step_end=interval,
                **extra,
            ).images
            decoded = pipe.vae.decode(
                found / pipe.vae.config.scaling_factor, return_dict=False, generator=generators
            )[0]
            pictures = pipe.image_processor.postprocess(
                decoded, output_type="pil", do_denormalize=[True] * len(chunk)
            )
        images.extend(pictures)
        latents.extend(found.detach().float().cpu())
    return images, latents


@dataclass
class GenerateRequest:
    """What `fr generate` was asked for, validated before any model is loaded."""

    model: str
    prompts: list[str]
    out: Path
    lora: Path | None
    """A LoRA folder, file or run folder (see `lora_weights_file`)."""
    images_per_prompt: int
    seed: int
    settings: GenerationConfig
    device: str = "auto"
    dtype: str = "auto"
    progress: bool = True


def generation_seed(seed: int, prompt_index: int, k: int) -> int:
    return derive_seed(seed, "generate", prompt_index, k)


def run_generate(request: GenerateRequest) -> list[dict[str, Any]]:
    """Write `images/*.png` and `manifest.jsonl` under `request.out`; return the manifest rows."""
    from tqdm.auto import tqdm

    from finerewards.device import resolve_device, resolve_dtype
    from finerewards.fsutil import atomic_save_image
    from finerewards.manifest import write_manifest
    from finerewards.train.pipeline import load_pipeline, set_sampler

    device = resolve_device(request.device)
    pipe: Any = load_pipeline(request.model, resolve_dtype(request.dtype, device))
    set_sampler(pipe, request.settings.scheduler, pipe.scheduler.config)
    if request.lora is not None:
        from finerewards.train.lora import load_lora_file

        load_lora_file(pipe, request.lora)
    pipe.to(device)
    make_dir(request.out)
    rows: list[dict[str, Any]] = []
    jobs = [(i, k) for i in range(len(request.prompts)) for k in range(request.images_per_prompt)]
    per_call = request.settings.batch_size or request.images_per_prompt
    with tqdm(total=len(jobs), desc="generating", unit="image", disable=not request.progress or None) as bar:
        for start in range(0, len(jobs), per_call):
            chunk = jobs[start : start + per_call]
            seeds = [generation_seed(request.seed, i, k) for i, k in chunk]
            texts = [request.prompts[i] for i, _ in chunk]
            for (i, k), s, image in zip(chunk, seeds, generate_images(pipe, texts, seeds, request.settings)):
                name = f"images/{i:05d}_{k:02d}.png"
                atomic_save_image(request.out / name, image)
                rows.append(
                    {"image": name, "prompt": request.prompts[i], "seed": s, "prompt_index": i, "k": k}
                )
            write_manifest(request.out / "manifest.jsonl", rows)
            bar.update(len(chunk))
    return rows
