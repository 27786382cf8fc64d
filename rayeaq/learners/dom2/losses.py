"""DOM2's losses (papers/003 Eq. 1, 3, 5) for one agent j (``ResidualNoiseNet``, ``TwinCritic``; shapes ``[B, ...]``)
or every agent stacked (``StackedNoiseNet``, ``StackedTwinCritic``; ``[N, B, ...]``). Do obs, Da action dims."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from rayeaq.learners.dom2.solver import VPSchedule


def denoising_loss(
    net: nn.Module,
    schedule: VPSchedule,
    obs: torch.Tensor,
    action: torch.Tensor,
    generator: torch.Generator | None,
    on_grid: bool = True,
) -> torch.Tensor:
    """L_bc (Eq. 3): ``E ||eps - eps_theta(alpha_tau a + sigma_tau eps, o, tau)||^2``; ``obs [..., B, Do]``,
    ``action [..., B, Da]`` -> scalar (mean over every leading, batch and action dim)."""
    tau = schedule.sample_train_tau(tuple(action.shape[:-1]), generator, on_grid, action.device)
    noise = torch.randn(action.shape, generator=generator).to(action.device)
    pred = net(schedule.add_noise(action, tau, noise), obs, tau)
    return (pred - noise).pow(2).mean()


def sample_actions(
    net: nn.Module,
    schedule: VPSchedule,
    obs: torch.Tensor,
    action_dim: int,
    generator: torch.Generator | None,
    clip: float | None = 1.0,
) -> torch.Tensor:
    """a^{tau_0} ~ pi_theta(. | o) by DPM-Solver-1 (Eq. 4): ``obs [..., Do]`` -> ``[..., Da]``, differentiable."""
    noise = torch.randn((*obs.shape[:-1], action_dim), generator=generator).to(obs.device)
    return schedule.sample(lambda a, t: net(a, obs, t), noise, clip)


def cql_term(
    critic_head: torch.nn.Module, obs: torch.Tensor, action: torch.Tensor, random_actions: torch.Tensor, temp: float
) -> torch.Tensor:
    """OMAR's MPE CQL term for one Q head (the second term of Eq. 1, with importance weights of the uniform
    proposal): ``mean_b[temp * logsumexp_m((Q(o_b, a~_bm) - log 0.5^Da) / temp) - Q(o_b, a_b)]``.

    ``obs [..., B,Do]``, ``action [..., B,Da]``, ``random_actions [..., B,M,Da]`` uniform in [-1,1] -> scalar
    (the mean over every leading and batch dim; a stacked head sees ``[N, B*M, D]``).
    """
    *lead, m, da = random_actions.shape
    obs_rep = obs.unsqueeze(-2).expand(*lead, m, obs.shape[-1])
    x = torch.cat([obs_rep, random_actions], dim=-1)
    q_rand = critic_head(x.flatten(-3, -2) if x.dim() > 3 else x).reshape(*lead, m)  # [..., B, M]
    log_pi = da * math.log(0.5)
    lse = torch.logsumexp((q_rand - log_pi) / temp, dim=-1) * temp
    q_data = critic_head(torch.cat([obs, action], dim=-1)).squeeze(-1)
    return (lse - q_data).mean()


def td_target(
    target_critic: nn.Module,
    next_obs: torch.Tensor,
    next_action: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """``r + gamma (1 - done) min_k Qbar^k(o', pibar(o'))`` (Eq. 1): ``[B]``, no gradient."""
    with torch.no_grad():
        q1, q2 = target_critic(next_obs, next_action)
        return reward + gamma * (1.0 - done.float()) * torch.min(q1, q2)


def critic_loss(
    critic: Any,
    obs: torch.Tensor,
    action: torch.Tensor,
    target: torch.Tensor,
    random_actions: torch.Tensor,
    cql_weight: float,
    cql_temp: float,
) -> tuple[torch.Tensor, dict]:
    """Eq. 1 for both heads: ``MSE(Q^1, y) + MSE(Q^2, y) + zeta (cql^1 + cql^2)`` -> (scalar, metrics)."""
    q1, q2 = critic(obs, action)
    td = (q1 - target).pow(2).mean() + (q2 - target).pow(2).mean()
    loss = td
    cql = torch.zeros(())
    if cql_weight > 0:
        cql = cql_term(critic.q1, obs, action, random_actions, cql_temp) + cql_term(
            critic.q2, obs, action, random_actions, cql_temp
        )
        loss = loss + cql_weight * cql
    return loss, {"td_loss": float(td.detach()), "cql_term": float(cql.detach()), "q_data": float(q1.detach().mean())}


def policy_loss(bc: torch.Tensor, q_policy: torch.Tensor, q_data: torch.Tensor, eta: float) -> torch.Tensor:
    """Eq. 5: ``L_bc - eta~ E[Q(o, a^{tau_0})]`` with ``eta~ = eta / E|Q(o, a)|`` over the data (detached; over
    the last, batch dim, so per agent for stacked ``[N, B]`` Q-values).

    The text writes ``E[Q]``; its absolute value is used so that negative Q-values (MPE's collision penalties)
    cannot flip the sign of the improvement term (as Diffusion-QL and TD3+BC do).
    """
    if eta == 0.0:
        return bc
    scale = eta / q_data.detach().abs().mean(-1, keepdim=True).clamp_min(1e-6)  # per agent when stacked [N, B]
    return bc - (scale * q_policy).mean()
