"""The fine-tuning loss weighting (Min-SNR-gamma)."""

from __future__ import annotations

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
