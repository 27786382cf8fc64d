"""MA-CQL losses for box actions (Kumar et al. 2020 with sampled actions, per agent as in OMAR), pure torch.

Critic of agent ``i``, twin ``j`` (OMAR's ``MATD3.update`` with ``cql=True`` on the particle environments):
``y_i = r_i + γ (1 − done) min_j Q'_j,i(o'_i, π'_i(o'_i))`` (no target smoothing) and

    L_j,i = mean (Q_j,i(o_i, a_i) − y_i)² + α · mean[ τ log Σ_k exp((Q_j,i(o_i, u_k) − log μ(u_k)) / τ) − Q_j,i(o_i, a_i) ]

with ``K`` actions ``u_k ~ U[−1, 1]^Da`` of density ``μ = 2^−Da``: the log-sum-exp is a soft maximum over the
action box, so the term pushes Q down away from the data and up on the data's actions. Actor (every update):
``−mean Q1_i(o_i, π_i(o_i)) + reg · mean π_i(o_i)²``. All summed over agents; actions scaled to [−1, 1].
"""

from __future__ import annotations

import math

import torch

from rayeaq.learners.td3bc.networks import TD3Networks


def conservative_gap(
    nets: TD3Networks, o: torch.Tensor, q_data: tuple[torch.Tensor, torch.Tensor], temperature: float, samples: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per twin ``[N]``: mean over the batch of ``τ·logsumexp((Q(o, u_k) − log μ)/τ) − Q(o, a)``.

    ``o [N, B, Do]`` normalised observations, ``q_data`` the twins' ``[N, B]`` values of the data's actions."""
    n, b, _ = o.shape
    da = nets.spec.action_dim
    u = torch.rand(n, b * samples, da, device=o.device) * 2.0 - 1.0
    o_rep = o.repeat_interleave(samples, dim=1)  # [N, B*K, Do], state b's samples adjacent
    log_density = -da * math.log(2.0)
    gaps = []
    for q_sampled, q_seen in zip(nets.q(o_rep, u), q_data, strict=True):
        soft_max = temperature * torch.logsumexp((q_sampled.view(n, b, samples) - log_density) / temperature, dim=-1)
        gaps.append((soft_max - q_seen).mean(1))
    return gaps[0], gaps[1]


def critic_loss(
    nets: TD3Networks, batch: dict[str, torch.Tensor], gamma: float, alpha: float, temperature: float, samples: int
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Batch: obs/next_obs ``[B, N, Do]``, actions ``[B, N, Da]`` (box), reward ``[B, N]``, done ``[B]``."""
    o, o2 = nets.norm_obs(batch["obs"]), nets.norm_obs(batch["next_obs"])
    a = nets.to_unit(batch["actions"])
    with torch.no_grad():
        t1, t2 = nets.q(o2, nets.pi(o2, target=True), target=True)
        not_done = 1.0 - batch["done"].float()[None, :]
        y = batch["reward"].transpose(0, 1) + gamma * not_done * torch.minimum(t1, t2)  # [N, B]
    q1, q2 = nets.q(o, a)
    td = ((q1 - y) ** 2).mean(1) + ((q2 - y) ** 2).mean(1)  # [N]
    gap1, gap2 = conservative_gap(nets, o, (q1, q2), temperature, samples) if alpha > 0 else (td * 0, td * 0)
    loss = (td + alpha * (gap1 + gap2)).sum()
    stats = {
        "critic_loss": loss.detach(),
        "td_loss": td.detach().sum(),
        "cql_gap": gap1.detach().mean(),
        "q_mean": q1.detach().mean(),
        "target_mean": y.mean(),
    }
    return loss, stats


def actor_loss(nets: TD3Networks, batch: dict[str, torch.Tensor], reg: float) -> tuple[torch.Tensor, dict]:
    """OMAR's MA-CQL actor loss ``−Q1(o, π(o)) + reg·π²``, summed over agents (critics detached)."""
    o = nets.norm_obs(batch["obs"])
    pi = nets.pi(o)
    q1, _ = nets.q(o, pi, detach=True)  # [N, B]
    loss = (-q1.mean(1) + reg * (pi**2).mean((1, 2))).sum()
    a = nets.to_unit(batch["actions"])
    return loss, {"actor_loss": loss.detach(), "bc_mse": ((pi - a) ** 2).sum(-1).detach().mean()}
