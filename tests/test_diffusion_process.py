"""Noise schedules and samplers against diffusers' DDPMScheduler / DDIMScheduler (the reference)."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from rayeaq.generators.eaq.process import GaussianDiffusion

K = 50
SCHEDULES = {"cosine": "squaredcos_cap_v2", "linear": "linear"}


def fake_x0(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """A deterministic stand-in denoiser that depends on both x and k."""
    return torch.tanh(0.7 * x) * (1.0 - k.float()[:, None, None] / K) + 0.1


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_schedule_matches_diffusers(schedule):
    ours = GaussianDiffusion(K, schedule, 1e-4, 0.02)
    ref = DDPMScheduler(num_train_timesteps=K, beta_schedule=SCHEDULES[schedule], beta_start=1e-4, beta_end=0.02)
    torch.testing.assert_close(ours.betas, ref.betas.float(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(ours.alphas_cumprod, ref.alphas_cumprod.float(), rtol=1e-5, atol=1e-7)
    x0, noise = torch.randn(3, 4, 6), torch.randn(3, 4, 6)
    k = torch.tensor([0, 17, K - 1])
    torch.testing.assert_close(ours.q_sample(x0, k, noise), ref.add_noise(x0, noise, k), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_ddpm_sampling_matches_diffusers(schedule):
    ours = GaussianDiffusion(K, schedule, 1e-4, 0.02, clip_denoised=False)
    ref = DDPMScheduler(
        num_train_timesteps=K,
        beta_schedule=SCHEDULES[schedule],
        beta_start=1e-4,
        beta_end=0.02,
        prediction_type="sample",
        clip_sample=False,
        variance_type="fixed_small",
    )
    ref.set_timesteps(K)
    shape = (2, 5, 7)
    got = ours.sample_ddpm(fake_x0, shape, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(shape, generator=gen)
    for k in ref.timesteps.tolist():  # both draw each step's noise from the generator in the same order
        x = ref.step(fake_x0(x, torch.full((shape[0],), k, dtype=torch.long)), k, x, generator=gen).prev_sample
    torch.testing.assert_close(got, x, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("spacing", ["leading", "trailing"])
@pytest.mark.parametrize("n_sampling", [10, 7, 5])
def test_ddim_matches_diffusers(n_sampling, spacing):
    ours = GaussianDiffusion(K, "cosine", clip_denoised=False)
    ref = DDIMScheduler(
        num_train_timesteps=K,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="sample",
        clip_sample=False,
        set_alpha_to_one=True,
        steps_offset=0,
        timestep_spacing=spacing,
    )
    ref.set_timesteps(n_sampling)
    assert ours.ddim_timesteps(n_sampling, spacing) == ref.timesteps.tolist()
    if spacing == "trailing":
        assert ours.ddim_timesteps(n_sampling, spacing)[0] == K - 1  # from pure noise
    if spacing == "trailing" and K % n_sampling:
        # diffusers steps each timestep to t - K // n, which is not the next listed timestep when n does not
        # divide K (49 -> 42 but 28 -> 21 though the list has 20); ours always steps to the next listed one
        return
    shape = (3, 4, 9)
    got = ours.sample_ddim(fake_x0, shape, torch.Generator().manual_seed(5), n_sampling, spacing=spacing)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(5))
    for k in ref.timesteps.tolist():
        x = ref.step(fake_x0(x, torch.full((shape[0],), k, dtype=torch.long)), k, x, eta=0.0).prev_sample
    torch.testing.assert_close(got, x, rtol=1e-4, atol=1e-4)


def test_ddim_with_all_steps_is_deterministic_and_ends_at_x0():
    """With a perfect x0 oracle both samplers land on it exactly (the last step has abar_prev = 1)."""
    target = torch.linspace(-0.9, 0.9, 2 * 3 * 5).view(2, 3, 5)
    oracle = lambda x, k: target  # noqa: E731
    d = GaussianDiffusion(K, "cosine")
    torch.testing.assert_close(d.sample_ddim(oracle, target.shape, torch.Generator().manual_seed(0), 5), target)
    torch.testing.assert_close(d.sample_ddpm(oracle, target.shape, torch.Generator().manual_seed(0)), target)
