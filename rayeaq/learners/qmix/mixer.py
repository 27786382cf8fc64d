"""Monotonic mixer (EPyMARL's ``QMixer``): Q_tot = f_state(Q_1..Q_N) with non-negative weights.

Hyper-networks map the global state to the mixing weights; their absolute value keeps
dQ_tot/dQ_a >= 0, so each agent's greedy action is the team's greedy action. Pure torch.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class QMixer(nn.Module):
    """``(agent_qs [..., N], state [..., Ds]) -> q_tot [...]`` (any leading shape, e.g. ``[B, T]``)."""

    def __init__(self, n_agents: int, state_dim: int, embed_dim: int = 32, hypernet_embed: int = 64) -> None:
        super().__init__()
        self.n_agents = n_agents
        self.embed_dim = embed_dim
        self.hyper_w_1 = nn.Sequential(
            nn.Linear(state_dim, hypernet_embed), nn.ReLU(), nn.Linear(hypernet_embed, embed_dim * n_agents)
        )
        self.hyper_w_final = nn.Sequential(
            nn.Linear(state_dim, hypernet_embed), nn.ReLU(), nn.Linear(hypernet_embed, embed_dim)
        )
        self.hyper_b_1 = nn.Linear(state_dim, embed_dim)
        self.V = nn.Sequential(nn.Linear(state_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, 1))

    def forward(self, agent_qs: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        return self.forward_samples(agent_qs.unsqueeze(-2), states).squeeze(-1)

    def forward_samples(self, agent_qs: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """Several joint actions per state, hyper-networks evaluated once per state.

        agent_qs ``[..., K, N]``, states ``[..., Ds]`` -> q_tot ``[..., K]``.
        """
        lead, k = agent_qs.shape[:-2], agent_qs.shape[-2]
        qs = agent_qs.reshape(-1, k, self.n_agents)  # [M, K, N]
        s = states.reshape(-1, states.shape[-1])  # [M, Ds]
        w1 = torch.abs(self.hyper_w_1(s)).view(-1, self.n_agents, self.embed_dim)  # [M, N, E]
        b1 = self.hyper_b_1(s).view(-1, 1, self.embed_dim)  # [M, 1, E]
        hidden = F.elu(torch.bmm(qs, w1) + b1)  # [M, K, E]
        w_final = torch.abs(self.hyper_w_final(s)).view(-1, self.embed_dim, 1)  # [M, E, 1]
        v = self.V(s).view(-1, 1, 1)  # [M, 1, 1]
        q_tot: torch.Tensor = (torch.bmm(hidden, w_final) + v).reshape(*lead, k)
        return q_tot
