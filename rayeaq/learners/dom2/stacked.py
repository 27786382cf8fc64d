"""DOM2's per-agent networks stacked into one module: every agent's noise network (and twin critic) evaluated
by one batched matmul per layer (``torch.baddbmm`` over weights ``[N, d_in, d_out]``), no parameter sharing.

Same architecture and initialisation as :class:`~rayeaq.learners.dom2.networks.ResidualNoiseNet` and
:class:`~rayeaq.learners.dom2.networks.TwinCritic` per agent (:meth:`StackedNoiseNet.load_agents` copies N
unstacked networks in; tested equal). Shapes: ``N`` agents first, then the batch: ``[N, B, ...]``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rayeaq.learners.dom2.networks import ResidualNoiseNet, TwinCritic
from rayeaq.learners.td3bc.networks import StackedLinear, StackedMLP


def _linear_from(stacked: Any, layers: list[Any]) -> None:
    """Copy ``nn.Linear`` layers (one per agent) into a :class:`StackedLinear` (weights transposed)."""
    with torch.no_grad():
        stacked.weight.copy_(torch.stack([lin.weight.T for lin in layers]))
        stacked.bias.copy_(torch.stack([lin.bias[None, :] for lin in layers]))


class StackedLayerNorm(nn.Module):
    """LayerNorm over the last dim with a per-agent affine ``[N, 1, H]``."""

    def __init__(self, n: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n, 1, dim))
        self.bias = nn.Parameter(torch.zeros(n, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:]) * self.weight + self.bias


class StackedNoiseNet(nn.Module):
    """``eps(a_tau [N,B,Da], cond [N,B,Dc], tau [N,B]) -> [N,B,Da]``: N residual noise networks (DOM2 Fig. 8)."""

    freqs: torch.Tensor  # registered buffer

    def __init__(
        self, n: int, action_dim: int, cond_dim: int, n_timesteps: int, hidden: int, n_blocks: int, time_dim: int = 32
    ) -> None:
        super().__init__()
        self.n_timesteps = n_timesteps
        half = time_dim // 2
        self.register_buffer("freqs", torch.exp(-math.log(10_000.0) * torch.arange(half) / max(half - 1, 1)))
        self.time1 = StackedLinear(n, 2 * half, 2 * time_dim)
        self.time2 = StackedLinear(n, 2 * time_dim, time_dim)
        self.inp = StackedLinear(n, action_dim + cond_dim + time_dim, hidden)
        self.norms = nn.ModuleList(StackedLayerNorm(n, hidden) for _ in range(n_blocks))
        self.up = nn.ModuleList(StackedLinear(n, hidden, 4 * hidden) for _ in range(n_blocks))
        self.down = nn.ModuleList(StackedLinear(n, 4 * hidden, hidden) for _ in range(n_blocks))
        self.out = StackedLinear(n, hidden, action_dim)

    def forward(self, a_tau: torch.Tensor, cond: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        x = (tau.float() / self.n_timesteps * 1000.0)[..., None] * self.freqs
        t = self.time2(F.mish(self.time1(torch.cat([x.sin(), x.cos()], dim=-1))))
        h = self.inp(torch.cat([a_tau, cond, t], dim=-1))
        for norm, up, down in zip(self.norms, self.up, self.down, strict=True):
            h = h + down(F.mish(up(norm(h))))
        return self.out(F.mish(h))

    def load_agents(self, nets: list[ResidualNoiseNet]) -> None:
        """Copy N unstacked networks (same sizes, no dropout) into the stack, agent ``j`` into slice ``j``."""
        nets_: list[Any] = list(nets)
        _linear_from(self.time1, [m.time.mlp[0] for m in nets_])
        _linear_from(self.time2, [m.time.mlp[2] for m in nets_])
        _linear_from(self.inp, [m.inp for m in nets_])
        norm: Any
        for k, (norm, up, down) in enumerate(zip(self.norms, self.up, self.down, strict=True)):
            blocks: list[Any] = [m.blocks[k].net for m in nets_]
            with torch.no_grad():
                norm.weight.copy_(torch.stack([b[0].weight[None, :] for b in blocks]))
                norm.bias.copy_(torch.stack([b[0].bias[None, :] for b in blocks]))
            _linear_from(up, [b[1] for b in blocks])
            _linear_from(down, [b[4] for b in blocks])
        _linear_from(self.out, [m.out[1] for m in nets_])


class StackedTwinCritic(nn.Module):
    """``Q^1, Q^2 (o [N,B,Do], a [N,B,Da]) -> ([N,B], [N,B])``: every agent's double-Q heads (OMAR's MLPs)."""

    def __init__(self, n: int, obs_dim: int, action_dim: int, hidden: int) -> None:
        super().__init__()
        self.q1 = StackedMLP(n, obs_dim + action_dim, hidden, 1)
        self.q2 = StackedMLP(n, obs_dim + action_dim, hidden, 1)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([obs, action], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)

    def load_agents(self, critics: list[TwinCritic]) -> None:
        """Copy N unstacked twin critics into the stack."""
        heads: list[Any]
        for stacked, heads in ((self.q1, [c.q1 for c in critics]), (self.q2, [c.q2 for c in critics])):
            for k, layer in enumerate(stacked.layers):
                _linear_from(layer, [h[2 * k] for h in heads])


def clip_per_agent(params: list[nn.Parameter], max_norm: float) -> torch.Tensor:
    """Each agent's gradient (slice ``j`` of every stacked parameter) clipped to global norm ``max_norm`` on its
    own, as N separate ``clip_grad_norm_`` calls would -> the agents' norms ``[N]`` before clipping."""
    grads = [p.grad for p in params if p.grad is not None]
    norms = torch.stack([g.pow(2).flatten(1).sum(1) for g in grads]).sum(0).sqrt()  # [N]
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))
    return norms
