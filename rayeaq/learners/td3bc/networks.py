"""Per-agent networks stacked into one module: one batched matmul per layer for all agents (pure torch).

Shapes: ``B`` batch, ``N`` agents, ``Do`` observation, ``Da`` action dims. Agents do not share parameters
(independent TD3 with decentralised actors and critics, as OMAR and DOM2): layer ``k`` holds weights
``[N, d_in, d_out]`` applied with ``torch.baddbmm`` to inputs laid out ``[N, B, d_in]``.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn


class StackedLinear(nn.Module):
    """``N`` independent linear layers: ``x [N, B, d_in] -> [N, B, d_out]`` in one ``baddbmm``."""

    def __init__(self, n: int, d_in: int, d_out: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(d_in)  # torch.nn.Linear's default init, per agent
        self.weight = nn.Parameter(torch.empty(n, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n, 1, d_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, detach: bool = False) -> torch.Tensor:
        w, b = (self.weight.detach(), self.bias.detach()) if detach else (self.weight, self.bias)
        return torch.baddbmm(b, x, w)


class StackedMLP(nn.Module):
    """ReLU MLP per agent: ``[N, B, d_in] -> [N, B, d_out]`` (``layers`` hidden layers of ``hidden``)."""

    def __init__(self, n: int, d_in: int, hidden: int, d_out: int, layers: int = 2) -> None:
        super().__init__()
        dims = [d_in] + [hidden] * layers + [d_out]
        self.layers = nn.ModuleList(StackedLinear(n, a, b) for a, b in itertools.pairwise(dims))

    def forward(self, x: torch.Tensor, detach: bool = False) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x, detach=detach)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


@dataclass(frozen=True)
class NetSpec:
    """Sizes of the stacked actor and twin critics."""

    n_agents: int
    obs_dim: int
    action_dim: int
    action_low: float
    action_high: float
    hidden_dim: int = 256

    def to_dict(self) -> dict:
        return asdict(self)


class TD3Networks(nn.Module):
    obs_mean: torch.Tensor  # registered buffers
    obs_std: torch.Tensor
    """Actor ``π_i(o_i)`` and twin critics ``Q1_i, Q2_i(o_i, a_i)`` per agent, their targets, and the
    observation normaliser (fitted on the data; TD3+BC's state normalisation). Actions inside the networks
    are scaled to [−1, 1]; :meth:`act` returns them in the environment's box."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.spec = spec
        n, do, da, h = spec.n_agents, spec.obs_dim, spec.action_dim, spec.hidden_dim
        self.actor = StackedMLP(n, do, h, da)
        self.q1 = StackedMLP(n, do + da, h, 1)
        self.q2 = StackedMLP(n, do + da, h, 1)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.q1_target = copy.deepcopy(self.q1).requires_grad_(False)
        self.q2_target = copy.deepcopy(self.q2).requires_grad_(False)
        self.register_buffer("obs_mean", torch.zeros(n, 1, do))
        self.register_buffer("obs_std", torch.ones(n, 1, do))

    # ---- layout helpers ([B, N, ...] <-> [N, B, ...]) ---------------------------------------------
    def norm_obs(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs [B, N, Do]`` -> normalised ``[N, B, Do]``."""
        return (obs.transpose(0, 1) - self.obs_mean) / self.obs_std

    def to_unit(self, actions: torch.Tensor) -> torch.Tensor:
        """Box actions ``[B, N, Da]`` -> ``[N, B, Da]`` in [−1, 1]."""
        lo, hi = self.spec.action_low, self.spec.action_high
        return (2.0 * (actions - lo) / (hi - lo) - 1.0).transpose(0, 1)

    def from_unit(self, unit: torch.Tensor) -> torch.Tensor:
        """``[N, B, Da]`` in [−1, 1] -> box actions ``[B, N, Da]``."""
        lo, hi = self.spec.action_low, self.spec.action_high
        return (lo + (unit.clamp(-1, 1) + 1.0) * 0.5 * (hi - lo)).transpose(0, 1)

    # ---- forward pieces --------------------------------------------------------------------------
    def pi(self, o: torch.Tensor, target: bool = False) -> torch.Tensor:
        """Normalised ``o [N, B, Do]`` -> actions in [−1, 1] ``[N, B, Da]``."""
        return torch.tanh((self.actor_target if target else self.actor)(o))

    def q(self, o: torch.Tensor, a: torch.Tensor, target: bool = False, detach: bool = False):
        """(Q1, Q2) ``[N, B]`` of normalised ``o [N, B, Do]`` and unit actions ``a [N, B, Da]``."""
        x = torch.cat([o, a], dim=-1)
        q1, q2 = (self.q1_target, self.q2_target) if target else (self.q1, self.q2)
        return q1(x, detach=detach)[..., 0], q2(x, detach=detach)[..., 0]

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """Greedy decentralised actions: ``obs [B, N, Do]`` -> ``[B, N, Da]`` in the box."""
        return self.from_unit(self.pi(self.norm_obs(obs)))

    @torch.no_grad()
    def fit_obs_normaliser(self, obs: torch.Tensor) -> None:
        """Per-agent mean/std of observations ``[M, N, Do]`` (std floored at 1e-3)."""
        self.obs_mean.copy_(obs.mean(0)[:, None, :])
        self.obs_std.copy_(obs.std(0).clamp_min(1e-3)[:, None, :])

    @torch.no_grad()
    def update_targets(self, tau: float) -> None:
        """Polyak averaging ``θ' ← τ θ + (1 − τ) θ'`` of actor and critics."""
        for online, target in ((self.actor, self.actor_target), (self.q1, self.q1_target), (self.q2, self.q2_target)):
            for p, tp in zip(online.parameters(), target.parameters(), strict=True):
                tp.mul_(1.0 - tau).add_(p, alpha=tau)
