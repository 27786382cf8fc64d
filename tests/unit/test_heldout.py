"""Offline-only scoring (rayeaq.learners.qmix.heldout): the split keeps copies of an episode together, and the
held-out BC accuracy and TD loss equal the training losses' own statistics on the same episodes."""

from __future__ import annotations

import numpy as np
import torch

from rayeaq.data.batch import EpisodeBatch
from rayeaq.learners.qmix.heldout import heldout_metrics, split_heldout
from rayeaq.learners.qmix.losses import bc_loss, td_loss
from rayeaq.learners.qmix.networks import NetSpec, QMIXNetworks
from rayeaq.learners.qmix.sampler import EpisodeSampler
from support.random_episodes import toy_episodes


def test_split_holds_out_a_tenth_of_distinct_episodes_with_their_copies():
    episodes = toy_episodes(30, seed=1)
    mixture = EpisodeBatch.concatenate([episodes, episodes.select(np.arange(10))])  # ten episodes twice
    train, held = split_heldout(mixture, seed=4)
    assert len(np.unique(held.episode_id)) == 3 and len(train) + len(held) == len(mixture)
    assert not set(train.episode_id.tolist()) & set(held.episode_id.tolist())
    again, _ = split_heldout(mixture, seed=4)
    np.testing.assert_array_equal(again.episode_id, train.episode_id)


def test_heldout_metrics_equal_the_training_statistics_on_the_same_episodes():
    torch.manual_seed(0)
    episodes = toy_episodes(12, seed=2)
    spec = NetSpec(episodes.n_agents, episodes.n_actions, episodes.obs.shape[-1], episodes.state.shape[-1], 16)
    nets = QMIXNetworks(spec)
    state = {k: v.numpy() for k, v in nets.state_dict().items()}
    got = heldout_metrics(spec, state, episodes, gamma=0.9, chunk=5)  # three chunks of unequal length
    arrays = EpisodeSampler(episodes, seed=0).take(np.arange(len(episodes)))
    with torch.no_grad():
        out = nets.eval().train_outputs({k: torch.from_numpy(v) for k, v in arrays.items()}, gamma=0.9)
    assert got["heldout_episodes"] == 12
    np.testing.assert_allclose(got["heldout_bc_accuracy"], float(bc_loss(out)[1]["bc_accuracy"]), rtol=1e-5)
    np.testing.assert_allclose(got["heldout_td_loss"], float(td_loss(out)), rtol=1e-4)
