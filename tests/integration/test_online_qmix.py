"""Online QMIX: the replay buffer against the offline sampler, the ε schedule, learning on 3m (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rayeaq.envs.spec import EnvSpec
from rayeaq.learners.qmix.online import OnlineConfig, ReplayBuffer, epsilon_at
from rayeaq.learners.qmix.sampler import EpisodeSampler
from support.random_episodes import toy_episodes


def _spec(limit: int = 10) -> EnvSpec:
    return EnvSpec(
        backend="smax",
        map="toy",
        n_agents=3,
        n_enemies=3,
        n_actions=7,
        obs_shape=6,
        state_shape=5,
        episode_limit=limit,
        action_layout=tuple(f"a{i}" for i in range(7)),
        max_return=2.0,
        reward_scale="smax",
    )


def test_replay_buffer_rows_masks_and_terminals_match_the_offline_sampler():
    episodes = toy_episodes(n_episodes=12, episode_limit=10, seed=3)
    buffer = ReplayBuffer(_spec(), capacity=12, seed=0)
    buffer.add(episodes.select(np.arange(5)))
    buffer.add(episodes.select(np.arange(5, 12)))
    offline = EpisodeSampler(episodes, seed=0)
    for idx in (np.array([0, 4, 7]), np.array([11, 11, 2]), np.arange(12)):
        got, want = buffer.take(idx), offline.take(idx)
        assert set(got) == set(want)
        for name in want:
            assert got[name].dtype == want[name].dtype and np.array_equal(got[name], want[name]), name
    # truncated episode 0 keeps terminated = 0 (bootstrap from its terminal row), filled ends at its length
    batch = buffer.take(np.array([0]))
    assert not batch["terminated"][0].any() and batch["filled"][0].sum() == episodes.length[0]


def test_replay_buffer_overwrites_the_oldest_episodes():
    episodes = toy_episodes(n_episodes=7, episode_limit=10, seed=4)
    buffer = ReplayBuffer(_spec(), capacity=4, seed=0)
    buffer.add(episodes.select(np.arange(3)))
    buffer.add(episodes.select(np.arange(3, 7)))  # episodes 3..6 land in slots 3, 0, 1, 2
    assert len(buffer) == 4
    order = [4, 5, 6, 3]
    assert np.array_equal(buffer.length, episodes.length[order])
    assert np.array_equal(buffer.arrays["actions"], episodes.actions[order])
    draws = buffer.sample(64)
    assert draws["obs"].shape[0] == 64 and draws["obs"].shape[1] <= 11


def test_epsilon_anneals_linearly_by_env_steps():
    cfg = OnlineConfig(epsilon_start=1.0, epsilon_finish=0.1, epsilon_anneal_steps=1000)
    assert epsilon_at(cfg, 0) == 1.0
    assert epsilon_at(cfg, 500) == pytest.approx(0.55)
    assert epsilon_at(cfg, 1000) == pytest.approx(0.1) and epsilon_at(cfg, 10**6) == pytest.approx(0.1)


@pytest.mark.slow
def test_online_qmix_improves_over_its_first_evaluation_on_3m(ray_local, tmp_path):
    from rayeaq.core.config import load_config
    from rayeaq.stages.ray_online import run_online
    from rayeaq.train_online import OnlineRunConfig

    cfg = load_config(
        OnlineRunConfig,
        None,
        [
            "seed=1",
            "env.map=3m",
            "evaluate.eval_envs=32",
            "online.env_steps=20000",
            "online.episodes_per_iteration=32",
            "online.updates_per_iteration=32",
            "online.epsilon_anneal_steps=20000",
            "online.eval_every_steps=10000",
            "online.eval_episodes=32",
        ],
    )
    summary = run_online(cfg, tmp_path / "run")
    checkpoints = json.loads((tmp_path / "run" / "checkpoints.json").read_text())
    assert len(checkpoints) == 3 and all(len(c["fingerprint"]) == 16 for c in checkpoints)
    assert checkpoints[0]["env_steps"] == 0 and checkpoints[-1]["env_steps"] >= 20000
    first, last = summary["first"], summary["last"]
    # measured (seed 1, 2 loaded cores): greedy return 0.02 at the start, 0.15 at 10k env steps, 0.25 at 20k
    assert last["return_mean"] > first["return_mean"] + 0.1, (first, last)


def test_shipped_online_config_loads():
    from pathlib import Path

    from rayeaq.core.config import load_config
    from rayeaq.train_online import OnlineRunConfig

    path = Path(__file__).resolve().parents[2] / "tune_configs" / "online" / "3m.yaml"
    cfg = load_config(OnlineRunConfig, path)
    assert cfg.env.map == "3m" and cfg.evaluate.cql.weight == 0.0 and cfg.online.epsilon_finish == 0.05
