"""Build a segment-anything `Sam` from a builder-settings JSON and load safetensors weights.

segment-anything's own builders (`sam_model_registry`) hard-code the ViT-B/L/H sizes and read a
pickled checkpoint. A toy SAM needs other sizes and ships safetensors, so this module plays
the builder's part with the library's own classes (`ImageEncoderViT`, `PromptEncoder`,
`MaskDecoder`, `TwoWayTransformer`, `Sam`) and every constructor argument read from
`sam_builder.json`. The fr-sam plugin loads `toy:sam` (or any folder of this layout) with
`load_sam(folder)`. Heavy libraries are imported inside functions only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from segment_anything.modeling import Sam

SETTINGS_FILE = "sam_builder.json"
WEIGHTS_FILE = "model.safetensors"
GENERATOR_KEY = "automatic_mask_generator"
"""Key of the recommended `SamAutomaticMaskGenerator` settings in `sam_builder.json`."""


def default_settings() -> dict[str, Any]:
    """Constructor arguments of the toy SAM: a 64 x 64 input, 4-px patches (16 x 16 grid).

    The grid matches the library's 4x mask upscaling, so the decoder's low-res masks are
    already full resolution (64 x 64) and no detail is lost to interpolation.
    """
    embed, prompt_dim, img, patch = 96, 64, 64, 4
    grid = img // patch
    return {
        "image_encoder": {
            "img_size": img,
            "patch_size": patch,
            "in_chans": 3,
            "embed_dim": embed,
            "depth": 4,
            "num_heads": 4,
            "mlp_ratio": 4.0,
            "out_chans": prompt_dim,
            "qkv_bias": True,
            "norm_layer": {"class": "LayerNorm", "eps": 1e-6},
            "act_layer": "GELU",
            "use_abs_pos": True,
            "use_rel_pos": True,
            "rel_pos_zero_init": True,
            "window_size": 0,
            "global_attn_indexes": [],
        },
        "prompt_encoder": {
            "embed_dim": prompt_dim,
            "image_embedding_size": [grid, grid],
            "input_image_size": [img, img],
            "mask_in_chans": 16,
            "activation": "GELU",
        },
        "mask_decoder": {
            "transformer_dim": prompt_dim,
            "transformer": {
                "depth": 2,
                "embedding_dim": prompt_dim,
                "num_heads": 4,
                "mlp_dim": 4 * prompt_dim,
                "activation": "ReLU",
                "attention_downsample_rate": 2,
            },
            "num_multimask_outputs": 3,
            "activation": "GELU",
            "iou_head_depth": 3,
            "iou_head_hidden_dim": prompt_dim,
        },
        "pixel_mean": [123.675, 116.28, 103.53],
        "pixel_std": [58.395, 57.12, 57.375],
    }


def _layer(spec: Any) -> Any:
    """A torch.nn layer class from its JSON form: "GELU" or {"class": "LayerNorm", "eps": ...}."""
    from functools import partial

    from torch import nn

    if isinstance(spec, str):
        return getattr(nn, spec)
    kwargs = {k: v for k, v in spec.items() if k != "class"}
    return partial(getattr(nn, spec["class"]), **kwargs)


def build_sam(settings: dict[str, Any]) -> Sam:
    """A randomly initialised `Sam` from builder settings (the library's classes only)."""
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    enc = dict(settings["image_encoder"])
    enc["norm_layer"] = _layer(enc["norm_layer"])
    enc["act_layer"] = _layer(enc["act_layer"])
    enc["global_attn_indexes"] = tuple(enc["global_attn_indexes"])
    prompt = dict(settings["prompt_encoder"])
    prompt["image_embedding_size"] = tuple(prompt["image_embedding_size"])
    prompt["input_image_size"] = tuple(prompt["input_image_size"])
    prompt["activation"] = _layer(prompt["activation"])
    dec = dict(settings["mask_decoder"])
    trans = dict(dec.pop("transformer"))
    trans["activation"] = _layer(trans["activation"])
    dec["activation"] = _layer(dec["activation"])
    return Sam(
        image_encoder=ImageEncoderViT(**enc),
        prompt_encoder=PromptEncoder(**prompt),
        mask_decoder=MaskDecoder(transformer=TwoWayTransformer(**trans), **dec),
        pixel_mean=list(settings["pixel_mean"]),
        pixel_std=list(settings["pixel_std"]),
    )


def read_settings(folder: str | Path) -> dict[str, Any]:
    """The builder settings (and the recommended generator settings) of a saved SAM folder."""
    settings: dict[str, Any] = json.loads((Path(folder) / SETTINGS_FILE).read_text())
    return settings


def load_sam(folder: str | Path, device: str = "cpu") -> Sam:
    """Build the `Sam` described by `folder/sam_builder.json`, load `model.safetensors`, eval mode.

    Loading is strict: a settings/weights mismatch fails loudly instead of leaving
    random layers behind.
    """
    from safetensors.torch import load_file

    model = build_sam(read_settings(folder))
    model.load_state_dict(load_file(str(Path(folder) / WEIGHTS_FILE), device="cpu"), strict=True)
    return model.to(device).eval()


def mask_generator(folder: str | Path, device: str = "cpu", **overrides: Any) -> Any:
    """A `SamAutomaticMaskGenerator` on the SAM in `folder`, with the settings shipped beside it
    (`sam_builder.json` -> "automatic_mask_generator"); keyword arguments override them."""
    from segment_anything import SamAutomaticMaskGenerator

    kwargs = {**read_settings(folder).get(GENERATOR_KEY, {}), **overrides}
    return SamAutomaticMaskGenerator(load_sam(folder, device), **kwargs)


def save_sam(model: Any, settings: dict[str, Any], folder: str | Path) -> None:
    """Write `sam_builder.json` and `model.safetensors` (contiguous CPU float32 tensors)."""
    from safetensors.torch import save_file

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    (out / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n")
