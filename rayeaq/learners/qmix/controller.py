"""Controller pieces (EPyMARL's MAC): agent inputs, available-action masking, greedy selection. Pure torch."""

from __future__ import annotations

import torch
from torch.nn import functional as F

# Masked entries get this value before a max/argmax; finite so that 0 * masked never makes NaN.
MASKED_Q = -1e10


def input_dim(obs_dim: int, n_agents: int, n_actions: int, last_action: bool, agent_id: bool) -> int:
    """Width of one agent's input: obs (+ last action one-hot) (+ agent id one-hot)."""
    return obs_dim + (n_actions if last_action else 0) + (n_agents if agent_id else 0)


def build_inputs(obs: torch.Tensor, last_actions: torch.Tensor | None, n_actions: int, agent_id: bool) -> torch.Tensor:
    """Agent inputs for a sequence or a single step.

    obs ``[*L, N, Do]``; last_actions ``[*L, N]`` int (-1 = none, e.g. the first step) or None when the
    last action is not an input -> ``[*L, N, Din]``.
    """
    parts = [obs]
    if last_actions is not None:
        parts.append(F.one_hot(last_actions.clamp(min=0), n_actions).to(obs.dtype) * (last_actions >= 0).unsqueeze(-1))
    if agent_id:
        n = obs.shape[-2]
        eye = torch.eye(n, dtype=obs.dtype, device=obs.device)
        parts.append(eye.expand(*obs.shape[:-2], n, n))
    return torch.cat(parts, dim=-1)


def shift_actions(actions: torch.Tensor) -> torch.Tensor:
    """Previous action of every row of a sequence: actions ``[B, T, N]`` -> ``[B, T, N]`` with -1 at t = 0."""
    first = torch.full_like(actions[:, :1], -1)
    return torch.cat([first, actions[:, :-1]], dim=1)


def mask_q(q: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """Q-values ``[..., A]`` with illegal actions (``avail [..., A]`` False) set to :data:`MASKED_Q`."""
    return q.masked_fill(~avail.bool(), MASKED_Q)


def masked_argmax(q: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """Greedy legal action ``[...]`` of ``q [..., A]`` (an all-illegal row returns 0)."""
    return mask_q(q, avail).argmax(dim=-1)
