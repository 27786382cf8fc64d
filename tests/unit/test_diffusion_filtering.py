"""Filtering sampled episodes: drops by reason with dropped-vs-kept figures; a win at the bound survives."""

from __future__ import annotations

import numpy as np

from rayeaq.generators.eaq.filtering import filter_samples
from support.random_episodes import toy_spec
from support.smooth_episodes import toy_episodes

SPEC = toy_spec(episode_limit=15, n_agents=2, state_dim=8)


def _episodes(returns):
    batch = toy_episodes(SPEC, len(returns), seed=0)
    batch.reward = np.zeros_like(batch.reward)
    last = batch.length - 1
    batch.reward[np.arange(len(returns)), last] = returns
    batch.episode_return = batch.reward.sum(axis=1).astype(np.float32)
    batch.battle_won = batch.reward[np.arange(len(returns)), last] >= 1.0
    return batch


def _run(batch, **kw):
    n = len(batch)
    steps = batch.length * batch.n_agents
    args = dict(
        no_action=np.zeros(n, bool),
        legal=steps.copy(),
        agent_steps=steps,
        max_return=2.0,
        drop_illegal=True,
        tolerance=0.05,
    )
    args.update(kw)
    return filter_samples(batch, **args)


def test_win_at_or_just_above_the_bound_survives_and_is_clamped():
    batch = _episodes([2.0, 2.06, 2.2, 1.0])
    keep, report = _run(batch, tolerance=0.05)
    assert keep.tolist() == [True, True, False, True]
    assert report["dropped"]["return_out_of_range"] == 1 and report["clamped_to_max_return"] == 1
    np.testing.assert_allclose(batch.episode_return[:2], [2.0, 2.0], atol=1e-6)
    assert batch.battle_won[:2].all()
    assert report["kept_stats"]["win_rate"] == 1.0 and report["dropped_stats"]["return_mean"] > 2.0


def test_drops_are_charged_to_their_first_reason_with_figures():
    batch = _episodes([0.5, 0.6, 0.7, 0.8, 1.5, 3.0])
    batch.length[0] = 0
    no_action = np.array([False, True, False, False, False, True])
    legal = batch.length * batch.n_agents
    legal[2] -= 1
    keep, report = _run(
        batch, no_action=no_action, legal=legal, inconsistent=np.array([False, False, False, True, False, False])
    )
    assert keep.tolist() == [False, False, False, False, True, False]
    assert report["dropped"] == {
        "no_valid_step": 1,
        "no_available_action": 2,
        "illegal_action": 1,
        "return_out_of_range": 0,
        "inconsistent_state": 1,
    }
    assert report["kept_stats"]["episodes"] == 1 and report["dropped_stats"]["episodes"] == 5
    keep_all, report_all = _run(_episodes([0.5, 0.6]), legal=np.zeros(2, np.int64), drop_illegal=False)
    assert keep_all.all() and report_all["dropped"]["illegal_action"] == 0
