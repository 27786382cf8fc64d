"""Diffusion math (no network, no training loop): noise schedule, forward noising, DDPM and DDIM steps.

The denoiser predicts the clean trajectory ``x0`` (EAQ, as Diffuser does), so both samplers take an
``x0`` prediction. Conventions match ``diffusers`` (checked in tests): DDPMScheduler with
``prediction_type="sample"``, ``variance_type="fixed_small"``; DDIMScheduler with ``eta=0``,
``timestep_spacing="leading"``, ``set_alpha_to_one=True``. Tensors are ``[B, F, H]``; ``k`` is ``[B]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_k [B,F,H], k [B]) -> x0 [B,F,H]


def make_betas(n_steps: int, schedule: str, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """``[K]`` float64 betas: ``cosine`` (diffusers ``squaredcos_cap_v2``) or ``linear``."""
    if schedule == "linear":
        return torch.linspace(beta_start, beta_end, n_steps, dtype=torch.float64)
    if schedule == "cosine":

        def alpha_bar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        return torch.tensor(
            [min(1 - alpha_bar((i + 1) / n_steps) / alpha_bar(i / n_steps), 0.999) for i in range(n_steps)],
            dtype=torch.float64,
        )
    raise ValueError(f"unknown beta schedule {schedule!r}")


class GaussianDiffusion(nn.Module):
    """Schedule constants as buffers plus the forward process and the reverse steps (x0-parameterised)."""

    def __init__(
        self,
        n_steps: int,
        schedule: str = "cosine",
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        clip_denoised: bool = True,
    ):
        super().__init__()
        betas = make_betas(n_steps, schedule, beta_start, beta_end)
        alphas = 1.0 - betas
        abar = torch.cumprod(alphas, dim=0)
        abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
        self.n_steps = n_steps
        self.clip_denoised = clip_denoised
        as_f32 = {
            "betas": betas,
            "alphas_cumprod": abar,
            "alphas_cumprod_prev": abar_prev,
            "sqrt_abar": abar.sqrt(),
            "sqrt_one_minus_abar": (1 - abar).sqrt(),
            # posterior q(x_{k-1} | x_k, x0) = N(c0 * x0 + ck * x_k, var)
            "post_var": betas * (1 - abar_prev) / (1 - abar),
            "post_c0": betas * abar_prev.sqrt() / (1 - abar),
            "post_ck": (1 - abar_prev) * alphas.sqrt() / (1 - abar),
        }
        for name, value in as_f32.items():
            self.register_buffer(name, value.float(), persistent=False)

    @staticmethod
    def _at(values: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return values[k][:, None, None]

    # ---- training -------------------------------------------------------------------------------
    def q_sample(self, x0: torch.Tensor, k: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``x_k = sqrt(abar_k) x0 + sqrt(1 - abar_k) eps``."""
        return self._at(self.sqrt_abar, k) * x0 + self._at(self.sqrt_one_minus_abar, k) * noise

    # ---- sampling ------------------------------------------------------------------------------
    def _clip(self, x0: torch.Tensor) -> torch.Tensor:
        return x0.clamp(-1.0, 1.0) if self.clip_denoised else x0

    def ddpm_step(self, x0_pred: torch.Tensor, x_k: torch.Tensor, k: int, noise: torch.Tensor | None) -> torch.Tensor:
        """One ancestral step ``x_k -> x_{k-1}`` given the predicted ``x0`` (no noise at k = 0)."""
        x0_pred = self._clip(x0_pred)
        mean = self.post_c0[k] * x0_pred + self.post_ck[k] * x_k
        if k == 0 or noise is None:
            return mean
        return mean + self.post_var[k].sqrt() * noise

    def ddim_timesteps(self, n_sampling: int, spacing: str = "trailing") -> list[int]:
        """DDIM's steps, as diffusers' ``timestep_spacing``: ``leading`` = ``[(n-1)*s, ..., s, 0]`` with
        ``s = K // n`` (starts at ``(n-1)*s``, short of pure noise when n is small); ``trailing`` =
        ``round(arange(K, 0, -K/n)) - 1`` (starts at ``K - 1``: from pure noise)."""
        n = min(n_sampling, self.n_steps)
        if spacing == "trailing":
            return [int(k) for k in (np.round(np.arange(self.n_steps, 0, -self.n_steps / n)).astype(np.int64) - 1)]
        if spacing != "leading":
            raise ValueError(f"expected timestep spacing 'leading' or 'trailing', got {spacing!r}")
        step = self.n_steps // n
        return [i * step for i in reversed(range(n))]

    def ddim_step(self, x0_pred: torch.Tensor, x_k: torch.Tensor, k: int, k_prev: int) -> torch.Tensor:
        """Deterministic DDIM (eta = 0) step ``x_k -> x_{k_prev}``; ``k_prev < 0`` means abar = 1."""
        abar = self.alphas_cumprod[k]
        abar_prev = self.alphas_cumprod[k_prev] if k_prev >= 0 else torch.ones((), device=x_k.device)
        eps = (x_k - abar.sqrt() * x0_pred) / (1 - abar).sqrt()  # from the unclipped x0, as diffusers
        x0_pred = self._clip(x0_pred)
        return abar_prev.sqrt() * x0_pred + (1 - abar_prev).sqrt() * eps

    @torch.no_grad()
    def sample_ddpm(
        self, denoise: Denoise, shape: tuple[int, ...], generator: torch.Generator, device: str | torch.device = "cpu"
    ) -> torch.Tensor:
        """Full ancestral sampling over all K steps -> ``x0 [B, F, H]`` (normalised scale)."""
        x = torch.randn(shape, generator=generator, device=device)
        for k in reversed(range(self.n_steps)):
            kk = torch.full((shape[0],), k, device=device, dtype=torch.long)
            noise = torch.randn(shape, generator=generator, device=device) if k > 0 else None
            x = self.ddpm_step(denoise(x, kk), x, k, noise)
        return x

    @torch.no_grad()
    def sample_ddim(
        self,
        denoise: Denoise,
        shape: tuple[int, ...],
        generator: torch.Generator,
        n_sampling: int,
        device: str | torch.device = "cpu",
        spacing: str = "trailing",
    ) -> torch.Tensor:
        """DDIM with ``n_sampling`` deterministic steps -> ``x0 [B, F, H]`` (normalised scale)."""
        x = torch.randn(shape, generator=generator, device=device)
        steps = self.ddim_timesteps(n_sampling, spacing)
        for i, k in enumerate(steps):
            k_prev = steps[i + 1] if i + 1 < len(steps) else -1
            kk = torch.full((shape[0],), k, device=device, dtype=torch.long)
            x = self.ddim_step(denoise(x, kk), x, k, k_prev)
        return x
