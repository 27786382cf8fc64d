"""A small QMIX-style critic over EAQ tensors (the critic-guided objective).

Agent network: shared MLP over ``[obs_i, action_i (soft one-hot), agent id]`` -> ``q_i``; mixer: a
monotonic hyper-network over the global state (absolute weights) -> ``Q_tot``. It reads tensors in
the normalised ``[B, F, H]`` layout, so its gradient reaches predicted observations and actions.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rayeaq.generators.eaq.layout import Layout


class QMixCritic(nn.Module):
    obs_idx: torch.Tensor  # registered buffers
    act_idx: torch.Tensor
    state_idx: torch.Tensor
    """``forward(x [B, F, H]) -> Q_tot [B, H]`` (one value per row)."""

    def __init__(self, layout: Layout, hidden: int = 64):
        super().__init__()
        idx = layout.index_arrays()
        self.n_agents = layout.n_agents
        # the state layout has no observation channels: each agent reads the global state instead
        obs_idx = idx["obs"] if "obs" in idx else np.tile(idx["state"], (layout.n_agents, 1))
        self.register_buffer("obs_idx", torch.as_tensor(obs_idx), persistent=False)  # [N, Do]
        self.register_buffer("act_idx", torch.as_tensor(idx["act"]), persistent=False)  # [N, A]
        state_idx = idx["state"] if "state" in idx else idx["obs"].reshape(-1)
        self.register_buffer("state_idx", torch.as_tensor(state_idx), persistent=False)  # [Ds]
        d_in = obs_idx.shape[1] + layout.n_actions + layout.n_agents
        self.agent = nn.Sequential(
            nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )
        ds = int(self.state_idx.numel())
        self.hidden = hidden
        self.hyper_w1 = nn.Linear(ds, layout.n_agents * hidden)
        self.hyper_b1 = nn.Linear(ds, hidden)
        self.hyper_w2 = nn.Linear(ds, hidden)
        self.hyper_b2 = nn.Sequential(nn.Linear(ds, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h = x.shape
        xt = x.transpose(1, 2)  # [B, H, F]
        obs = xt[..., self.obs_idx]  # [B, H, N, Do]
        act = (xt[..., self.act_idx] + 1.0) * 0.5  # [B, H, N, A] on the {0,1} scale
        ids = torch.eye(self.n_agents, device=x.device).expand(b, h, -1, -1)
        q = self.agent(torch.cat([obs, act, ids], dim=-1))[..., 0]  # [B, H, N]
        s = xt[..., self.state_idx]  # [B, H, Ds]
        w1 = self.hyper_w1(s).abs().view(b, h, self.n_agents, self.hidden)
        hid = F.elu(torch.einsum("bhn,bhnk->bhk", q, w1) + self.hyper_b1(s))
        return (hid * self.hyper_w2(s).abs()).sum(-1) + self.hyper_b2(s)[..., 0]
