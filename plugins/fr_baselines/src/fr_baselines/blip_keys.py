"""The ImageReward checkpoint (original BLIP layout) -> transformers BLIP modules + the MLP head.

ImageReward.pt is the state dict of `ImageReward(blip=BLIP_Pretrain(vit="large", image_size=224),
mlp=MLP(768))`. BLIP's text encoder (med.py) is the model transformers ported as BlipTextModel,
with the same parameter names; its ViT is timm-style and is renamed as transformers' own BLIP
conversion script does:

| ImageReward.pt                               | here                                        |
|----------------------------------------------|---------------------------------------------|
| blip.visual_encoder.cls_token                | vision: embeddings.class_embedding          |
| blip.visual_encoder.pos_embed                | vision: embeddings.position_embedding       |
| blip.visual_encoder.patch_embed.proj.*       | vision: embeddings.patch_embedding.*        |
| blip.visual_encoder.blocks.{i}.norm1.*       | vision: encoder.layers.{i}.layer_norm1.*    |
| blip.visual_encoder.blocks.{i}.attn.qkv.*    | vision: encoder.layers.{i}.self_attn.qkv.*  |
| blip.visual_encoder.blocks.{i}.attn.proj.*   | vision: encoder.layers.{i}.self_attn.projection.* |
| blip.visual_encoder.blocks.{i}.norm2.*       | vision: encoder.layers.{i}.layer_norm2.*    |
| blip.visual_encoder.blocks.{i}.mlp.fc{1,2}.* | vision: encoder.layers.{i}.mlp.fc{1,2}.*    |
| blip.visual_encoder.norm.*                   | vision: post_layernorm.*                    |
| blip.text_encoder.*                          | text: * (same names)                        |
| mlp.layers.{0,2,4,6,7}.*                     | head: layers.{0,2,4,6,7}.*                  |

Dropped: blip.vision_proj / blip.text_proj (contrastive projections the score does not use) and
the position_ids buffer. Any other key is an error, so a wrong file fails loudly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

VISION_TOP = {
    "cls_token": "embeddings.class_embedding",
    "pos_embed": "embeddings.position_embedding",
    "patch_embed.proj.weight": "embeddings.patch_embedding.weight",
    "patch_embed.proj.bias": "embeddings.patch_embedding.bias",
    "norm.weight": "post_layernorm.weight",
    "norm.bias": "post_layernorm.bias",
}
VISION_BLOCK = {
    "norm1": "layer_norm1",
    "norm2": "layer_norm2",
    "attn.qkv": "self_attn.qkv",
    "attn.proj": "self_attn.projection",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}
BLOCK = re.compile(r"^blocks\.(\d+)\.(.+)\.(weight|bias)$")
DROPPED = re.compile(r"^blip\.(vision_proj|text_proj)\.|position_ids$")


class KeyMapError(ValueError):
    """The checkpoint is not an ImageReward (BLIP) checkpoint."""


@dataclass
class ImageRewardParts:
    vision: dict[str, torch.Tensor] = field(default_factory=dict)
    text: dict[str, torch.Tensor] = field(default_factory=dict)
    head: dict[str, torch.Tensor] = field(default_factory=dict)


def blip_vit_key(key: str) -> str:
    """A BLIP/timm ViT parameter name (less "visual_encoder.") as BlipVisionModel names it."""
    if key in VISION_TOP:
        return VISION_TOP[key]
    match = BLOCK.match(key)
    if match and match.group(2) in VISION_BLOCK:
        index, module, param = match.groups()
        return f"encoder.layers.{index}.{VISION_BLOCK[module]}.{param}"
    raise KeyMapError(f"not a BLIP ViT parameter: visual_encoder.{key}")


def split_imagereward(state: Mapping[str, torch.Tensor]) -> ImageRewardParts:
    """The checkpoint's tensors, renamed for BlipVisionModel, BlipTextModel and the MLP head."""
    parts = ImageRewardParts()
    unknown = []
    for key, value in state.items():
        if DROPPED.search(key):
            continue
        if key.startswith("blip.visual_encoder."):
            parts.vision[blip_vit_key(key.removeprefix("blip.visual_encoder."))] = value
        elif key.startswith("blip.text_encoder."):
            parts.text[key.removeprefix("blip.text_encoder.")] = value
        elif key.startswith("mlp."):
            parts.head[key.removeprefix("mlp.")] = value
        else:
            unknown.append(key)
    if unknown or not (parts.vision and parts.text and parts.head):
        raise KeyMapError(
            "not an ImageReward checkpoint: "
            + (f"unknown keys {sorted(unknown)[:5]}" if unknown else "vision, text or mlp weights missing")
        )
    return parts


def join_imagereward(parts: ImageRewardParts) -> dict[str, torch.Tensor]:
    """The inverse map: BlipVisionModel/BlipTextModel/head tensors in ImageReward.pt's layout."""
    vision = {v: k for k, v in VISION_TOP.items()}
    blocks = {v: k for k, v in VISION_BLOCK.items()}
    out: dict[str, torch.Tensor] = {}
    for key, value in parts.vision.items():
        if key in vision:
            out[f"blip.visual_encoder.{vision[key]}"] = value
            continue
        match = re.match(r"^encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$", key)
        if not match or match.group(2) not in blocks:
            raise KeyMapError(f"not a BlipVisionModel key: {key!r}")
        index, module, param = match.groups()
        out[f"blip.visual_encoder.blocks.{index}.{blocks[module]}.{param}"] = value
    out.update({f"blip.text_encoder.{k}": v for k, v in parts.text.items()})
    out.update({f"mlp.{k}": v for k, v in parts.head.items()})
    return out
