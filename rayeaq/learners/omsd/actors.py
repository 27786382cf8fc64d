"""Stage 2: deterministic per-agent actors pi_i(o_i), updated round-robin against the joint critic and the
sequential behaviour score; decentralised execution (one forward pass per agent).

Round-robin (agent order 0..N-1, the order the score models were trained in): agent i maximises
``Q(s, [pi_<i(o) (already updated this round), pi_i(o_i), pi_>i(o) (current)]) / E|Q|`` minus ``1/beta`` times
the behaviour surrogate of eps_i given the updated prefix ``pi_<i``. Shapes: ``obs [B,N,Do]``, ``state [B,Ds]``.
"""

from __future__ import annotations

import torch
from torch import nn

from rayeaq.learners.dom2.networks import ResidualNoiseNet, mlp
from rayeaq.learners.dom2.solver import VPSchedule
from rayeaq.learners.omsd.iql import IQLCritic
from rayeaq.learners.omsd.score import condition, score_surrogate


class DeterministicActor(nn.Module):
    """``pi_i(o_i [B,Do]) -> [B,Da]`` in (-1, 1): two hidden ReLU layers and a tanh."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = mlp(obs_dim, hidden, action_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs))


def joint_actions(actors: list[DeterministicActor], obs: torch.Tensor) -> torch.Tensor:
    """Decentralised execution: ``obs [B,N,Do]`` -> ``[B,N,Da]``, actor i sees only ``obs[:, i]``."""
    return torch.stack([actor(obs[:, i]) for i, actor in enumerate(actors)], dim=1)


def round_robin_step(
    actors: list[DeterministicActor],
    opts: list[torch.optim.Optimizer],
    critic: IQLCritic | None,
    scores: list[ResidualNoiseNet],
    schedule: VPSchedule,
    batch: dict[str, torch.Tensor],
    beta: float,
    sequential: bool,
    t_min: float,
    t_max: float,
    samples: int,
    generator: torch.Generator | None,
) -> dict[str, float]:
    """One round: every actor once, in order, each seeing the prefix its predecessors just moved to.

    ``critic=None`` drops the Q term (pure behaviour regularisation, used to isolate the score's effect).
    """
    obs, state = batch["obs"], batch["state"]
    with torch.no_grad():
        current = joint_actions(actors, obs)  # [B, N, Da]
    q_mean, reg_mean = 0.0, 0.0
    for i, (actor, opt) in enumerate(zip(actors, opts, strict=True)):
        a_i = actor(obs[:, i])
        joint = torch.cat([current[:, :i], a_i[:, None], current[:, i + 1 :]], dim=1)
        loss = torch.zeros(())
        if critic is not None:
            q = critic.q_min(state, joint.flatten(1))
            loss = -q.mean() / q.detach().abs().mean().clamp_min(1e-6)
            q_mean += float(q.detach().mean()) / len(actors)
        cond = condition(state, current, i, sequential)
        reg = score_surrogate(scores[i], schedule, cond, a_i, generator, t_min, t_max, samples)
        loss = loss + reg / beta
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            current[:, i] = actor(obs[:, i])  # the updated prefix for agent i + 1
        reg_mean += float(reg.detach()) / len(actors)
    return {"actor_q": q_mean, "actor_reg": reg_mean}
