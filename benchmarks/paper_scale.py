"""Paper scale by size accounting: what a RAFT round of the paper preset holds in memory.

The real architectures are built on PyTorch's meta device from their published configs (no
download, nothing allocated): SD-1.5 (diffusers; its text encoder from
`finerewards.published_configs`), BLIP-2 OPT-2.7B (`fr_caption.sizes`), SAM ViT-H, CLIP
ViT-L/14 and Vicuna-7B v1.5 (`fr_sam.memory`). The trainer loads one phase's
models at a time (generation, then each reward, then training), so a round's weight peak is
the largest phase, not the sum. Activations come on top and are only measured on a GPU.
"""

from __future__ import annotations

from typing import Any

SD15_UNET: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
}
"""stable-diffusion-v1-5 unet/config.json (the values that set sizes)."""
SD15_VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "sample_size": 512,
}
"""stable-diffusion-v1-5 vae/config.json."""
SD15_SCHEDULER: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "clip_sample": False,
}
"""stable-diffusion-v1-5 scheduler/scheduler_config.json (the noise schedule a sampler inherits)."""

GIB = 2**30


def _values(module: Any) -> int:
    return sum(p.numel() for p in module.parameters()) + sum(b.numel() for b in module.buffers())


def sd15_counts() -> dict[str, int]:
    """Parameters (and buffers) of SD-1.5's UNet, VAE and CLIP ViT-L/14 text encoder."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from finerewards.published_configs import CLIP_VIT_L_14

    with torch.device("meta"):
        unet = UNet2DConditionModel(**SD15_UNET)
        vae = AutoencoderKL(**SD15_VAE)
        text = CLIPTextModel(CLIPTextConfig(**CLIP_VIT_L_14["text_config"]))
    return {"unet": _values(unet), "vae": _values(vae), "text_encoder": _values(text)}


def accounting(lora_rank: int = 4, bytes_per_value: int = 2) -> dict[str, Any]:
    """Weights of every paper model, and the weight peak of each phase of a round."""
    from fr_caption.sizes import paper_parameter_counts
    from fr_sam.memory import size_accounting

    sd = sd15_counts()
    caption = paper_parameter_counts()
    sam = size_accounting(bytes_per_value)
    models = {
        "SD-1.5 UNet": sd["unet"],
        "SD-1.5 VAE": sd["vae"],
        "SD-1.5 text encoder (CLIP ViT-L/14 text)": sd["text_encoder"],
        "BLIP-2 OPT-2.7B": caption["blip2"],
        "caption similarity (CLIP ViT-L/14 text tower)": caption["clip.text_tower"],
        "SAM ViT-H": round(sam["sam"]["parameters_millions"] * 1e6),
        "CLIP ViT-L/14": round(sam["clip"]["parameters_millions"] * 1e6),
        "Vicuna-7B v1.5": round(sam["lm"]["parameters_millions"] * 1e6),
    }
    gib = {name: n * bytes_per_value / GIB for name, n in models.items()}
    lora = _lora_values(lora_rank)
    # Training holds the frozen fp16 UNet and text encoder, plus the fp32 adapter, its
    # gradient and AdamW's two moments (4 copies of 4 bytes).
    training = gib["SD-1.5 UNet"] + gib["SD-1.5 text encoder (CLIP ViT-L/14 text)"] + gib["SD-1.5 VAE"]
    phases = {
        "generation (UNet, VAE, text encoder)": gib["SD-1.5 UNet"]
        + gib["SD-1.5 VAE"]
        + gib["SD-1.5 text encoder (CLIP ViT-L/14 text)"],
        "caption reward (BLIP-2, then the text tower)": gib["BLIP-2 OPT-2.7B"],
        "sam reward (SAM, CLIP and Vicuna-7B resident: the default)": gib["SAM ViT-H"]
        + gib["CLIP ViT-L/14"]
        + gib["Vicuna-7B v1.5"],
        "sam reward with `sam.offload=true` (one model at a time; the largest, Vicuna-7B)": max(
            gib["SAM ViT-H"], gib["CLIP ViT-L/14"], gib["Vicuna-7B v1.5"]
        ),
        f"training (frozen SD-1.5 + rank-{lora_rank} LoRA, fp32 weights, grads, AdamW)": training
        + lora * 16 / GIB,
    }
    return {
        "bytes_per_value": bytes_per_value,
        "parameters": models,
        "weights_gib": {k: round(v, 2) for k, v in gib.items()},
        "lora_parameters": lora,
        "phase_weights_gib": {k: round(v, 2) for k, v in phases.items()},
        "all_resident_gib": round(sum(gib.values()), 2),
    }


def _lora_values(rank: int) -> int:
    """Trainable values of a rank-r LoRA on SD-1.5's attention projections (to_q/k/v/out)."""
    import torch
    from diffusers import UNet2DConditionModel
    from peft import LoraConfig

    with torch.device("meta"):
        unet = UNet2DConditionModel(**SD15_UNET)
    unet.requires_grad_(False)
    from finerewards.train.config import DEFAULT_TARGETS

    unet.add_adapter(
        LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian", target_modules=DEFAULT_TARGETS)
    )
    return sum(p.numel() for p in unet.parameters() if p.requires_grad)


def markdown(data: dict[str, Any]) -> str:
    lines = [
        "### Paper scale: weight memory of a round (fp16, size accounting)",
        "",
        "The real architectures built on the meta device from their published configs",
        "(`benchmarks/paper_scale.py`; no download, nothing allocated).",
        "",
        "| model | parameters (M) | fp16 weights (GiB) |",
        "|---|---:|---:|",
    ]
    for name, count in data["parameters"].items():
        lines.append(f"| {name} | {count / 1e6:,.1f} | {data['weights_gib'][name]:.2f} |")
    lines.append(f"| every model at once | | {data['all_resident_gib']:.2f} |")
    lines += [
        "",
        "The trainer loads one phase's models at a time (`keep_resident = false`, the default), so",
        "a round's weight peak is its largest phase:",
        "",
        "| phase | weights on the accelerator (GiB) |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {gib:.2f} |" for name, gib in data["phase_weights_gib"].items()]
    phases = data["phase_weights_gib"]
    peak = max(phases.values())
    offloaded = max(v for k, v in phases.items() if "resident" not in k)
    card = 24e9 / GIB
    lines += [
        "",
        f"Weight peak of a round: **{peak:.2f} GiB** (the sam reward's three models), leaving",
        f"{card - peak:.1f} GiB of a 24 GB card ({card:.1f} GiB) for activations; with",
        f"`sam.offload=true` the peak is {offloaded:.2f} GiB ({card - offloaded:.1f} GiB left). So the",
        "weights fit the goal's 24 GB; whether the activations do as well is not measured here: that",
        "needs a GPU (none was lent; see the fr-sam section for SAM ViT-H's activations).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(accounting()))
