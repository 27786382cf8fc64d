"""The "combinatorial mode shift" on a two-agent coordination bandit: the data hold the joint modes (1, 1) and
(-1, -1) only, half each. Regularising each actor towards its own behaviour marginal (both bimodal) lets the two
agents settle in different modes, a joint action the data never show; the sequential decomposition conditions
agent 2's score on agent 1's updated action and picks a matched joint mode.

The bandit has one (constant) state: an actor that is a continuous function of a varying state would have to pass
between the modes somewhere in state space, which would blur the count. An "evaluation" is one independently
initialised pair of actors (48 of them, trained side by side as an ensemble of disjoint networks). Both arms share
the IQL critic and agent 1's score model.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rayeaq.learners.dom2.solver import VPSchedule
from rayeaq.learners.omsd.actors import round_robin_step
from rayeaq.learners.omsd.config import OmsdConfig
from rayeaq.learners.omsd.stages import fit_critic, fit_score, minibatch

torch.set_num_threads(1)
M, DS, MEMBERS, ROWS, ROUNDS, SAMPLES = 4096, 2, 48, 32, 400, 2


class EnsembleActor(nn.Module):
    """K disjoint copies of DeterministicActor's network (2 hidden ReLU layers, tanh); rows k*B..(k+1)*B-1 of the
    input go to copy k: ``obs [K*B, Do] -> [K*B, Da]``."""

    def __init__(self, k: int, obs_dim: int, action_dim: int, hidden: int) -> None:
        super().__init__()
        self.k = k
        shapes = [(obs_dim, hidden), (hidden, hidden), (hidden, action_dim)]
        self.weights = nn.ParameterList([nn.Parameter(torch.randn(k, i, o) / i**0.5) for i, o in shapes])
        self.biases = nn.ParameterList([nn.Parameter(torch.randn(k, 1, o) * 0.1) for _, o in shapes])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        h = obs.reshape(self.k, -1, obs.shape[-1])
        for n, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)
            h = torch.relu(h) if n < 2 else torch.tanh(h)
        return h.reshape(-1, h.shape[-1])


def coordination_data(gen: torch.Generator) -> dict[str, torch.Tensor]:
    s = torch.ones(M, DS)
    k = (torch.randint(0, 2, (M, 1, 1), generator=gen) * 2 - 1).float()
    a = (k.expand(M, 2, 1) + 0.1 * torch.randn(M, 2, 1, generator=gen)).clamp(-1, 1)
    obs = s[:, None].expand(M, 2, DS).contiguous()
    return {
        "obs": obs,
        "state": s,
        "actions": a,
        "reward": torch.ones(M),
        "next_obs": obs,
        "next_state": s,
        "done": torch.ones(M),
    }


def matched_fraction(cfg, data, critic, scores, seed: int) -> float:
    torch.manual_seed(seed)
    actors = [EnsembleActor(MEMBERS, DS, 1, 64) for _ in range(2)]
    opts = [torch.optim.Adam(a.parameters(), lr=cfg.actor_lr) for a in actors]
    gen = torch.Generator().manual_seed(seed)
    schedule = VPSchedule(cfg.n_timesteps)
    for _ in range(ROUNDS):
        b = minibatch(data, ROWS, gen)
        b = {k: v.repeat(MEMBERS, *([1] * (v.dim() - 1))) for k, v in b.items()}  # same rows for every member
        round_robin_step(
            actors,
            opts,
            critic,
            scores,
            schedule,
            b,
            cfg.beta,
            cfg.sequential,
            cfg.score_t_min,
            cfg.score_t_max,
            SAMPLES,
            gen,
        )
    with torch.no_grad():
        s = torch.ones(MEMBERS, DS)
        a1, a2 = actors[0](s)[:, 0], actors[1](s)[:, 0]  # [MEMBERS]: one evaluation per pair of actors
    matched = ((a1 > 0.5) & (a2 > 0.5)) | ((a1 < -0.5) & (a2 < -0.5))
    return float(matched.float().mean())


@pytest.mark.slow
def test_sequential_scores_pick_a_matched_joint_mode_where_independent_marginals_do_not():
    data = coordination_data(torch.Generator().manual_seed(0))
    small = {
        "critic_updates": 300,
        "score_updates": 1500,
        "score_hidden": 64,
        "score_blocks": 2,
        "critic_hidden": 64,
        "score_lr": 1e-3,
        "actor_lr": 1e-3,
        "beta": 0.05,
    }
    seq_cfg, ind_cfg = OmsdConfig(sequential=True, **small), OmsdConfig(sequential=False, **small)
    critic = fit_critic(seq_cfg, data, 0).requires_grad_(False)
    first = fit_score(seq_cfg, data, 0, 0).requires_grad_(False)  # agent 1 conditions on s alone in both arms
    second_seq = fit_score(seq_cfg, data, 1, 0).requires_grad_(False)  # eps_2(a_2 | s, a_1)
    second_ind = fit_score(ind_cfg, data, 1, 0).requires_grad_(False)  # eps_2(a_2 | s)
    sequential = matched_fraction(seq_cfg, data, critic, [first, second_seq], seed=1)
    independent = matched_fraction(ind_cfg, data, critic, [first, second_ind], seed=1)
    print(f"matched joint mode: sequential {sequential:.3f}, independent marginals {independent:.3f}")
    assert sequential >= 0.95
    assert independent <= sequential - 0.25
