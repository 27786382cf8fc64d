"""DOM2's networks: the residual-MLP noise network with a time embedding, and the twin per-agent critic.

Noise network (DOM2 Fig. 8, after SfBC/IDQL's MLP-ResNet): ``[a_tau, cond, emb(tau)] -> Linear(H)`` then
``n_blocks`` pre-norm residual blocks ``h + W2 act(W1 LayerNorm(h))`` (inner width 4H), ``act -> Linear(Da)``.
The time embedding is sinusoidal in ``tau / K`` followed by a two-layer MLP.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class TimeEmbedding(nn.Module):
    """``tau [B] long -> [B, dim]``: sinusoidal features of ``tau / n_timesteps`` and an MLP."""

    freqs: torch.Tensor  # registered buffer

    def __init__(self, dim: int, n_timesteps: int) -> None:
        super().__init__()
        self.n_timesteps = n_timesteps
        half = dim // 2
        self.register_buffer("freqs", torch.exp(-math.log(10_000.0) * torch.arange(half) / max(half - 1, 1)))
        self.mlp = nn.Sequential(nn.Linear(2 * half, 2 * dim), nn.Mish(), nn.Linear(2 * dim, dim))

    def forward(self, tau: torch.Tensor) -> torch.Tensor:
        """``tau [B]`` -> ``[B, dim]``."""
        x = (tau.float() / self.n_timesteps * 1000.0)[:, None] * self.freqs[None, :]
        return self.mlp(torch.cat([x.sin(), x.cos()], dim=-1))


class ResidualBlock(nn.Module):
    """``h [B, H] -> h + W2 act(W1 LayerNorm(h))`` with inner width ``4H`` and optional dropout."""

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(hidden),
            nn.Linear(hidden, 4 * hidden),
            nn.Mish(),
            nn.Dropout(dropout),
            nn.Linear(4 * hidden, hidden),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.net(h)


class ResidualNoiseNet(nn.Module):
    """``eps_theta(a_tau [B, Da], cond [B, Dc], tau [B]) -> [B, Da]``: the noise prediction of Eq. 3."""

    def __init__(
        self,
        action_dim: int,
        cond_dim: int,
        n_timesteps: int,
        hidden: int = 256,
        n_blocks: int = 3,
        time_dim: int = 32,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.time = TimeEmbedding(time_dim, n_timesteps)
        self.inp = nn.Linear(action_dim + cond_dim + time_dim, hidden)
        self.blocks = nn.Sequential(*[ResidualBlock(hidden, dropout) for _ in range(n_blocks)])
        self.out = nn.Sequential(nn.Mish(), nn.Linear(hidden, action_dim))

    def forward(self, a_tau: torch.Tensor, cond: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        h = self.inp(torch.cat([a_tau, cond, self.time(tau)], dim=-1))
        return self.out(self.blocks(h))


def mlp(inp: int, hidden: int, out: int, layers: int = 2) -> nn.Sequential:
    """``layers`` hidden ReLU layers of width ``hidden`` (OMAR's MLPNetwork has 2)."""
    mods: list[nn.Module] = []
    width = inp
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    mods.append(nn.Linear(width, out))
    return nn.Sequential(*mods)


class TwinCritic(nn.Module):
    """``Q^1, Q^2 (o [..., Do], a [..., Da]) -> ([...], [...])``: two independent MLP heads (double Q)."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: int = 64, layers: int = 2) -> None:
        super().__init__()
        self.q1 = mlp(obs_dim + action_dim, hidden, 1, layers)
        self.q2 = mlp(obs_dim + action_dim, hidden, 1, layers)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([obs, action], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)
