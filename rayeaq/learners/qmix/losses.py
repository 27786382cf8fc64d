"""Offline QMIX losses: double-Q TD / TD(lambda) targets on Q_tot, padding masks, conservative terms, BC.

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
    sampled_q_tot: torch.Tensor | None = None  # [B, T', K] online Q_tot of K sampled legal joint actions (joint CQL)


def td_targets(reward: torch.Tensor, terminated: torch.Tensor, next_q_tot: torch.Tensor, gamma: float) -> torch.Tensor:
    """One-step targets ``y_t = r_t + gamma * (1 - terminated_t) * Q_tot^target(s_{t+1}, a*_{t+1})``.

    reward, terminated, next_q_tot ``[B, T']`` -> ``[B, T']``.
    """
    return reward + gamma * (1.0 - terminated.to(reward.dtype)) * next_q_tot


def td_lambda_targets(
    reward: torch.Tensor,
    terminated: torch.Tensor,
    next_filled: torch.Tensor,
    next_q_tot: torch.Tensor,
    gamma: float,
    td_lambda: float,
) -> torch.Tensor:
    """pymarl2's lambda-returns over each episode, backwards:
    ``G_t = r_t + gamma * (1 - terminated_t) * ((1 - lambda) * Q_t + lambda * G_{t+1})``, where ``Q_t`` =
    ``next_q_tot[t]`` (target Q_tot at row t + 1) and ``G_{t+1}`` is replaced by ``Q_t`` when row t + 1 is not a
    step (the episode's last transition bootstraps fully, so time-limit truncation stays unbiased).

    reward, terminated, next_filled (``filled[:, 1:]``), next_q_tot ``[B, T']`` -> ``[B, T']``.
    ``td_lambda = 0`` gives :func:`td_targets` exactly.
    """
    if td_lambda == 0.0:
        return td_targets(reward, terminated, next_q_tot, gamma)
    t = next_q_tot.shape[1]
    cont = gamma * (1.0 - terminated.to(reward.dtype))  # [B, T']
    # G_t = b_t + a_t * G_{t+1}: a_t = cont_t * lambda where row t + 1 is a step (0 at the episode's last step and
    # at the batch's last row), b_t = r_t + cont_t * (1 - lambda_t) * Q_t.
    lam = td_lambda * next_filled.to(reward.dtype)
    lam[:, -1] = 0.0
    a, b = cont * lam, reward + cont * (1.0 - lam) * next_q_tot
    # Solved at once instead of a backward loop over rows (T' small ops): G_t = sum_{j >= t} P[t, j] b_j with
    # P[t, j] = prod_{t <= i < j} a_i, from a cumulative product over the upper triangle ([B, T', T'], no gradient).
    upper = torch.ones(t, t, dtype=torch.bool, device=a.device).triu()  # [t, j]: j >= t
    prods = torch.where(upper, a.unsqueeze(1), torch.ones_like(a).unsqueeze(1)).cumprod(-1)  # prod_{t <= i <= j}
    p = torch.cat([torch.ones_like(prods[..., :1]), prods[..., :-1]], dim=-1) * upper
    return (p * b.unsqueeze(1)).sum(-1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the entries where ``mask`` (broadcast to ``x``) is 1."""
    mask = mask.expand_as(x).to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def td_loss(out: TrainOutputs) -> torch.Tensor:
    """Masked mean squared TD error on Q_tot."""
    assert out.q_tot is not None and out.target is not None
    return masked_mean((out.q_tot - out.target.detach()) ** 2, out.mask)


def agent_cql_loss(out: TrainOutputs, temperature: float = 1.0) -> torch.Tensor:
    """Per-agent term ``tau * logsumexp_{a legal}(Q_i(o, a) / tau) - Q_i(o, a_data)``, masked mean over steps and
    agents. With ``tau = 1`` it is ``-log softmax(Q_i)[a_data]``: cross-entropy on the Q-logits, so TD + this term
    is TD + behaviour cloning (it never compares joint actions through the mixer).
    """
    lse = temperature * torch.logsumexp(mask_q(out.q, out.avail) / temperature, dim=-1)  # [B, T', N]
    return masked_mean(lse - out.chosen_q, out.mask.unsqueeze(-1))


cql_loss = agent_cql_loss  # the name of the term before evaluate.cql.kind existed


def joint_cql_loss(out: TrainOutputs, temperature: float = 1.0) -> torch.Tensor:
    """OG-MARL's QMIX+CQL term: ``tau * logsumexp({Q_tot(a^k)}_k ∪ {Q_tot(a_data)} / tau) - Q_tot(a_data)``, the
    ``a^k`` joint actions sampled uniformly over each agent's legal actions and mixed by the online mixer
    (``out.sampled_q_tot [B, T', K]``); masked mean over steps."""
    assert out.sampled_q_tot is not None and out.q_tot is not None, "joint CQL needs sampled_q_tot (cql_samples > 0)"
    both = torch.cat([out.sampled_q_tot, out.q_tot.unsqueeze(-1)], dim=-1)  # [B, T', K + 1]
    lse = temperature * torch.logsumexp(both / temperature, dim=-1)
    return masked_mean(lse - out.q_tot, out.mask)


CQL_TERMS = {"agent": agent_cql_loss, "joint": joint_cql_loss}
"""The conservative terms by ``evaluate.cql.kind``."""


def qmix_loss(
    out: TrainOutputs, cql_weight: float = 0.0, cql_kind: str = "agent", temperature: float = 1.0
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """TD loss (+ ``cql_weight`` * the ``cql_kind`` term; weight 0 is plain QMIX) and detached statistics."""
    td = td_loss(out)
    assert out.q_tot is not None and out.target is not None  # checked by td_loss
    stats = {
        "td_loss": td.detach(),
        "q_taken_mean": masked_mean(out.q_tot.detach(), out.mask),
        "target_mean": masked_mean(out.target.detach(), out.mask),
    }
    loss = td
    if cql_weight > 0.0:
        cql = CQL_TERMS[cql_kind](out, temperature)
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
