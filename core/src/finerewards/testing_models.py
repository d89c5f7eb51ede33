"""Tiny random diffusers pipelines for tests: real library classes, built from configs, no hub.

Tests must never download. `build_tiny_pipeline(folder)` writes a complete
`StableDiffusionPipeline` (UNet, VAE, CLIP text encoder, a CLIP tokenizer with a byte-level
vocabulary written here, a DDIM scheduler with `clip_sample=False`) with `save_pretrained`, so
that the code under test loads it through the ordinary `from_pretrained` path.

Heavy libraries are imported inside the function only: importing this module is cheap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _byte_vocab() -> dict[str, int]:
    """A byte-level BPE vocabulary without merges: every byte, alone and word-final."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    tokens = ["<|startoftext|>", "<|endoftext|>"] + chars + [c + "</w>" for c in chars]
    return {token: i for i, token in enumerate(tokens)}


def build_tiny_pipeline(
    folder: str | Path,
    *,
    seed: int = 0,
    image_size: int = 32,
    scheduler: str = "ddim",
    color_vae: bool = False,
    prediction_type: str = "epsilon",
) -> Path:
    """Save a tiny random Stable Diffusion pipeline under `folder` and return its path.

    The UNet has about 200k parameters, the VAE downsamples by 2 (`image_size` 32 -> 16 x 16
    latents), the text encoder has two layers of width 32; a 10-step generation of one image
    takes a few milliseconds on a CPU.

    With `color_vae`, the VAE decoder is set by hand so that colour follows the latent
    channels (0 red, 1 green, 2 blue), each pixel's and, strongly, the image's mean: a random
    VAE decodes every latent to grey noise, which gives a reward on colour almost nothing to
    learn from, while here "more red" is a direction the UNet can learn. `prediction_type`
    is the scheduler's (`epsilon`, `v_prediction` or `sample`).
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=image_size // 2,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 8),
        latent_channels=4,
        norm_num_groups=4,
        sample_size=image_size,
    )
    vocab = _byte_vocab()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    token_dir = out / "_tokenizer_src"
    token_dir.mkdir(exist_ok=True)
    (token_dir / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (token_dir / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = CLIPTokenizer(vocab=str(token_dir / "vocab.json"), merges=str(token_dir / "merges.txt"))
    tokenizer.model_max_length = 77
    common = {
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "clip_sample": False,
        "prediction_type": prediction_type,
    }
    sched = (
        DDIMScheduler(set_alpha_to_one=False, steps_offset=1, **common)
        if scheduler == "ddim"
        else DDPMScheduler(**common)
    )
    if color_vae:
        _make_color_decoder(vae)
    pipe: Any = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=sched,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out, safe_serialization=True)
    for leftover in token_dir.iterdir():
        leftover.unlink()
    token_dir.rmdir()
    return out


def _zero(layer: Any) -> None:
    layer.weight.zero_()
    if layer.bias is not None:
        layer.bias.zero_()


def _make_color_decoder(vae: Any, global_gain: float = 100.0) -> None:
    """Turn the decoder into: each pixel's colour follows the image's mean latent channels.

    The attention of the middle block attends uniformly (zero queries and keys), so it adds
    `global_gain` times the image-wide mean of its normalised input to every position; the
    residual blocks become identities (second convolution zeroed), upsampling convolutions and
    the latent convolutions copy channels through, and the output convolution maps channels
    0, 1, 2 to red, green, blue. An image's colour is then a smooth function of a few global
    latent statistics, which a UNet can learn to move.
    """
    import torch
    from diffusers.models.attention_processor import Attention
    from diffusers.models.resnet import ResnetBlock2D
    from diffusers.models.upsampling import Upsample2D

    def copy_channels(layer: Any, gain: float = 1.0) -> None:
        _zero(layer)
        weight = layer.weight
        for c in range(min(weight.shape[0], weight.shape[1])):
            if weight.dim() == 4:
                weight[c, c, weight.shape[2] // 2, weight.shape[3] // 2] = gain
            else:
                weight[c, c] = gain

    with torch.no_grad():
        decoder = vae.decoder
        for module in decoder.modules():
            if isinstance(module, ResnetBlock2D):
                if module.conv_shortcut is not None:
                    raise ValueError("color_vae needs equal block widths")
                _zero(module.conv2)
            elif isinstance(module, Attention):
                _zero(module.to_q)
                _zero(module.to_k)
                copy_channels(module.to_v)
                copy_channels(module.to_out[0], gain=global_gain)
            elif isinstance(module, Upsample2D) and module.conv is not None:
                copy_channels(module.conv)
        copy_channels(decoder.conv_in)
        copy_channels(decoder.conv_out, gain=1.5)
        if vae.post_quant_conv is not None:
            copy_channels(vae.post_quant_conv)
