"""Stage 1a: the centralised IQL critic (Kostrikov et al. 2021): Q(s, a) twin heads and V(s) by expectile loss.

Shapes: ``state [B,Ds]``, joint action ``a [B, N*Da]`` (agents' actions concatenated in agent order).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from rayeaq.learners.dom2.learner import soft_update
from rayeaq.learners.dom2.networks import TwinCritic, mlp


def expectile_loss(diff: torch.Tensor, expectile: float) -> torch.Tensor:
    """IQL's L_2^tau: ``mean(|tau - 1(diff < 0)| diff^2)`` with ``diff = Q(s,a) - V(s)`` -> scalar."""
    weight = (expectile - (diff < 0).to(diff.dtype)).abs()
    return (weight * diff.pow(2)).mean()


class IQLCritic(nn.Module):
    """Q^{1,2}(s, a) (TwinCritic over the state and the joint action), V(s), and a target copy of Q."""

    def __init__(self, state_dim: int, joint_action_dim: int, hidden: int) -> None:
        super().__init__()
        self.q = TwinCritic(state_dim, joint_action_dim, hidden)
        self.v = mlp(state_dim, hidden, 1)
        self.target_q = copy.deepcopy(self.q).requires_grad_(False)

    def q_min(self, state: torch.Tensor, joint_action: torch.Tensor, target: bool = False) -> torch.Tensor:
        """``min(Q^1, Q^2)(s, a)`` -> ``[B]`` (of the target copy when ``target``)."""
        q1, q2 = (self.target_q if target else self.q)(state, joint_action)
        return torch.min(q1, q2)

    def value(self, state: torch.Tensor) -> torch.Tensor:
        """``V(s)`` -> ``[B]``."""
        return self.v(state).squeeze(-1)


def iql_losses(
    critic: IQLCritic, batch: dict[str, torch.Tensor], gamma: float, expectile: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L_V, L_Q)``: ``L_V = L_2^tau(min Qbar(s,a) - V(s))``, ``L_Q = sum_k MSE(Q^k(s,a), r + gamma(1-d)V(s'))``."""
    s, a = batch["state"], batch["actions"].flatten(1)
    with torch.no_grad():
        q_t = critic.q_min(s, a, target=True)
        y = batch["reward"] + gamma * (1.0 - batch["done"].float()) * critic.value(batch["next_state"])
    v_loss = expectile_loss(q_t - critic.value(s), expectile)
    q1, q2 = critic.q(s, a)
    q_loss = (q1 - y).pow(2).mean() + (q2 - y).pow(2).mean()
    return v_loss, q_loss


def iql_step(
    critic: IQLCritic,
    opt: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    gamma: float,
    expectile: float,
    target_tau: float,
) -> dict[str, float]:
    """One IQL update of V and Q (one optimizer over both) and the soft target update."""
    v_loss, q_loss = iql_losses(critic, batch, gamma, expectile)
    opt.zero_grad()
    (v_loss + q_loss).backward()
    opt.step()
    soft_update(critic.target_q, critic.q, target_tau)
    return {"v_loss": float(v_loss.detach()), "q_loss": float(q_loss.detach())}
