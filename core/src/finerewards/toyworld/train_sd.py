"""Training `toy:sd`, the toy world's tiny StableDiffusionPipeline, from scratch on renders.

Stages (all seeded; `train(out_dir)` runs them and writes a diffusers folder):

1. a word-level CLIPTokenizer built from the toy grammar (BPE merges that spell each word
   into one token; nothing is downloaded);
2. an AutoencoderKL (64 x 64 RGB <-> 16 x 16 x 4) trained on renders with a loss that
   weighs object pixels up, so that colours and edges come back exactly;
3. a UNet2DConditionModel and a 2-layer CLIPTextModel trained jointly on toy:train renders
   (epsilon prediction, 10% empty prompts for classifier-free guidance, EMA weights);
4. the assembled StableDiffusionPipeline with a DDIM scheduler (`clip_sample=False`,
   `timestep_spacing="trailing"`), saved as safetensors plus `fr_model.json`.

Run: `fr toyworld train-models --only sd` (about two hours on 2 CPU cores; see
docs/toyworld.md). Torch and diffusers are imported inside the functions.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from finerewards.toyworld.prompts import load_prompt_rows
from finerewards.toyworld.render import render_batch_array
from finerewards.toyworld.world import SIZE

if TYPE_CHECKING:
    import torch

MAX_TOKENS = 16
"""Token budget of a prompt (the longest toy prompt is 12 tokens with BOS and EOS)."""


@dataclass(frozen=True)
class SDSettings:
    """Every knob of a `toy:sd` training run (recorded in the shipped fr_model.json)."""

    seed: int = 1234
    threads: int = 1
    # autoencoder
    vae_channels: tuple[int, ...] = (16, 32, 64)
    vae_steps: int = 1000
    vae_batch: int = 16
    vae_lr: float = 1e-3
    vae_kl: float = 1e-6
    vae_object_weight: float = 4.0
    vae_thumbnail_weight: float = 1.0
    """Weight of the loss that makes latent channels 0-2 a thumbnail of the image (colour)."""
    vae_check_images: int = 256
    # text encoder + unet
    text_hidden: int = 64
    text_layers: int = 2
    unet_channels: tuple[int, ...] = (32, 64, 128)
    unet_layers_per_block: int = 1
    unet_head_dim: int = 32
    unet_steps: int = 10000
    batch: int = 32
    lr: float = 6e-4
    warmup: int = 200
    ema_decay: float = 0.995
    prompt_dropout: float = 0.1
    snr_gamma: float = 5.0
    """Min-SNR loss weighting (Hang et al. 2023); 0 turns it off."""
    checkpoint_every: int = 0
    """Experiments only: also save the EMA pipeline every this many steps (0: never)."""
    # sampling defaults shipped with the model
    sample_steps: int = 20
    guidance_scale: float = 3.0
    guidance_start: float = 0.7
    """Guidance only below timestep 700 (see `train.generate.GuidanceInterval`)."""


def grammar_words() -> list[str]:
    """Every word of the toy grammar (plural shapes included), without `vocab.EXTRA_WORDS`."""
    from finerewards.toyworld.vocab import EXTRA_WORDS
    from finerewards.toyworld.vocab import grammar_words as all_words

    return sorted(set(all_words()) - set(EXTRA_WORDS))


def tokenizer_files() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The toy CLIP BPE vocabulary and merges: each grammar word one token, every lower-case
    letter (alone and word-final) in the vocabulary so an unknown word encodes letter by letter."""
    from finerewards.toyworld.vocab import bpe_vocabulary

    return bpe_vocabulary(grammar_words(), "abcdefghijklmnopqrstuvwxyz")


def build_tokenizer() -> Any:
    """The toy CLIPTokenizer (model_max_length MAX_TOKENS, pads with <|endoftext|>)."""
    from transformers import CLIPTokenizer

    vocab, merges = tokenizer_files()
    # transformers' hint says list[str]; its tokenizers backend wants (left, right) pairs
    tokenizer = CLIPTokenizer(vocab=vocab, merges=cast(Any, merges), model_max_length=MAX_TOKENS)
    for word in grammar_words():
        ids = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise RuntimeError(f"toy tokenizer splits {word!r} into {ids}")
    return tokenizer


def build_text_encoder(tokenizer: Any, s: SDSettings) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=s.text_hidden,
        intermediate_size=4 * s.text_hidden,
        num_hidden_layers=s.text_layers,
        num_attention_heads=4,
        max_position_embeddings=MAX_TOKENS,
        projection_dim=s.text_hidden,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModel(config)


def build_vae(s: SDSettings) -> Any:
    from diffusers import AutoencoderKL

    n = len(s.vae_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=s.vae_channels,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=SIZE,
        mid_block_add_attention=False,
    )


def build_unet(s: SDSettings, latent_size: int) -> Any:
    from diffusers import UNet2DConditionModel

    c = s.unet_channels
    return UNet2DConditionModel(
        sample_size=latent_size,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=c,
        layers_per_block=s.unet_layers_per_block,
        cross_attention_dim=s.text_hidden,
        attention_head_dim=tuple(ch // s.unet_head_dim for ch in c),
        norm_num_groups=16,
    )


def build_scheduler() -> Any:
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="epsilon",
        timestep_spacing="trailing",
    )


class Data:
    """Endless seeded batches of (prompt, render) drawn from toy:train."""

    def __init__(self, seed: int) -> None:
        self.rows = load_prompt_rows("train")
        self.rng = random.Random(seed)

    def batch(self, n: int) -> tuple[list[str], np.ndarray]:
        prompts = [self.rng.choice(self.rows)[0] for _ in range(n)]
        seeds = [self.rng.randrange(2**31) for _ in range(n)]
        return prompts, render_batch_array(prompts, seeds)


def to_tensor(arrays: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1]."""
    import torch

    return torch.from_numpy(arrays).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def object_weights(images: torch.Tensor, weight: float) -> torch.Tensor:
    """Per-pixel loss weights: 1 on white background, 1 + weight on (or next to) objects."""
    import torch.nn.functional as F

    ink = (images < 0.99).any(dim=1, keepdim=True).float()
    near = F.max_pool2d(ink, kernel_size=3, stride=1, padding=1)
    return 1.0 + weight * near


def thumbnail_loss(latent_mean: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """MSE between latent channels 0-2 and the image shrunk to the latent size, minus white.

    Without it the autoencoder packs colour into tiny latent differences (a red and a green
    square ended up closer than a square and a circle), so the denoiser's loss barely cares
    about colour and learns it last. With it, colour is a large, linear part of the latent;
    white maps to 0, so the latents stay centred.
    """
    import torch.nn.functional as F

    height, width = latent_mean.shape[-2:]
    thumb = F.adaptive_avg_pool2d(images, (int(height), int(width))) - 1.0
    return F.mse_loss(latent_mean[:, :3], thumb)


def cosine_lr(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def train_vae(s: SDSettings, log: Callable[[str], None]) -> Any:
    """Train the autoencoder on renders; returns it in eval mode with its scaling factor set."""
    import torch

    torch.manual_seed(s.seed)
    vae = build_vae(s)
    data = Data(s.seed + 1)
    opt = torch.optim.AdamW(vae.parameters(), lr=s.vae_lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: cosine_lr(i, s.vae_steps, 100))
    vae.train()
    start = time.time()
    for step in range(s.vae_steps):
        _, arrays = data.batch(s.vae_batch)
        x = to_tensor(arrays)
        posterior = vae.encode(x).latent_dist
        recon = vae.decode(posterior.sample()).sample
        w = object_weights(x, s.vae_object_weight)
        err = recon - x
        loss = (w * (err.abs() + err**2)).mean() + s.vae_kl * posterior.kl().mean()
        if s.vae_thumbnail_weight:
            loss = loss + s.vae_thumbnail_weight * thumbnail_loss(posterior.mean, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == s.vae_steps - 1:
            log(f"vae step {step} loss {loss.item():.4f} ({time.time() - start:.0f}s)")
    vae.eval()
    with torch.no_grad():
        _, arrays = Data(s.seed + 2).batch(512)
        latents = vae.encode(to_tensor(arrays)).latent_dist.sample()
    scaling = float(1.0 / latents.std())
    vae.register_to_config(scaling_factor=scaling)
    log(f"vae latent std {1 / scaling:.4f} mean {latents.mean().item():.4f}")
    if s.vae_check_images:
        accuracy = reconstruction_accuracy(vae, s.vae_check_images)
        log(f"vae reconstructions the oracle reads right: {accuracy:.3f}")
    return vae


def reconstruction_accuracy(vae: Any, n: int = 256, seed: int = 99) -> float:
    """Share of renders (toy:test prompts) whose decoded reconstruction still satisfies the prompt."""
    import torch

    from finerewards.toyworld.oracle import satisfies
    from finerewards.toyworld.prompts import load_prompt_set

    prompts = (load_prompt_set("test") * (n // 233 + 1))[:n]
    arrays = render_batch_array(prompts, [seed + i for i in range(n)])
    hits = 0
    with torch.no_grad():
        for start in range(0, n, 32):
            x = to_tensor(arrays[start : start + 32])
            recon = vae.decode(vae.encode(x).latent_dist.mode()).sample
            images = ((recon.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
            hits += sum(satisfies(p, im) for p, im in zip(prompts[start : start + 32], images))
    return hits / n


def encode_prompts(tokenizer: Any, text_encoder: Any, prompts: Sequence[str]) -> torch.Tensor:
    """Exactly what StableDiffusionPipeline does: pad to max length, no attention mask."""
    ids = tokenizer(
        list(prompts),
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids
    return text_encoder(ids)[0]


class EMA:
    """Exponential moving average of parameters (the shipped weights are the EMA ones)."""

    def __init__(self, modules: Sequence[Any], decay: float) -> None:
        self.decay = decay
        self.params = [p for m in modules for p in m.parameters()]
        self.shadow = [p.detach().clone() for p in self.params]

    def update(self, step: int) -> None:
        import torch

        decay = min(self.decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for shadow, p in zip(self.shadow, self.params):
                shadow.lerp_(p.detach(), 1 - decay)

    def swap(self) -> None:
        """Exchange live and averaged weights (twice restores the live ones)."""
        import torch

        with torch.no_grad():
            for shadow, p in zip(self.shadow, self.params):
                tmp = p.detach().clone()
                p.copy_(shadow)
                shadow.copy_(tmp)

    def copy_to_params(self) -> None:
        import torch

        with torch.no_grad():
            for shadow, p in zip(self.shadow, self.params):
                p.copy_(shadow)


def train_denoiser(
    s: SDSettings,
    vae: Any,
    tokenizer: Any,
    log: Callable[[str], None],
    checkpoint: Callable[[int, Any, Any], None] | None = None,
) -> tuple[Any, Any]:
    """Train the UNet and text encoder jointly on latents of fresh renders; EMA weights out."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(s.seed + 10)
    text_encoder = build_text_encoder(tokenizer, s)
    latent_size = SIZE // 2 ** (len(s.vae_channels) - 1)
    unet = build_unet(s, latent_size)
    scheduler = build_scheduler()
    n_unet = sum(p.numel() for p in unet.parameters())
    n_text = sum(p.numel() for p in text_encoder.parameters())
    log(f"unet {n_unet / 1e6:.2f}M params, text encoder {n_text / 1e6:.2f}M params")
    params = list(unet.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=s.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: cosine_lr(i, s.unet_steps, s.warmup))
    ema = EMA([unet, text_encoder], s.ema_decay)
    data = Data(s.seed + 11)
    gen = torch.Generator().manual_seed(s.seed + 12)
    drop = random.Random(s.seed + 13)
    alphas = scheduler.alphas_cumprod
    unet.train()
    text_encoder.train()
    vae.requires_grad_(False)
    start = time.time()
    for step in range(s.unet_steps):
        prompts, arrays = data.batch(s.batch)
        prompts = ["" if drop.random() < s.prompt_dropout else p for p in prompts]
        with torch.no_grad():
            dist = vae.encode(to_tensor(arrays)).latent_dist
            latents = dist.sample(generator=gen) * vae.config.scaling_factor
        noise = torch.randn(latents.shape, generator=gen)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (s.batch,), generator=gen)
        a = alphas[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * latents + (1 - a).sqrt() * noise
        cond = encode_prompts(tokenizer, text_encoder, prompts)
        pred = unet(noisy, t, encoder_hidden_states=cond).sample
        per_item = F.mse_loss(pred, noise, reduction="none").mean(dim=(1, 2, 3))
        if s.snr_gamma:
            snr = alphas[t] / (1 - alphas[t])
            per_item = per_item * snr.clamp(max=s.snr_gamma) / snr
        loss = per_item.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        ema.update(step)
        if step % 200 == 0 or step == s.unet_steps - 1:
            lr = sched.get_last_lr()[0]
            log(f"unet step {step} loss {loss.item():.4f} lr {lr:.2e} ({time.time() - start:.0f}s)")
        if checkpoint and s.checkpoint_every and (step + 1) % s.checkpoint_every == 0:
            ema.swap()
            checkpoint(step + 1, unet, text_encoder)
            ema.swap()
    ema.copy_to_params()
    unet.eval()
    text_encoder.eval()
    return unet, text_encoder


def assemble(vae: Any, text_encoder: Any, tokenizer: Any, unet: Any) -> Any:
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=build_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def model_card(s: SDSettings, seconds: dict[str, float]) -> dict[str, Any]:
    return {
        "library": "diffusers",
        "class": "StableDiffusionPipeline",
        "description": (
            "Tiny text-to-image latent diffusion model of the toy world (64 x 64 images, "
            "16 x 16 x 4 latents), trained from scratch by `fr toyworld train-models --only sd` "
            "on ground-truth renders of toy:train prompts."
        ),
        "defaults": {
            "num_inference_steps": s.sample_steps,
            "guidance_scale": s.guidance_scale,
            "guidance_start": s.guidance_start,
            "height": SIZE,
            "width": SIZE,
        },
        "training": {**asdict(s), "seconds": {k: round(v) for k, v in seconds.items()}},
    }


def train(
    out_dir: Path,
    settings: SDSettings | None = None,
    log: Callable[[str], None] = print,
    vae_dir: Path | None = None,
) -> Path:
    """Train every stage from scratch and write the pipeline folder to `out_dir`.

    `vae_dir` (experiments only) reuses an autoencoder folder instead of training one.
    """
    import torch

    s = settings or SDSettings()
    torch.set_num_threads(s.threads)
    out = Path(out_dir)
    started = time.time()
    tokenizer = build_tokenizer()
    if vae_dir is None:
        vae = train_vae(s, log)
        if s.checkpoint_every:
            vae.save_pretrained(out.parent / f"{out.name}.vae", safe_serialization=True)
    else:
        from diffusers import AutoencoderKL

        vae = AutoencoderKL.from_pretrained(vae_dir).eval()
    vae_done = time.time()

    def checkpoint(step: int, unet: Any, text_encoder: Any) -> None:
        folder = out.parent / f"{out.name}.step{step}"
        assemble(vae, text_encoder, tokenizer, unet).save_pretrained(folder, safe_serialization=True)
        log(f"checkpoint {folder}")

    unet, text_encoder = train_denoiser(s, vae, tokenizer, log, checkpoint)
    done = time.time()
    pipe = assemble(vae, text_encoder, tokenizer, unet)
    pipe.save_pretrained(out, safe_serialization=True)
    seconds = {"vae": vae_done - started, "denoiser": done - vae_done, "total": done - started}
    from finerewards.fsutil import atomic_write_json

    atomic_write_json(out / "fr_model.json", model_card(s, seconds))
    log(f"saved toy:sd to {out} in {done - started:.0f}s")
    return out


def quick_settings(**changes: Any) -> SDSettings:
    """Tiny settings for tests: the same code path in a few seconds (useless weights)."""
    small = SDSettings(
        vae_channels=(8, 8, 8),
        vae_steps=2,
        vae_batch=2,
        vae_check_images=0,
        text_hidden=16,
        unet_channels=(16, 16, 32),
        unet_head_dim=16,
        unet_steps=2,
        batch=2,
        warmup=1,
    )
    return replace(small, **changes)


def train_quick(out_dir: Path) -> Path:
    """The whole `train` path with `quick_settings` (tests of the train-models plumbing)."""
    return train(out_dir, quick_settings(), log=lambda _m: None)


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Train toy:sd from scratch.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--set", action="append", default=[], help="FIELD=VALUE override")
    parser.add_argument("--vae", type=Path, default=None, help="reuse this autoencoder folder")
    args = parser.parse_args(argv)
    changes: dict[str, Any] = {}
    defaults = SDSettings()
    for item in args.set:
        key, _, value = item.partition("=")
        current = getattr(defaults, key)
        changes[key] = (
            tuple(int(v) for v in value.split(",")) if isinstance(current, tuple) else type(current)(value)
        )
    train(args.out, replace(defaults, **changes), log=lambda m: print(m, flush=True), vae_dir=args.vae)
    print(json.dumps(asdict(replace(defaults, **changes))))


if __name__ == "__main__":
    main()
