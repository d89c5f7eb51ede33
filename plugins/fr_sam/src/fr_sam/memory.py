"""Paper-scale models without a download: the published configs, built on the meta device (for
size accounting) or with random weights on an accelerator (to measure peak memory).

SAM ViT-H comes from segment-anything's own builder; CLIP ViT-L/14 and Vicuna-7B v1.5 (a
Llama-2-7B architecture) from transformers config classes with the values of their published
config.json files (Vicuna's written out here, CLIP's in `finerewards.published_configs`).
Speed and memory do not depend on the weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finerewards.published_configs import CLIP_VIT_L_14

if TYPE_CHECKING:
    import torch

VICUNA_7B_V15: dict[str, Any] = {
    "vocab_size": 32000,
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False,
    "hidden_act": "silu",
}
"""lmsys/vicuna-7b-v1.5 config.json (LlamaForCausalLM, fine-tuned from Llama 2 7B)."""


def build_paper_models(
    device: str | torch.device = "meta", dtype: torch.dtype | None = None
) -> dict[str, Any]:
    """SAM ViT-H, CLIP ViT-L/14 and Vicuna-7B at their real sizes, random (or meta) weights."""
    import torch
    from segment_anything import sam_model_registry
    from transformers import CLIPConfig, CLIPModel, LlamaConfig, LlamaForCausalLM

    dtype = dtype or torch.float16
    with torch.device(device):
        sam = sam_model_registry["vit_h"](checkpoint=None)
        clip = CLIPModel(CLIPConfig(**CLIP_VIT_L_14))
        lm = LlamaForCausalLM(LlamaConfig(**VICUNA_7B_V15))
    return {"sam": sam.to(dtype), "clip": clip.to(dtype).eval(), "lm": lm.to(dtype).eval()}


def parameter_bytes(module: torch.nn.Module, bytes_per_value: int) -> tuple[int, int]:
    """(number of parameter and buffer values, bytes at `bytes_per_value` each)."""
    values = sum(p.numel() for p in module.parameters()) + sum(b.numel() for b in module.buffers())
    return values, values * bytes_per_value


def size_accounting(bytes_per_value: int = 2) -> dict[str, dict[str, float]]:
    """Weight memory of each paper model (meta device: nothing is allocated or downloaded)."""
    models = build_paper_models("meta")
    table: dict[str, dict[str, float]] = {}
    for name, module in models.items():
        values, size = parameter_bytes(module, bytes_per_value)
        table[name] = {"parameters_millions": round(values / 1e6, 1), "weights_gib": round(size / 2**30, 2)}
    total = sum(row["weights_gib"] for row in table.values())
    table["all_resident"] = {"weights_gib": round(total, 2)}
    table["offload_peak"] = {
        "weights_gib": max(row["weights_gib"] for row in table.values() if row is not table["all_resident"])
    }
    return table


def assemble_reward(models: dict[str, Any], options: Any, device: str, dtype: torch.dtype) -> Any:
    """A SamReward around in-memory models (no files): tokenizers are built locally (their
    vocabularies are small, which only makes the texts a little longer than the real ones)."""
    from transformers import CLIPImageProcessor, CLIPProcessor

    from finerewards.toyworld.vocab import build_clip_tokenizer
    from fr_sam.labels import Labeller
    from fr_sam.parts import PartFinder, generator_kwargs
    from fr_sam.ratings import Rater
    from fr_sam.reward import SamReward
    from fr_sam.testing import build_lm_tokenizer

    reward = SamReward(options)
    reward.device, reward.dtype = device, dtype
    reward.finder = PartFinder(models["sam"], generator_kwargs(options, {}), options)
    size = int(models["clip"].config.vision_config.image_size)
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": size}, crop_size={"height": size, "width": size}
        ),
        tokenizer=build_clip_tokenizer(max_length=77),
    )
    reward.labeller = Labeller(models["clip"], processor, options.label_template, options.crop_context)
    reward.rater = Rater(
        models["lm"], build_lm_tokenizer(), "vicuna", options.answer_prefix, "random-lm", reward.rating_cache
    )
    home = "cpu" if options.offload else device
    reward.finder.to(device, dtype, home)
    reward.labeller.model.to(home, dtype)
    reward.rater.model.to(home)
    return reward


def stage_peaks(reward: Any, images: list[Any], prompts: list[str], device: str) -> dict[str, Any]:
    """Score once; the peak allocated accelerator memory of each stage (GiB; None on a CPU)."""
    import torch

    cuda = device.startswith("cuda") and torch.cuda.is_available()
    peaks: dict[str, float | None] = {}

    def watch(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            try:
                return fn(*args, **kwargs)
            finally:
                peaks[name] = round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None

        return wrapper

    reward.finder.find = watch("sam", reward.finder.find)
    reward.labeller.label = watch("clip", reward.labeller.label)
    reward.rater.rate = watch("lm", reward.rater.rate)
    weights = round(torch.cuda.memory_allocated() / 2**30, 2) if cuda else None
    output = reward.score(images, prompts)
    parts = sum(len(d["parts"]) for d in output.details)
    return {"weights_gib": weights, "stage_peak_gib": peaks, "parts": parts, "scores": output.scores}


def measure_peak_memory(
    batch: int = 8, device: str = "cuda", offload: bool = False, side: int = 512
) -> dict[str, Any]:
    """Random-weight SAM ViT-H + CLIP ViT-L/14 + Vicuna-7B (fp16) scoring `batch` side x side
    images with the paper preset (quality thresholds at 0, so random SAM weights still give
    parts); returns the weights resident before scoring and each stage's peak."""
    import gc

    import torch
    from PIL import Image as PILImage

    from finerewards.registry import get_registry
    from finerewards.toyworld.prompts import load_prompt_set
    from finerewards.toyworld.render import render

    spec = get_registry().reward("sam")
    options = spec.resolve_options(
        "paper", {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0, "offload": offload}
    )
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float16)  # initialise in fp16: no fp32 copy of 7B weights
    try:
        models = build_paper_models(device, torch.float16)
    finally:
        torch.set_default_dtype(previous)
    reward = assemble_reward(models, options, device, torch.float16)
    del models
    gc.collect()
    prompts = [p for i, p in enumerate(load_prompt_set("test")) if i % 50 == 0][:batch]
    prompts += [prompts[0]] * (batch - len(prompts))
    images = [
        render(p, seed=i).resize((side, side), PILImage.Resampling.NEAREST) for i, p in enumerate(prompts)
    ]
    result = stage_peaks(reward, images, prompts, device)
    result["peak_gib"] = (
        max(v for v in result["stage_peak_gib"].values() if v is not None)
        if device.startswith("cuda")
        else None
    )
    result.update(batch=batch, side=side, offload=offload)
    reward.close()
    del reward
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return result
