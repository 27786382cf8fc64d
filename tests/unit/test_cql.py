"""MA-CQL pieces: the conservative term against a per-agent loop, and the mechanism on an out-of-coverage bandit
(the data's actions cover a small square of the box; the reward keeps growing outside it)."""

from __future__ import annotations

import math

import torch

from rayeaq.learners.cql.losses import actor_loss, conservative_gap, critic_loss
from rayeaq.learners.td3bc.networks import NetSpec, TD3Networks


def test_conservative_gap_matches_a_per_agent_loop():
    torch.manual_seed(0)
    nets = TD3Networks(NetSpec(n_agents=2, obs_dim=3, action_dim=2, action_low=-1.0, action_high=1.0, hidden_dim=8))
    o, a = torch.randn(2, 5, 3), torch.rand(2, 5, 2) * 2 - 1
    q_data = nets.q(o, a)
    torch.manual_seed(7)
    gap1, gap2 = conservative_gap(nets, o, q_data, temperature=0.5, samples=4)
    torch.manual_seed(7)
    u = torch.rand(2, 5 * 4, 2) * 2 - 1  # the same draws: state b's samples are rows 4b .. 4b+3
    for i in range(2):
        for j, (gap, net) in enumerate(((gap1, nets.q1), (gap2, nets.q2))):
            ref = []
            for b in range(5):
                x = torch.cat([o[i, b].expand(4, 3), u[i, 4 * b : 4 * b + 4]], -1)
                h = x
                for k, layer in enumerate(net.layers):
                    h = h @ layer.weight[i] + layer.bias[i, 0]
                    h = torch.relu(h) if k < len(net.layers) - 1 else h
                soft = 0.5 * torch.logsumexp((h[:, 0] + 2 * math.log(2.0)) / 0.5, 0)
                ref.append(soft - q_data[j][i, b])
            torch.testing.assert_close(gap[i], torch.stack(ref).mean())


def _bandit(alpha: float, seed: int, updates: int = 300) -> torch.Tensor:
    """One agent, constant observation, one-step episodes; data actions in [0.2, 0.4]², reward a_x + a_y (larger
    outside the data). Returns the trained actor's action."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    nets = TD3Networks(NetSpec(n_agents=1, obs_dim=2, action_dim=2, action_low=-1.0, action_high=1.0, hidden_dim=32))
    critic_opt = torch.optim.Adam([*nets.q1.parameters(), *nets.q2.parameters()], lr=1e-2)
    actor_opt = torch.optim.Adam(nets.actor.parameters(), lr=1e-2)
    obs = torch.zeros(128, 1, 2)
    for _ in range(updates):
        actions = 0.2 + 0.2 * torch.rand(128, 1, 2)
        batch = {
            "obs": obs,
            "next_obs": obs,
            "actions": actions,
            "reward": actions.sum(-1),
            "done": torch.ones(128, dtype=torch.bool),
        }
        loss, _ = critic_loss(nets, batch, gamma=0.95, alpha=alpha, temperature=1.0, samples=10)
        critic_opt.zero_grad()
        loss.backward()
        critic_opt.step()
        loss, _ = actor_loss(nets, batch, reg=1e-3)
        actor_opt.zero_grad()
        loss.backward()
        actor_opt.step()
    return nets.act(obs[:1])[0, 0]


def test_cql_keeps_the_actor_on_the_data_where_plain_q_maximisation_leaves_it():
    for seed in (0, 1):
        plain, conservative = _bandit(alpha=0.0, seed=seed), _bandit(alpha=5.0, seed=seed)
        assert (plain - 0.3).abs().max() > 0.5, plain  # the critic's extrapolation pulls the actor off the data
        assert (conservative - 0.3).abs().max() < 0.2, conservative  # within 0.1 of the data's square
