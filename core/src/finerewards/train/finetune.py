"""One round of LoRA fine-tuning on the kept (image, prompt) pairs: the denoising loss.

As in the diffusers text-to-image LoRA script: images are encoded by the frozen VAE, noise is
added at a random timestep by the DDPM forward process, the UNet with its adapter predicts the
noise (or the velocity, per the scheduler's `prediction_type`), and the mean squared error
trains the adapter only. With `objective = "dpo"` the loss is Diffusion-DPO's (Wallace et al.
2023): each kept winner comes with its prompt's worst candidate, both are noised alike, and the
adapter is pushed to denoise the winner better, and the loser worse, than the base model (the
UNet with its adapter switched off) does. Every random draw comes from one generator seeded by
(run seed, round), and each step draws the *global* batch, of which every process takes its
share and whose gradients are summed, so N processes do the same step as one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

    from finerewards.train.config import TrainingConfig
    from finerewards.train.distributed import Dist


@dataclass
class RoundData:
    """The kept pairs, encoded once per round by the frozen VAE and text encoder.

    `latent_mean` and `latent_std` are in the UNet's (scaled) latent space; a training example
    draws `mean + std * noise`. For `target = "latents"` the std is zero: the exact latents that
    the candidates were decoded from.
    """

    latent_mean: torch.Tensor
    latent_std: torch.Tensor
    embeddings: torch.Tensor
    empty: torch.Tensor

    def take(self, rows: Sequence[int]) -> RoundData:
        """These rows, in this order (repeats allowed)."""
        import torch

        index = torch.tensor(list(rows), dtype=torch.long, device=self.latent_mean.device)
        return RoundData(self.latent_mean[index], self.latent_std[index], self.embeddings[index], self.empty)


def concat_rounds(parts: Sequence[RoundData]) -> RoundData:
    """Several rounds' encoded examples as one (replay of earlier rounds' pairs)."""
    import torch

    if len(parts) == 1:
        return parts[0]
    return RoundData(
        torch.cat([p.latent_mean for p in parts]),
        torch.cat([p.latent_std for p in parts]),
        torch.cat([p.embeddings for p in parts]),
        parts[0].empty,
    )


def mixed_precision(setting: str, device: str) -> str:
    """`auto` is fp16 on CUDA, no mixed precision elsewhere."""
    if setting == "auto":
        return "fp16" if device.startswith("cuda") else "no"
    return setting


def _pixels(images: Sequence[Image]) -> torch.Tensor:
    import numpy as np
    import torch

    array = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) for im in images])
    return torch.from_numpy(array).permute(0, 3, 1, 2) / 127.5 - 1.0


def _embed(pipe: Any, texts: list[str], device: str) -> torch.Tensor:
    tokenizer = pipe.tokenizer
    ids = tokenizer(
        texts,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids.to(device)
    return pipe.text_encoder(ids, return_dict=False)[0].float()


def embed_round(
    pipe: Any, latents: Sequence[torch.Tensor], prompts: Sequence[str], device: str, chunk: int
) -> RoundData:
    """Kept candidates given by their generation latents: only the prompts need encoding."""
    import torch

    with torch.no_grad():
        embeds = [_embed(pipe, list(prompts[s : s + chunk]), device) for s in range(0, len(prompts), chunk)]
        empty = _embed(pipe, [""], device)[0]
    mean = torch.stack([t.float() for t in latents]).to(device)
    return RoundData(mean, torch.zeros_like(mean), torch.cat(embeds), empty)


def encode_round(
    pipe: Any, images: Sequence[Image], prompts: Sequence[str], device: str, chunk: int
) -> RoundData:
    """VAE latent distributions of the images (scaled) and text embeddings of the prompts."""
    import torch

    vae = pipe.vae
    scaling = float(vae.config.scaling_factor)
    means, stds, embeds = [], [], []
    with torch.no_grad():
        for start in range(0, len(images), chunk):
            pixels = _pixels(images[start : start + chunk]).to(device, dtype=vae.dtype)
            dist = vae.encode(pixels).latent_dist
            means.append(dist.mean.float() * scaling)
            stds.append(dist.std.float() * scaling)
            embeds.append(_embed(pipe, list(prompts[start : start + chunk]), device))
        empty = _embed(pipe, [""], device)[0]
    return RoundData(torch.cat(means), torch.cat(stds), torch.cat(embeds), empty)


def _order(count: int, needed: int, generator: torch.Generator) -> list[int]:
    """Epoch-style sampling: shuffled passes over the data, as many as the steps need."""
    import torch

    out: list[int] = []
    while len(out) < needed:
        out.extend(torch.randperm(count, generator=generator).tolist())
    return out[:needed]


def train_round(
    pipe: Any,
    params: list[torch.nn.Parameter],
    data: RoundData,
    settings: TrainingConfig,
    noise_scheduler: Any,
    seed: int,
    dist: Dist,
    device: str,
    progress: Callable[[int, float], None] | None = None,
    rejected: RoundData | None = None,
) -> float:
    """Run `settings.steps_per_round` optimiser steps; return the mean training loss.

    `rejected` holds the losers of the pairs (aligned with `data`), needed by the DPO objective.
    """
    import torch

    unet = pipe.unet
    generator = torch.Generator("cpu").manual_seed(seed)
    torch.manual_seed(seed)  # LoRA dropout draws from the global stream: make it the round's too
    precision = mixed_precision(settings.mixed_precision, device)
    amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
    if amp_dtype is None and unet.dtype != torch.float32:
        amp_dtype = unet.dtype
    device_type = torch.device(device).type
    scaler = (
        torch.amp.GradScaler(device_type) if amp_dtype == torch.float16 and device_type == "cuda" else None
    )
    optimizer = torch.optim.AdamW(
        params,
        lr=settings.learning_rate,
        betas=(settings.adam_beta1, settings.adam_beta2),
        weight_decay=settings.weight_decay,
        eps=settings.adam_epsilon,
    )
    schedule = learning_rate_schedule(optimizer, settings)
    if settings.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    unet.train()
    batch = settings.batch_size
    count = data.latent_mean.shape[0]
    order = _order(count, settings.steps_per_round * batch, generator)
    shape = tuple(data.latent_mean.shape[1:])
    steps_total = int(noise_scheduler.config.num_train_timesteps)
    dpo = settings.objective == "dpo"
    if dpo and (rejected is None or rejected.latent_mean.shape != data.latent_mean.shape):
        raise ValueError("the DPO objective needs one rejected example per kept one")
    losses: list[float] = []
    ema = [p.detach().clone() for p in params] if settings.ema_decay > 0 else None
    anchor = [p.detach().clone() for p in params] if dpo and settings.dpo_reference == "round" else None
    for step in range(settings.steps_per_round):
        ids = torch.tensor(order[step * batch : (step + 1) * batch])
        eps = torch.randn((batch, *shape), generator=generator)
        noise = torch.randn((batch, *shape), generator=generator)
        timesteps = torch.randint(settings.min_timestep, steps_total, (batch,), generator=generator)
        dropped = torch.rand(batch, generator=generator) < settings.prompt_dropout
        loser_eps = torch.randn((batch, *shape), generator=generator) if dpo else None
        mine = list(range(dist.rank, batch, dist.world))
        optimizer.zero_grad(set_to_none=False)
        local = torch.zeros((), device=device)
        if mine:
            pick = ids[mine]
            latents = data.latent_mean[pick] + data.latent_std[pick] * eps[mine].to(device)
            cond = data.embeddings[pick].clone()
            cond[dropped[mine].to(device)] = data.empty
            noisy_noise, t = noise[mine].to(device), timesteps[mine].to(device)
            if rejected is not None and loser_eps is not None:
                losers = rejected.latent_mean[pick] + rejected.latent_std[pick] * loser_eps[mine].to(device)
                latents = torch.cat([latents, losers])
                cond, t = torch.cat([cond, cond]), torch.cat([t, t])
                noisy_noise = torch.cat([noisy_noise, noisy_noise])
            batch_parts = (latents, noisy_noise, t, cond)
            if dpo:  # the reference first: its pass may swap the adapter's weights
                with torch.no_grad(), _reference_model(unet, params, anchor):
                    reference = denoising_errors(
                        unet, noise_scheduler, batch_parts, settings.snr_gamma, amp_dtype
                    )
            per_example = denoising_errors(unet, noise_scheduler, batch_parts, settings.snr_gamma, amp_dtype)
            if dpo:
                per_example = dpo_losses(per_example, reference, settings.dpo_beta)
            local = per_example.sum() / batch
            (scaler.scale(local) if scaler is not None else local).backward()
        _sum_gradients(params, dist)
        if scaler is not None:
            scaler.unscale_(optimizer)
        if settings.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        schedule.step()
        if ema is not None:
            with torch.no_grad():
                for average, param in zip(ema, params):
                    average.lerp_(param.detach(), 1.0 - settings.ema_decay)
        loss = float(dist.sum_(local.detach().reshape(1))[0])
        losses.append(loss)
        if progress is not None:
            progress(step, loss)
    optimizer.zero_grad(set_to_none=True)
    if ema is not None:
        with torch.no_grad():
            for average, param in zip(ema, params):
                param.copy_(average)
    unet.eval()
    if settings.gradient_checkpointing:
        unet.disable_gradient_checkpointing()
    return sum(losses) / len(losses)


def round_training(settings: TrainingConfig, index: int) -> TrainingConfig:
    """The settings round `index` trains with: its learning rate after `lr_round_decay`."""
    rate = settings.learning_rate * settings.lr_round_decay**index
    return settings.model_copy(update={"learning_rate": rate})


def learning_rate_schedule(optimizer: torch.optim.Optimizer, settings: TrainingConfig) -> Any:
    """The round's learning-rate schedule, as the diffusers training scripts build it."""
    from diffusers.optimization import get_scheduler

    name: str = settings.lr_schedule
    if name == "constant" and settings.lr_warmup_steps:
        name = "constant_with_warmup"
    return get_scheduler(
        name,
        optimizer,
        num_warmup_steps=settings.lr_warmup_steps,
        num_training_steps=settings.steps_per_round,
    )


@contextmanager
def _reference_model(
    unet: Any, params: list[torch.nn.Parameter], anchor: list[torch.Tensor] | None
) -> Iterator[None]:
    """The DPO reference in place of the trained model: the UNet without its adapter, or (with
    `anchor`) the adapter's weights as they stood when the round began."""
    if anchor is None:
        unet.disable_adapters()
        try:
            yield
        finally:
            unet.enable_adapters()
        return
    current = [p.detach().clone() for p in params]
    unet.eval()  # no adapter dropout in the reference
    try:
        for param, value in zip(params, anchor):
            param.data.copy_(value)
        yield
    finally:
        for param, value in zip(params, current):
            param.data.copy_(value)
        unet.train()


def denoising_errors(
    unet: Any,
    noise_scheduler: Any,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    snr_gamma: float,
    amp_dtype: torch.dtype | None,
) -> torch.Tensor:
    """Per-example denoising loss of the UNet as it is now on (latents, noise, timesteps, prompts).

    The target follows the scheduler's `prediction_type`; with `snr_gamma` > 0 each example is
    weighted by Min-SNR-gamma.
    """
    import torch
    import torch.nn.functional as F

    latents, noise, t, cond = batch
    prediction = noise_scheduler.config.prediction_type
    noisy = noise_scheduler.add_noise(latents, noise, t)
    if prediction == "v_prediction":
        target = noise_scheduler.get_velocity(latents, noise, t)
    elif prediction == "sample":
        target = latents
    else:
        target = noise
    with torch.autocast(torch.device(latents.device).type, dtype=amp_dtype, enabled=amp_dtype is not None):
        pred = unet(noisy.to(unet.dtype), t, encoder_hidden_states=cond.to(unet.dtype), return_dict=False)[0]
    errors = F.mse_loss(pred.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
    if snr_gamma > 0:
        errors = errors * min_snr_weights(noise_scheduler, t, snr_gamma, prediction)
    return errors


def dpo_losses(errors: torch.Tensor, reference: torch.Tensor, beta: float) -> torch.Tensor:
    """Diffusion-DPO's per-pair loss from the denoising errors of [winners; losers].

    -log sigmoid(-beta / 2 * ((e_w - r_w) - (e_l - r_l))): low when the adapter lowers the
    winner's error, and raises the loser's, more than the reference model does. What the two
    images share (the model's own artefacts) cancels out, which is what keeps training on
    the model's own samples from drifting.
    """
    import torch.nn.functional as F

    half = errors.shape[0] // 2
    margin = (errors[:half] - reference[:half]) - (errors[half:] - reference[half:])
    return -F.logsigmoid(-0.5 * beta * margin)


def min_snr_weights(
    noise_scheduler: Any, timesteps: torch.Tensor, gamma: float, prediction: str
) -> torch.Tensor:
    """Per-example loss weights of Min-SNR-gamma (Hang et al. 2023), as in the diffusers
    text-to-image script: min(SNR, gamma) over SNR for epsilon targets (over SNR + 1 for v).

    A model trained with this weighting (toy:sd is) is best fine-tuned with it: plain MSE
    shifts the effort to the nearly clean timesteps and away from where layouts are decided.
    """
    import torch

    alphas = noise_scheduler.alphas_cumprod.to(timesteps.device)[timesteps].float()
    snr = alphas / (1.0 - alphas)
    clipped = torch.clamp(snr, max=gamma)
    if prediction == "v_prediction":
        return clipped / (snr + 1.0)
    if prediction == "sample":
        return clipped
    return clipped / snr


def _sum_gradients(params: list[torch.nn.Parameter], dist: Dist) -> None:
    """Make every parameter's gradient the sum over processes (zeros where there was none)."""
    import torch

    for param in params:
        if param.grad is None:
            param.grad = torch.zeros_like(param)
    if dist.world == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    flat = dist.sum_(torch.cat([g.reshape(-1) for g in grads]))
    offset = 0
    for grad in grads:
        size = grad.numel()
        grad.copy_(flat[offset : offset + size].view_as(grad))
        offset += size
