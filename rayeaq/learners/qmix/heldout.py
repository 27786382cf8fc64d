"""Offline-only scores of a QMIX/BC team on held-out episodes, for when the data's simulator is not here.

Without StarCraft II no greedy episode can be played, so ``rayeaq.evaluate`` on sc2 data trains on the mixture
minus a held-out part and scores the networks on that part instead: the TD loss of QMIX's own target (one
forward pass of :meth:`QMIXNetworks.train_outputs`, no gradient) and the behaviour-cloning accuracy (how often
the greedy legal action is the dataset's action, on every agent of every filled step — the training's
``bc_accuracy`` on unseen episodes). Pure torch and numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rayeaq.core.errors import DatasetError
from rayeaq.data.batch import EpisodeBatch
from rayeaq.learners.qmix.controller import mask_q
from rayeaq.learners.qmix.losses import masked_mean
from rayeaq.learners.qmix.networks import NetSpec, QMIXNetworks
from rayeaq.learners.qmix.sampler import EpisodeSampler

HELDOUT_FRACTION = 0.1
"""Share of the mixture's distinct episodes held out (at least one)."""


def split_heldout(
    episodes: EpisodeBatch, seed: int, fraction: float = HELDOUT_FRACTION
) -> tuple[EpisodeBatch, EpisodeBatch]:
    """(train, held out): a random ``fraction`` of the distinct episodes (by source and episode id, so that
    copies of one episode in a weighted mixture land on the same side), in their original order."""
    keys = np.array([f"{s}:{e}" for s, e in zip(episodes.source, episodes.episode_id, strict=True)])
    distinct = np.unique(keys)
    if len(distinct) < 2:
        raise DatasetError("offline-only evaluation needs at least 2 distinct episodes (one is held out)")
    n_held = min(len(distinct) - 1, max(1, round(fraction * len(distinct))))
    held = np.random.default_rng(seed).permutation(distinct)[:n_held]
    mask = np.isin(keys, held)
    return episodes.select(np.flatnonzero(~mask)), episodes.select(np.flatnonzero(mask))


@torch.no_grad()
def heldout_metrics(
    spec: NetSpec,
    state: dict[str, Any],
    episodes: EpisodeBatch,
    *,
    gamma: float,
    double_q: bool = True,
    td_lambda: float = 0.0,
    reward_scale: float = 1.0,
    chunk: int = 64,
) -> dict[str, float]:
    """``heldout_episodes``, ``heldout_bc_accuracy`` and (with a mixer) ``heldout_td_loss`` of the team networks
    with state dict ``state`` (keys without ``nets.``) on ``episodes``, in chunks of ``chunk`` episodes;
    ``reward_scale`` is the training's (the TD loss is on the scale the learner trained on)."""
    nets = QMIXNetworks(spec)
    nets.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in state.items()})
    nets.eval()
    sampler = EpisodeSampler(episodes, seed=0)
    sums = {"td": 0.0, "steps": 0.0, "hits": 0.0, "agent_steps": 0.0}
    for start in range(0, len(episodes), chunk):
        arrays = sampler.take(np.arange(start, min(start + chunk, len(episodes))))
        batch = {k: torch.from_numpy(v) for k, v in arrays.items()}
        batch["reward"] = batch["reward"] * float(reward_scale)
        out = nets.train_outputs(batch, gamma=gamma, double_q=double_q, td_lambda=td_lambda)
        steps = float(out.mask.sum())
        agent_mask = out.mask.unsqueeze(-1).expand_as(out.actions)
        greedy = mask_q(out.q, out.avail).argmax(-1)
        sums["hits"] += float(((greedy == out.actions).float() * agent_mask).sum())
        sums["agent_steps"] += float(agent_mask.sum())
        if out.q_tot is not None and out.target is not None:
            sums["td"] += float(masked_mean((out.q_tot - out.target) ** 2, out.mask)) * steps
        sums["steps"] += steps
    metrics = {
        "heldout_episodes": float(len(episodes)),
        "heldout_bc_accuracy": sums["hits"] / max(sums["agent_steps"], 1.0),
    }
    if spec.mixer:
        metrics["heldout_td_loss"] = sums["td"] / max(sums["steps"], 1.0)
    return metrics
