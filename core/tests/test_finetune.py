"""The fine-tuning loss weighting (Min-SNR-gamma)."""

from __future__ import annotations

import math
from typing import Any

import pytest

torch = pytest.importorskip("torch")


def test_min_snr_weights_cap_the_easy_timesteps() -> None:
    """Weight 1 where SNR <= gamma (noisy steps), gamma / SNR above it; v targets divide by SNR + 1."""
    from diffusers import DDPMScheduler

    from finerewards.train.finetune import min_snr_weights

    scheduler = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    t = torch.tensor([0, 50, 200, 500, 999])
    alphas = scheduler.alphas_cumprod[t]
    snr = alphas / (1 - alphas)
    eps = min_snr_weights(scheduler, t, 5.0, "epsilon")
    assert torch.allclose(eps, torch.where(snr > 5, 5 / snr, torch.ones_like(snr)))
    assert eps[0] < 0.01 and eps[-1] == 1.0 and bool((eps[1:] >= eps[:-1]).all())
    v = min_snr_weights(scheduler, t, 5.0, "v_prediction")
    assert torch.allclose(v, torch.minimum(snr, torch.tensor(5.0)) / (snr + 1))


def test_dpo_loss_is_log2_without_preference_and_falls_as_the_winner_gains() -> None:
    from finerewards.train.finetune import dpo_losses

    reference = torch.tensor([0.5, 0.5, 0.4, 0.4])  # [winners; losers]
    same = dpo_losses(reference.clone(), reference, 100.0)
    assert torch.allclose(same, torch.full((2,), math.log(2.0)))
    better = dpo_losses(torch.tensor([0.45, 0.5, 0.4, 0.45]), reference, 100.0)
    assert bool((better < same).all())  # winner denoised better, or loser worse, than reference
    worse = dpo_losses(torch.tensor([0.55, 0.5, 0.4, 0.35]), reference, 100.0)
    assert bool((worse > same).all())


def _pair_margin(pipe: object, winner: torch.Tensor, loser: torch.Tensor, cond: torch.Tensor) -> float:
    """Mean DPO margin on fresh noise: negative when the adapter favours the winner."""
    from diffusers import DDPMScheduler

    from finerewards.train.finetune import denoising_errors

    unet = pipe.unet  # type: ignore[attr-defined]
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)  # type: ignore[attr-defined]
    generator = torch.Generator().manual_seed(999)
    noise = torch.randn(winner.shape, generator=generator).repeat(2, 1, 1, 1)
    t = torch.randint(0, 1000, (winner.shape[0],), generator=generator).repeat(2)
    batch = (torch.cat([winner, loser]), noise, t, cond.repeat(2, 1, 1))
    with torch.no_grad():
        mine = denoising_errors(unet, scheduler, batch, 0.0, None)
        unet.disable_adapters()
        reference = denoising_errors(unet, scheduler, batch, 0.0, None)
        unet.enable_adapters()
    half = winner.shape[0]
    return float(((mine[:half] - reference[:half]) - (mine[half:] - reference[half:])).mean())


def _one_pair_round() -> tuple[Any, list[Any], Any, Any]:
    """A tiny pipeline with a fresh adapter, and one (winner, loser) latent pair of one prompt,
    repeated 8 times: (pipe, adapter parameters, winners, losers)."""
    from train_support import tiny_pipeline

    from finerewards.train.config import LoraConfigModel
    from finerewards.train.finetune import RoundData
    from finerewards.train.lora import add_lora
    from finerewards.train.pipeline import load_pipeline

    pipe = load_pipeline(str(tiny_pipeline()))
    params = add_lora(pipe.unet, LoraConfigModel(rank=4, alpha=4), 0)
    channels, size = int(pipe.unet.config.in_channels), int(pipe.unet.config.sample_size)
    generator = torch.Generator().manual_seed(0)
    winner = torch.randn((1, channels, size, size), generator=generator).repeat(8, 1, 1, 1)
    loser = torch.randn((1, channels, size, size), generator=generator).repeat(8, 1, 1, 1)
    ids = pipe.tokenizer(["a red circle"], padding="max_length", return_tensors="pt").input_ids
    with torch.no_grad():
        cond = pipe.text_encoder(ids)[0].repeat(8, 1, 1)
    data = RoundData(winner, torch.zeros_like(winner), cond, cond[0])
    return pipe, params, data, RoundData(loser, torch.zeros_like(loser), cond, cond[0])


def test_dpo_training_makes_the_adapter_prefer_the_winner() -> None:
    """One prompt, one preferred and one rejected latent: after DPO steps the adapter denoises
    the winner better, and the loser worse, than the base model does (on noise never trained on);
    the same steps on the winner alone (RAFT) do not push the loser away."""
    from diffusers import DDPMScheduler
    from train_support import one_thread

    from finerewards.train.config import TrainingConfig
    from finerewards.train.distributed import Dist
    from finerewards.train.finetune import train_round

    margins = {}
    with one_thread():
        for objective in ("dpo", "raft"):
            pipe, params, data, rejected = _one_pair_round()
            winner, loser, cond = data.latent_mean, rejected.latent_mean, data.embeddings
            assert abs(_pair_margin(pipe, winner, loser, cond)) < 1e-6  # a fresh adapter is a no-op
            settings = TrainingConfig(
                steps_per_round=30, batch_size=8, learning_rate=3e-3, objective=objective, dpo_beta=500.0
            )
            scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
            train_round(pipe, params, data, settings, scheduler, 1, Dist("cpu"), "cpu", None, rejected)
            margins[objective] = _pair_margin(pipe, winner, loser, cond)
    assert margins["dpo"] < 0
    assert margins["dpo"] < 2 * margins["raft"]  # measured: -0.012 against -0.004


def test_ema_ends_the_round_on_the_average_of_the_step_weights() -> None:
    """With `ema_decay` d and one step, the adapter ends at d * start + (1 - d) * the weights
    that step gives without averaging (the same seeded step)."""
    from diffusers import DDPMScheduler
    from train_support import one_thread, tiny_pipeline

    from finerewards.train.config import LoraConfigModel, TrainingConfig
    from finerewards.train.distributed import Dist
    from finerewards.train.finetune import RoundData, train_round
    from finerewards.train.lora import add_lora
    from finerewards.train.pipeline import load_pipeline

    ends = {}
    with one_thread():
        for decay in (0.0, 0.75):
            pipe = load_pipeline(str(tiny_pipeline()))
            params = add_lora(pipe.unet, LoraConfigModel(rank=4, alpha=4), 0)
            start = [p.detach().clone() for p in params]
            channels, size = int(pipe.unet.config.in_channels), int(pipe.unet.config.sample_size)
            latents = torch.randn((4, channels, size, size), generator=torch.Generator().manual_seed(0))
            ids = pipe.tokenizer(["a red circle"] * 4, padding="max_length", return_tensors="pt").input_ids
            with torch.no_grad():
                cond = pipe.text_encoder(ids)[0]
            data = RoundData(latents, torch.zeros_like(latents), cond, cond[0])
            settings = TrainingConfig(steps_per_round=1, batch_size=4, learning_rate=1e-2, ema_decay=decay)
            scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
            train_round(pipe, params, data, settings, scheduler, 1, Dist("cpu"), "cpu")
            ends[decay] = [p.detach().clone() for p in params]
    moved = [not torch.equal(a, b) for a, b in zip(ends[0.0], start)]
    assert any(moved)
    for plain, averaged, first in zip(ends[0.0], ends[0.75], start):
        assert torch.allclose(averaged, 0.75 * first + 0.25 * plain, atol=1e-7)


def test_dpo_round_reference_measures_against_the_adapter_at_the_round_start() -> None:
    """After a round of DPO the adapter prefers the winner to the base model, so a second round's
    first loss is below log 2 against the base; against the round's own start (`dpo_reference =
    round`) the policy equals the reference on that step, and the loss is exactly log 2."""
    from diffusers import DDPMScheduler
    from train_support import one_thread

    from finerewards.train.config import TrainingConfig
    from finerewards.train.distributed import Dist
    from finerewards.train.finetune import train_round

    first_losses = {}
    with one_thread():
        for reference in ("base", "round"):
            pipe, params, data, rejected = _one_pair_round()
            scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
            common = {"batch_size": 8, "learning_rate": 3e-3, "objective": "dpo", "dpo_beta": 500.0}
            warm = TrainingConfig(steps_per_round=30, **common)
            train_round(pipe, params, data, warm, scheduler, 1, Dist("cpu"), "cpu", None, rejected)
            trained = [p.detach().clone() for p in params]
            second = TrainingConfig(steps_per_round=1, dpo_reference=reference, **common)
            first_losses[reference] = train_round(
                pipe, params, data, second, scheduler, 2, Dist("cpu"), "cpu", None, rejected
            )
            moved = any(not torch.equal(a, b) for a, b in zip(params, trained))
            assert moved  # the step trained the adapter, whichever the reference
    assert first_losses["round"] == pytest.approx(math.log(2), abs=1e-6)
    assert first_losses["base"] < math.log(2) - 0.01


def test_learning_rate_schedules_over_a_round_and_across_rounds() -> None:
    """`constant` keeps the rate (warm-up aside); `cosine` and `linear` end the round near 0;
    `lr_round_decay` scales round r's rate by its power r, and leaves round 0 alone."""
    from finerewards.train.config import TrainingConfig
    from finerewards.train.finetune import learning_rate_schedule, round_training

    def rates(**options: Any) -> list[float]:
        settings = TrainingConfig(steps_per_round=10, learning_rate=1e-3, **options)
        optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=settings.learning_rate)
        schedule = learning_rate_schedule(optimizer, settings)
        seen = []
        for _ in range(settings.steps_per_round):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.step()
        return seen

    assert rates() == [1e-3] * 10
    warm = rates(lr_warmup_steps=4)
    assert warm[0] == 0.0 and warm[2] == pytest.approx(5e-4) and warm[4:] == [1e-3] * 6
    for name in ("cosine", "linear"):
        falling = rates(lr_schedule=name)
        assert falling[0] == pytest.approx(1e-3) and falling[-1] < 1.5e-4
        assert all(a > b for a, b in zip(falling, falling[1:]))
    settings = TrainingConfig(learning_rate=1e-3, lr_round_decay=0.5)
    decayed = [round_training(settings, r).learning_rate for r in range(3)]
    assert decayed == pytest.approx([1e-3, 5e-4, 2.5e-4])
    assert round_training(settings, 2).lr_round_decay == 0.5 and settings.learning_rate == 1e-3
