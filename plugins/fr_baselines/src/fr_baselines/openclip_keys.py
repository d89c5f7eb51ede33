"""open_clip's CLIP state dict (OpenAI layout, as in the HPSv2 checkpoints) -> transformers CLIPModel.

The HPSv2 weights are an open_clip ViT-H-14 checkpoint. Its architecture is OpenAI's CLIP
(GELU, pre-norm blocks, class-token pooling, argmax-EOT text pooling), which transformers'
CLIPModel implements; only the parameter names and a few layouts differ:

| open_clip                                   | transformers CLIPModel                          |
|---------------------------------------------|-------------------------------------------------|
| token_embedding.weight                      | text_model.embeddings.token_embedding.weight    |
| positional_embedding                        | text_model.embeddings.position_embedding.weight |
| transformer.resblocks.{i}.*                 | text_model.encoder.layers.{i}.*                 |
| ln_final.*                                  | text_model.final_layer_norm.*                   |
| text_projection [width, dim]                | text_projection.weight [dim, width] (transposed)|
| logit_scale                                 | logit_scale                                     |
| visual.conv1.weight                         | vision_model.embeddings.patch_embedding.weight  |
| visual.class_embedding                      | vision_model.embeddings.class_embedding         |
| visual.positional_embedding                 | vision_model.embeddings.position_embedding.weight |
| visual.ln_pre.*                             | vision_model.pre_layrnorm.*                     |
| visual.transformer.resblocks.{i}.*          | vision_model.encoder.layers.{i}.*               |
| visual.ln_post.*                            | vision_model.post_layernorm.*                   |
| visual.proj [width, dim]                    | visual_projection.weight [dim, width] (transposed) |

and inside a block: ln_1 -> layer_norm1, ln_2 -> layer_norm2, mlp.c_fc -> mlp.fc1,
mlp.c_proj -> mlp.fc2, attn.out_proj -> self_attn.out_proj, and the fused
attn.in_proj_weight/bias [3w, w] split in three (q, k, v, in that order) into
self_attn.{q,k,v}_proj. Buffers (attn_mask) carry no weights and are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

BLOCK_RENAMES = {
    "ln_1": "layer_norm1",
    "ln_2": "layer_norm2",
    "mlp.c_fc": "mlp.fc1",
    "mlp.c_proj": "mlp.fc2",
    "attn.out_proj": "self_attn.out_proj",
}
TOP_RENAMES = {
    "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "positional_embedding": "text_model.embeddings.position_embedding.weight",
    "ln_final.weight": "text_model.final_layer_norm.weight",
    "ln_final.bias": "text_model.final_layer_norm.bias",
    "logit_scale": "logit_scale",
    "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "visual.class_embedding": "vision_model.embeddings.class_embedding",
    "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
    "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "visual.ln_post.weight": "vision_model.post_layernorm.weight",
    "visual.ln_post.bias": "vision_model.post_layernorm.bias",
}
TRANSPOSED = {"text_projection": "text_projection.weight", "visual.proj": "visual_projection.weight"}
BLOCK = re.compile(r"^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$")
IGNORED = re.compile(r"(^|\.)attn_mask$")


class KeyMapError(ValueError):
    """The checkpoint is not an open_clip CLIP of the OpenAI layout."""


def openclip_to_transformers(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same tensors under transformers CLIPModel names (see the module docstring)."""
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        if IGNORED.search(key):
            continue
        if key in TOP_RENAMES:
            out[TOP_RENAMES[key]] = value
        elif key in TRANSPOSED:
            out[TRANSPOSED[key]] = value.t().contiguous()
        elif match := BLOCK.match(key):
            visual, index, rest = match.groups()
            prefix = f"{'vision' if visual else 'text'}_model.encoder.layers.{index}."
            out.update(_block(prefix, rest, value, key))
        else:
            unknown.append(key)
    if unknown:
        raise KeyMapError(f"not an open_clip CLIP checkpoint: unknown keys {sorted(unknown)[:5]}")
    return out


def _block(prefix: str, rest: str, value: torch.Tensor, key: str) -> dict[str, torch.Tensor]:
    if rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
        kind = rest.rsplit("_", 1)[1]
        q, k, v = value.chunk(3, dim=0)
        return {f"{prefix}self_attn.{n}_proj.{kind}": t.contiguous() for n, t in zip("qkv", (q, k, v))}
    module, _, param = rest.rpartition(".")
    if module not in BLOCK_RENAMES:
        raise KeyMapError(f"not an open_clip CLIP checkpoint: unknown key {key!r}")
    return {f"{prefix}{BLOCK_RENAMES[module]}.{param}": value}


def transformers_to_openclip(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse map: a CLIPModel state dict written as an open_clip (HPSv2-style) checkpoint."""
    top = {v: k for k, v in TOP_RENAMES.items()}
    transposed = {v: k for k, v in TRANSPOSED.items()}
    block = {v: k for k, v in BLOCK_RENAMES.items()}
    out: dict[str, torch.Tensor] = {}
    fused: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key in top:
            out[top[key]] = value
        elif key in transposed:
            out[transposed[key]] = value.t().contiguous()
        elif match := re.match(r"^(text|vision)_model\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$", key):
            tower, index, module, param = match.groups()
            prefix = f"{'visual.' if tower == 'vision' else ''}transformer.resblocks.{index}."
            if module in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
                fused.setdefault(f"{prefix}attn.in_proj_{param}", {})[module[-6]] = value
            else:
                out[f"{prefix}{block[module]}.{param}"] = value
        elif not key.endswith("position_ids"):
            raise KeyMapError(f"not a transformers CLIPModel key: {key!r}")
    for key, qkv in fused.items():
        out[key] = torch.cat([qkv["q"], qkv["k"], qkv["v"]], dim=0)
    return out
