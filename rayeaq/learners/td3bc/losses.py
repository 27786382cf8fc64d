"""MA-TD3+BC losses (Fujimoto & Gu 2021, per agent as in OMAR's independent TD3), pure torch.

Critic: ``y_i = r_i + γ (1 − done) min_j Q'_j,i(o'_i, clip(π'_i(o'_i) + clip(ε, −c, c), −1, 1))`` with
``ε ~ N(0, σ²)``; loss ``Σ_j mean (Q_j,i(o_i, a_i) − y_i)²`` summed over agents.
Actor (every ``policy_freq`` updates): ``−λ_i mean Q1_i(o_i, π_i(o_i)) + mean (π_i(o_i) − a_i)²`` with
``λ_i = α / mean |Q1_i|`` (detached), the critic's parameters detached so only the actor moves.
"""

from __future__ import annotations

import torch

from rayeaq.learners.td3bc.networks import TD3Networks


def critic_loss(
    nets: TD3Networks, batch: dict[str, torch.Tensor], gamma: float, policy_noise: float, noise_clip: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Batch: obs/next_obs ``[B, N, Do]``, actions ``[B, N, Da]`` (box), reward ``[B, N]``, done ``[B]``."""
    o, o2 = nets.norm_obs(batch["obs"]), nets.norm_obs(batch["next_obs"])
    a = nets.to_unit(batch["actions"])
    with torch.no_grad():
        a2 = nets.pi(o2, target=True)
        noise = (torch.randn_like(a2) * policy_noise).clamp(-noise_clip, noise_clip)
        t1, t2 = nets.q(o2, (a2 + noise).clamp(-1.0, 1.0), target=True)
        not_done = 1.0 - batch["done"].float()[None, :]
        y = batch["reward"].transpose(0, 1) + gamma * not_done * torch.minimum(t1, t2)  # [N, B]
    q1, q2 = nets.q(o, a)
    loss = ((q1 - y) ** 2).mean(1).sum() + ((q2 - y) ** 2).mean(1).sum()
    return loss, {"critic_loss": loss.detach(), "q_mean": q1.detach().mean(), "target_mean": y.mean()}


def actor_loss(nets: TD3Networks, batch: dict[str, torch.Tensor], alpha: float) -> tuple[torch.Tensor, dict]:
    """TD3+BC's actor loss, summed over agents (per-agent λ)."""
    o = nets.norm_obs(batch["obs"])
    a = nets.to_unit(batch["actions"])
    pi = nets.pi(o)
    q1, _ = nets.q(o, pi, detach=True)  # [N, B]
    lam = alpha / q1.abs().mean(1, keepdim=True).detach().clamp_min(1e-6)
    bc = ((pi - a) ** 2).sum(-1)  # [N, B]
    loss = (-lam * q1 + bc).mean(1).sum()
    return loss, {"actor_loss": loss.detach(), "bc_mse": bc.detach().mean(), "lambda": lam.detach().mean()}
