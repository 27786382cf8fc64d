"""Collection with a policy outside JAX (the seam a trained QMIX checkpoint plugs into)."""

from __future__ import annotations

import numpy as np
import torch

from rayeaq.envs.smax.maps import smax_spec
from rayeaq.stages.collect.host_rollout import run_episodes_host


def _greedy_policy(spec):
    from rayeaq.learners.qmix.networks import NetSpec, QMIXNetworks
    from rayeaq.learners.qmix.policy import GreedyPolicy

    torch.manual_seed(0)
    nets = QMIXNetworks(NetSpec(spec.n_agents, spec.n_actions, spec.obs_shape, spec.state_shape, hidden_dim=16))
    return GreedyPolicy(nets)


def _last(stream):
    *_, (_, assembler) = stream
    return assembler.whole()


def test_host_policy_episodes_are_legal_and_batch_independent():
    spec = smax_spec("3m")
    policy = _greedy_policy(spec)
    seeds = np.arange(10) + 50
    a = _last(run_episodes_host(spec, seeds, 0.2, policy, n_slots=5))
    b = _last(run_episodes_host(spec, seeds, 0.2, policy, n_slots=10))
    assert a.complete.all() and b.complete.all()
    assert np.array_equal(a.length, b.length) and np.array_equal(a.actions, b.actions)
    taken = np.take_along_axis(a.avail_actions, a.actions[..., None], axis=-1)[..., 0]
    assert taken[a.filled].all()
    rows = np.arange(spec.max_seq_len)[None, :]
    assert np.array_equal(a.filled, rows < a.length[:, None])
    # ε = 1 ignores the policy: same as any other fully random run of these seeds
    r1 = _last(run_episodes_host(spec, seeds, 1.0, policy, n_slots=5))
    r2 = _last(run_episodes_host(spec, seeds, 1.0, _greedy_policy(spec), n_slots=10))
    assert np.array_equal(r1.actions, r2.actions)
