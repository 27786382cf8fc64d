"""The denoiser network: a Conv1D temporal U-Net over ``x [batch, channels F, horizon H]``.

Residual temporal blocks (Conv1d -> GroupNorm -> Mish, twice, with the diffusion-step embedding added
in between), strided-conv down-sampling and transposed-conv up-sampling with skip connections. The
horizon is padded (replicating the last row) to a multiple of ``2 ** (levels - 1)`` and cropped back.
The network only maps ``(x_k, k) -> prediction``; the noising math lives in ``process.py``.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F


class SinusoidalEmbedding(nn.Module):
    """``k [B]`` (integer steps) -> ``[B, dim]`` sinusoidal features."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, k: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(
            -math.log(10000.0) * torch.arange(half, device=k.device, dtype=torch.float32) / max(half - 1, 1)
        )
        args = k.float()[:, None] * freqs[None, :]
        return torch.cat([args.sin(), args.cos()], dim=-1)


class ConvBlock(nn.Sequential):
    """``[B, C_in, H] -> [B, C_out, H]``: Conv1d, GroupNorm, Mish."""

    def __init__(self, c_in: int, c_out: int, kernel: int, groups: int):
        super().__init__(nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2), nn.GroupNorm(groups, c_out), nn.Mish())


class ResidualTemporalBlock(nn.Module):
    """``x [B, C_in, H], emb [B, E] -> [B, C_out, H]`` with a 1x1 residual projection."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, kernel: int, groups: int):
        super().__init__()
        self.block1 = ConvBlock(c_in, c_out, kernel, groups)
        self.block2 = ConvBlock(c_out, c_out, kernel, groups)
        self.emb = nn.Sequential(nn.Mish(), nn.Linear(emb_dim, c_out))
        self.residual = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.block1(x) + self.emb(emb)[:, :, None]
        out: torch.Tensor = self.block2(h) + self.residual(x)
        return out


class TemporalUNet(nn.Module):
    """Conv1D U-Net: ``forward(x [B, F, H], k [B]) -> [B, F, H]`` (predicts the clean trajectory τ0).

    ``conditioned``: the step embedding also carries a scalar condition ``cond [B]`` (or a learned null
    embedding), as Decision Diffuser conditions on the return. ``dim_mults`` gives the channel multiplier of each level (``dim * m``); every level but the last
    halves the horizon.
    """

    def __init__(
        self,
        channels: int,
        dim: int = 32,
        dim_mults: tuple[int, ...] = (1, 2, 4),
        kernel: int = 5,
        groups: int = 8,
        conditioned: bool = False,
    ):
        super().__init__()
        widths = [dim * m for m in dim_mults]
        emb_dim = dim * 4
        self.levels = len(widths)
        self.step_emb = nn.Sequential(
            SinusoidalEmbedding(dim), nn.Linear(dim, emb_dim), nn.Mish(), nn.Linear(emb_dim, emb_dim)
        )
        self.conditioned = conditioned
        if conditioned:  # a scalar condition (the normalised return) added to the step embedding
            self.cond_emb = nn.Sequential(nn.Linear(1, emb_dim), nn.Mish(), nn.Linear(emb_dim, emb_dim))
            self.null_emb = nn.Parameter(torch.zeros(emb_dim))
        self.inp = nn.Conv1d(channels, dim, 1)
        self.downs = nn.ModuleList()
        c_prev = dim
        for i, w in enumerate(widths):
            last = i == len(widths) - 1
            self.downs.append(
                nn.ModuleList(
                    [
                        ResidualTemporalBlock(c_prev, w, emb_dim, kernel, groups),
                        ResidualTemporalBlock(w, w, emb_dim, kernel, groups),
                        nn.Conv1d(w, w, 3, stride=2, padding=1) if not last else nn.Identity(),
                    ]
                )
            )
            c_prev = w
        self.mid1 = ResidualTemporalBlock(c_prev, c_prev, emb_dim, kernel, groups)
        self.mid2 = ResidualTemporalBlock(c_prev, c_prev, emb_dim, kernel, groups)
        self.ups = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths[:-1]))):
            self.ups.append(
                nn.ModuleList(
                    [
                        ResidualTemporalBlock(c_prev + widths[i + 1], w, emb_dim, kernel, groups),
                        ResidualTemporalBlock(w, w, emb_dim, kernel, groups),
                        nn.ConvTranspose1d(w, w, 4, stride=2, padding=1),
                    ]
                )
            )
            c_prev = w
        self.out = nn.Sequential(ConvBlock(c_prev + widths[0], dim, kernel, groups), nn.Conv1d(dim, channels, 1))

    @property
    def multiple(self) -> int:
        """The padded horizon must be a multiple of this."""
        return 1 << (self.levels - 1)

    def forward(
        self, x: torch.Tensor, k: torch.Tensor, cond: torch.Tensor | None = None, drop: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``cond [B]`` the condition (conditioned networks; None = unconditional); ``drop [B]`` bool: rows
        that get the learned "no condition" embedding instead (classifier-free guidance)."""
        h_in = x.shape[-1]
        pad = (-h_in) % self.multiple
        if pad:
            x = F.pad(x, (0, pad), mode="replicate")
        emb = self.step_emb(k)
        if self.conditioned:
            null = self.null_emb.expand_as(emb)
            if cond is None:
                emb = emb + null
            else:
                c = self.cond_emb(cond.float()[:, None])
                emb = emb + (torch.where(drop[:, None], null, c) if drop is not None else c)
        h = self.inp(x)
        skips = []
        for level in self.downs:
            block1, block2, down = cast(nn.ModuleList, level)
            h = block2(block1(h, emb), emb)
            skips.append(h)
            h = down(h)
        h = self.mid2(self.mid1(h, emb), emb)
        skip_iter = iter(reversed(skips[:-1]))
        h = torch.cat([h, skips[-1]], dim=1) if self.levels > 1 else h
        for level in self.ups:
            block1, block2, up = cast(nn.ModuleList, level)
            h = up(block2(block1(h, emb), emb))
            h = torch.cat([h, next(skip_iter)], dim=1)
        if self.levels == 1:
            h = torch.cat([h, skips[0]], dim=1)
        out: torch.Tensor = self.out(h)[..., :h_in]
        return out
