"""Offline QMIX losses: double-Q TD targets on Q_tot, padding masks, CQL regulariser, behaviour cloning.

Pure torch. Conventions (the :class:`rayeaq.data.EpisodeBatch` rows, ``T = episode_limit + 1``):
row ``t`` of ``[B, T - 1]`` tensors is the transition ``t -> t + 1``; it counts when ``filled[t]``;
``terminated[t]`` cuts the bootstrap only for battle outcomes (time-limit truncation bootstraps from
the terminal observation stored at row ``length``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.nn import functional as F

from rayeaq.learners.qmix.controller import mask_q


class TrainOutputs(NamedTuple):
    """What one forward pass over a sequence batch gives the losses (shapes for ``T' = T - 1``)."""

    q: torch.Tensor  # [B, T', N, A] online agent Q-values on the step rows
    chosen_q: torch.Tensor  # [B, T', N] online Q of the dataset actions
    avail: torch.Tensor  # [B, T', N, A] legal actions on the step rows
    actions: torch.Tensor  # [B, T', N] dataset actions
    mask: torch.Tensor  # [B, T'] float, 1 on real steps (filled)
    q_tot: torch.Tensor | None  # [B, T'] mixed online Q of the dataset actions (None for BC)
    target: torch.Tensor | None  # [B, T'] TD target, no gradient (None for BC)


def td_targets(reward: torch.Tensor, terminated: torch.Tensor, next_q_tot: torch.Tensor, gamma: float) -> torch.Tensor:
    """One-step targets ``y_t = r_t + gamma * (1 - terminated_t) * Q_tot^target(s_{t+1}, a*_{t+1})``.

    reward, terminated, next_q_tot ``[B, T']`` -> ``[B, T']``.
    """
    return reward + gamma * (1.0 - terminated.to(reward.dtype)) * next_q_tot


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the entries where ``mask`` (broadcast to ``x``) is 1."""
    mask = mask.expand_as(x).to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def td_loss(out: TrainOutputs) -> torch.Tensor:
    """Masked mean squared TD error on Q_tot."""
    assert out.q_tot is not None and out.target is not None
    return masked_mean((out.q_tot - out.target.detach()) ** 2, out.mask)


def cql_loss(out: TrainOutputs) -> torch.Tensor:
    """Per-agent CQL(H): ``logsumexp_{a legal} Q_i(o, a) - Q_i(o, a_data)``, masked mean over steps and agents.

    Pushes down Q-values of actions the dataset does not take (per agent rather than over the joint
    action, whose number grows as A^N).
    """
    lse = torch.logsumexp(mask_q(out.q, out.avail), dim=-1)  # [B, T', N]
    return masked_mean(lse - out.chosen_q, out.mask.unsqueeze(-1))


def qmix_loss(out: TrainOutputs, cql_weight: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """TD loss (+ ``cql_weight`` * CQL; weight 0 is plain QMIX) and detached statistics."""
    td = td_loss(out)
    assert out.q_tot is not None and out.target is not None  # checked by td_loss
    stats = {
        "td_loss": td.detach(),
        "q_taken_mean": masked_mean(out.q_tot.detach(), out.mask),
        "target_mean": masked_mean(out.target.detach(), out.mask),
    }
    loss = td
    if cql_weight > 0.0:
        cql = cql_loss(out)
        stats["cql_loss"] = cql.detach()
        loss = td + cql_weight * cql
    return loss, stats


def bc_loss(out: TrainOutputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Behaviour cloning: cross-entropy of the masked agent logits on the dataset actions (masked mean)."""
    logits = mask_q(out.q, out.avail)
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), out.actions.reshape(-1), reduction="none")
    ce = ce.reshape(out.actions.shape)  # [B, T', N]
    loss = masked_mean(ce, out.mask.unsqueeze(-1))
    acc = masked_mean((logits.argmax(-1) == out.actions).to(ce.dtype), out.mask.unsqueeze(-1))
    return loss, {"bc_loss": loss.detach(), "bc_accuracy": acc.detach()}
