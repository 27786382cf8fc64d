"""Greedy evaluation rollouts over SMAC's API (SMACAPIBatch, how sc2 evaluation runs) give exactly the
rollouts of the vmapped SMAX batch env the evaluator uses today, for the evaluator's own greedy policy."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.slow
def test_smac_api_batch_gives_the_smax_batch_env_rollouts_for_a_greedy_qmix_policy():
    import torch

    from rayeaq.envs.config import EnvConfig
    from rayeaq.envs.sc2.batch import SMACAPIBatch
    from rayeaq.envs.smax.batch import SMAXBatchEnv
    from rayeaq.envs.smax.env import SMAXEnv
    from rayeaq.learners.qmix.networks import NetSpec, QMIXNetworks
    from rayeaq.learners.qmix.policy import GreedyPolicy
    from rayeaq.learners.qmix.rollout import run_episodes

    torch.set_num_threads(1)
    torch.manual_seed(0)
    reference_env = SMAXBatchEnv(EnvConfig(map="3m", episode_limit=60), 3)
    spec = reference_env.spec
    nets = QMIXNetworks(NetSpec(spec.n_agents, spec.n_actions, spec.obs_shape, spec.state_shape))
    greedy = GreedyPolicy(nets)

    def policy(obs, avail, hidden):  # the greedy net, but fire at the first enemy in range (so battles happen)
        actions, hidden = greedy(obs, avail, hidden)
        attack = avail[..., 5:]
        return np.where(attack.any(-1), 5 + attack.argmax(-1), actions), hidden

    seeds = np.arange(100, 106)
    expected = run_episodes(policy, reference_env, 3, seeds)
    ours = run_episodes(policy, SMACAPIBatch(lambda i: SMAXEnv("3m", 60, seed=i), 3), 3, seeds)
    np.testing.assert_array_equal(ours.length, expected.length)
    np.testing.assert_array_equal(ours.won, expected.won)
    np.testing.assert_allclose(ours.returns, expected.returns, rtol=0, atol=1e-6)
    assert len(set(expected.returns.round(4).tolist())) > 1 and expected.returns.max() > 0  # real battles
