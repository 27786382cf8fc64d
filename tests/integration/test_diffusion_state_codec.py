"""The SMAX state codec against SMAX itself: on real episodes, the observations, available actions,
rewards, battle ends and wins computed from the decoded global state equal the dataset's (which SMAX
produced while the episodes ran)."""

from __future__ import annotations

import numpy as np
import pytest

from rayeaq.data.reader import load_dataset


@pytest.fixture(scope="module")
def episodes(tmp_path_factory):
    from rayeaq.envs.smax.maps import smax_spec
    from rayeaq.stages.collect.core import collect_local

    directory = tmp_path_factory.mktemp("codec") / "medium"
    collect_local(smax_spec("3m"), directory, 40, 0.2, root_seed=7, tier="medium")
    return load_dataset(directory)


@pytest.fixture(scope="module")
def replay(episodes):
    from rayeaq.envs.smax.replay import StateReplay

    return StateReplay(episodes.card.map, episodes.card.episode_limit)


def test_obs_and_avail_from_the_state_equal_smax_on_every_row(episodes, replay):
    from rayeaq.envs.smax.replay import episode_rows

    b = episodes.episodes
    rows = episode_rows(b)
    obs, avail = replay.observe(rows)
    obs, avail = obs.reshape(b.obs.shape), avail.reshape(b.avail_actions.shape)
    real_rows = np.arange(b.reward.shape[1])[None, :] <= b.length[:, None]  # steps + terminal row
    assert real_rows.sum() > 500
    np.testing.assert_allclose(obs[real_rows], b.obs[real_rows], atol=1e-6, rtol=0)
    assert (avail[real_rows] == b.avail_actions[real_rows]).all()
    # the enemies' previous actions are needed: without them the observations differ
    rows.enemy_move[:] = 0.0
    rows.enemy_attack[:] = 0
    wrong, _ = replay.observe(rows)
    assert np.abs(wrong.reshape(b.obs.shape)[real_rows] - b.obs[real_rows]).max() > 0.1


def test_reward_end_and_win_from_consecutive_states_equal_smax(episodes, replay):
    from rayeaq.envs.smax.replay import episode_rows, select_rows

    b = episodes.episodes
    bsz, t = b.reward.shape
    rows = episode_rows(b)
    index = np.arange(bsz * t).reshape(bsz, t)
    steps = b.filled.copy()
    steps[:, -1] = False
    before, after = select_rows(rows, index[steps]), select_rows(rows, index[steps] + 1)
    reward, won, over = replay.transition(before, after)
    np.testing.assert_allclose(reward, b.reward[steps], atol=1e-5)
    assert (over == b.terminated[steps]).all()
    last = np.zeros_like(steps)
    last[np.arange(bsz), b.length - 1] = True
    assert (won[last[steps]] == b.battle_won).all()
    assert b.battle_won.any() and (~b.battle_won).any()
