"""Sampling a trained generator (plain torch): checkpoint -> normalised tensors -> decoded episodes."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rayeaq.generators.eaq.config import DiffusionConfig
from rayeaq.generators.eaq.layout import Decoded, Layout, Normalizer, decode
from rayeaq.generators.eaq.process import GaussianDiffusion
from rayeaq.generators.eaq.unet import TemporalUNet


class Generator:
    """A loaded generator: denoiser (EMA or raw weights), diffusion process, layout, normaliser."""

    def __init__(self, payload: dict[str, Any], use_ema: bool = True):
        self.dcfg = DiffusionConfig.model_validate(payload["diffusion"])
        self.layout = Layout.from_dict(payload["layout"])
        self.norm = Normalizer.from_dict(payload["normalizer"])
        self.max_return = float(payload["spec"]["max_return"])
        self.fingerprint = str(payload["fingerprint"])
        d = self.dcfg
        self.denoiser = TemporalUNet(self.layout.channels, d.dim, tuple(d.dim_mults), d.kernel_size, d.groups)
        self.denoiser.load_state_dict(payload["ema"] if use_ema else payload["model"])
        self.denoiser.eval()
        self.diffusion = GaussianDiffusion(
            d.n_diffusion_steps, d.beta_schedule, d.beta_start, d.beta_end, d.clip_denoised
        )

    @torch.no_grad()
    def sample_normalized(
        self, n: int, sampler: str, steps: int, generator: torch.Generator, spacing: str = "trailing"
    ) -> torch.Tensor:
        """``[n, F, H]`` samples on the normalised scale (``spacing``: DDIM's timestep spacing)."""
        shape = (n, self.layout.channels, self.layout.rows)
        if sampler == "ddpm":
            return self.diffusion.sample_ddpm(self.denoiser, shape, generator)
        return self.diffusion.sample_ddim(self.denoiser, shape, generator, steps, spacing=spacing)

    def sample(
        self,
        n: int,
        sampler: str,
        steps: int,
        seed: int,
        batch_size: int,
        done_threshold: float = 0.5,
        spacing: str = "trailing",
    ) -> tuple[Decoded, np.ndarray]:
        """Sample ``n`` windows in batches and decode them; also return the raw-scale Q-total channel ``[n, H]``."""
        generator = torch.Generator().manual_seed(seed)
        parts = []
        for start in range(0, n, batch_size):
            parts.append(self.sample_normalized(min(batch_size, n - start), sampler, steps, generator, spacing))
        x = self.norm.unnormalize(torch.cat(parts).numpy())
        decoded = decode(x, self.layout, self.norm, self.max_return, done_threshold)
        return decoded, x[:, self.layout.qtot_channel]
