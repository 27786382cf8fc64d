"""Sampling a trained generator (plain torch): checkpoint -> normalised tensors -> decoded episodes."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rayeaq.core.errors import UserError
from rayeaq.generators.eaq.config import DiffusionConfig
from rayeaq.generators.eaq.layout import Decoded, Layout, Normalizer, decode
from rayeaq.generators.eaq.process import Denoise, GaussianDiffusion
from rayeaq.generators.eaq.unet import TemporalUNet


class NonFiniteSampleError(UserError):
    """The generator produced NaN/inf values (a diverged model or an extreme guidance scale)."""


class Generator:
    """A loaded generator: denoiser (EMA or raw weights), diffusion process, layout, normaliser."""

    def __init__(self, payload: dict[str, Any], use_ema: bool = True):
        # checkpoints written before window_stride was removed still carry it
        self.dcfg = DiffusionConfig.model_validate(
            {k: v for k, v in payload["diffusion"].items() if k != "window_stride"}
        )
        self.layout = Layout.from_dict(payload["layout"])
        self.norm = Normalizer.from_dict(payload["normalizer"])
        self.max_return = float(payload["spec"]["max_return"])
        self.fingerprint = str(payload["fingerprint"])
        d = self.dcfg
        self.denoiser = TemporalUNet(
            self.layout.channels, d.dim, tuple(d.dim_mults), d.kernel_size, d.groups, d.objective == "return"
        )
        self.denoiser.load_state_dict(payload["ema"] if use_ema else payload["model"])
        self.denoiser.eval()
        self.diffusion = GaussianDiffusion(
            d.n_diffusion_steps, d.beta_schedule, d.beta_start, d.beta_end, d.clip_denoised
        )

    def denoise_fn(self, guidance: float | None = None) -> Denoise:
        """The ``(x_k, k) -> x0`` the samplers call. objective = return: classifier-free guidance,
        ``x0(∅) + λ·(x0(R*) − x0(∅))`` with R* = ``return_target × max_return`` and λ = ``guidance``
        (default: the checkpoint's ``q_weight``; 0 = the unconditional model alone)."""
        if self.dcfg.objective != "return":
            return self.denoiser
        lam = self.dcfg.q_weight if guidance is None else guidance
        q = self.layout.qtot_channel
        span = max(float(self.norm.high[q] - self.norm.low[q]), 1e-6)
        target = 2.0 * (self.dcfg.return_target * self.max_return - float(self.norm.low[q])) / span - 1.0

        def guided(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
            if lam == 0:
                return self.denoiser(x, k)
            n = x.shape[0]
            cond = torch.full((2 * n,), target, device=x.device)
            drop = torch.arange(2 * n, device=x.device) < n
            uncond, conditional = self.denoiser(torch.cat([x, x]), torch.cat([k, k]), cond, drop).chunk(2)
            return uncond + lam * (conditional - uncond)

        return guided

    @torch.no_grad()
    def sample_normalized(
        self,
        n: int,
        sampler: str,
        steps: int,
        generator: torch.Generator,
        spacing: str = "trailing",
        guidance: float | None = None,
    ) -> torch.Tensor:
        """``[n, F, H]`` samples on the normalised scale (``spacing``: DDIM's timestep spacing;
        ``guidance``: the classifier-free guidance scale of a return-conditioned generator)."""
        shape = (n, self.layout.channels, self.layout.rows)
        denoise = self.denoise_fn(guidance)
        if sampler == "ddpm":
            return self.diffusion.sample_ddpm(denoise, shape, generator)
        return self.diffusion.sample_ddim(denoise, shape, generator, steps, spacing=spacing)

    def sample(
        self,
        n: int,
        sampler: str,
        steps: int,
        seed: int,
        batch_size: int,
        done_threshold: float = 0.5,
        spacing: str = "trailing",
        guidance: float | None = None,
    ) -> tuple[Decoded, np.ndarray]:
        """Sample ``n`` windows in batches and decode them; also return the raw-scale Q-total channel ``[n, H]``."""
        generator = torch.Generator().manual_seed(seed)
        parts = []
        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)
            parts.append(self.sample_normalized(size, sampler, steps, generator, spacing, guidance))
        x = self.norm.unnormalize(torch.cat(parts).numpy())
        if not np.isfinite(x).all():
            raise NonFiniteSampleError(
                f"augment: {int((~np.isfinite(x)).sum())} generated values are not finite (NaN/inf) — the generator "
                f"diverged or the guidance scale (diffusion.q_weight={self.dcfg.q_weight if guidance is None else guidance}) "
                "is too large"
            )
        decoded = decode(x, self.layout, self.norm, self.max_return, done_threshold)
        return decoded, x[:, self.layout.qtot_channel]
