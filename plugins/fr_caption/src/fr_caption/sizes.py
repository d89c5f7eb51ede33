"""What the paper preset costs in memory: parameter counts from the published configs.

The models are instantiated on PyTorch's meta device (shapes only, no weights, no download)
from the config values of Salesforce/blip2-opt-2.7b (written out here) and
openai/clip-vit-large-patch14 (`finerewards.published_configs`, shared with the other plugins).
Run `python -m fr_caption.sizes` for the table in the README.
"""

from __future__ import annotations

from typing import Any

from finerewards.published_configs import CLIP_VIT_L_14

BLIP2_OPT_2_7B: dict[str, Any] = {
    "vision_config": {
        "hidden_size": 1408,
        "intermediate_size": 6144,
        "num_hidden_layers": 39,
        "num_attention_heads": 16,
        "image_size": 224,
        "patch_size": 14,
        "qkv_bias": True,
    },
    "qformer_config": {
        "vocab_size": 30522,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "cross_attention_frequency": 2,
        "encoder_hidden_size": 1408,
        "max_position_embeddings": 512,
    },
    "text_config": {
        "model_type": "opt",
        "vocab_size": 50272,
        "hidden_size": 2560,
        "num_hidden_layers": 32,
        "ffn_dim": 10240,
        "num_attention_heads": 32,
        "max_position_embeddings": 2048,
        "word_embed_proj_dim": 2560,
        "do_layer_norm_before": True,
        "tie_word_embeddings": True,
    },
    "num_query_tokens": 32,
}
"""Salesforce/blip2-opt-2.7b (ViT-g/14 EVA vision tower, 12-layer Q-Former, OPT-2.7B)."""

BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


def _count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def paper_parameter_counts() -> dict[str, int]:
    """Parameters of each part of the paper preset, counted on the meta device."""
    import torch
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        CLIPConfig,
        CLIPModel,
        CLIPTextConfig,
        CLIPTextModelWithProjection,
    )

    with torch.device("meta"):
        blip2 = Blip2ForConditionalGeneration(Blip2Config(**BLIP2_OPT_2_7B))
        clip = CLIPModel(CLIPConfig(**CLIP_VIT_L_14))
        text = CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_VIT_L_14["text_config"]))
    return {
        "blip2.vision": _count(blip2.vision_model),
        "blip2.qformer": _count(blip2.qformer)
        + blip2.query_tokens.numel()
        + _count(blip2.language_projection),
        "blip2.language_model": _count(blip2.language_model),
        "blip2": _count(blip2),
        "clip": _count(clip),
        "clip.text_tower": _count(text),
    }


def table() -> str:
    """A markdown table: parameters and weight memory in fp32 / fp16."""
    counts = paper_parameter_counts()
    lines = ["| part | parameters | fp32 | fp16 / bf16 |", "|---|---:|---:|---:|"]
    for name, n in counts.items():
        gib = [n * BYTES[d] / 2**30 for d in ("float32", "float16")]
        lines.append(f"| {name} | {n / 1e6:,.1f} M | {gib[0]:.2f} GiB | {gib[1]:.2f} GiB |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
