"""SMAX adapter conformance: sizes, legal actions, battle_won, determinism, terminal observations."""

from __future__ import annotations

import numpy as np
import pytest

from rayeaq.envs import EnvConfig, env_spec, make_env
from rayeaq.envs.smax.maps import SMAX_MAPS, SMAX_UNITS, smax_spec

MAPS = ["3m", "2s3z"]


def _play(env, seed: int, rng: np.random.Generator, max_steps: int = 200):
    """Random legal actions until the episode ends; returns the trajectory."""
    obs, state = env.reset(seed=seed)
    traj = {"obs": [np.stack(obs)], "state": [state], "reward": [], "actions": [], "info": None, "terminated": None}
    for _ in range(max_steps):
        avail = np.array(env.get_avail_actions(), dtype=bool)
        actions = np.array([rng.choice(np.flatnonzero(row)) for row in avail])
        assert avail[np.arange(len(actions)), actions].all()
        reward, terminated, info = env.step(actions)
        traj["obs"].append(np.stack(env.get_obs()))
        traj["state"].append(env.get_state())
        traj["reward"].append(reward)
        traj["actions"].append(actions)
        if env.done:
            traj["info"], traj["terminated"] = info, terminated
            break
    return traj


@pytest.mark.parametrize("map_name", MAPS)
def test_sizes_agree_with_env_info_and_jaxmarl(map_name):
    env = make_env(EnvConfig(map=map_name))
    info = env.get_env_info()
    obs, state = env.reset(seed=0)
    assert len(obs) == info["n_agents"]
    assert all(o.shape == (info["obs_shape"],) for o in obs)
    assert state.shape == (info["state_shape"],)
    assert np.array(env.get_avail_actions()).shape == (info["n_agents"], info["n_actions"])
    # the static spec (computed without JAX) agrees with the simulator
    raw = env._env
    assert info["n_actions"] == raw.action_spaces[raw.agents[0]].n
    assert info["obs_shape"] == raw.observation_spaces[raw.agents[0]].shape[0]
    assert info["episode_limit"] == {"3m": 60, "2s3z": 120}[map_name]


def test_map_table_matches_jaxmarl():
    from rayeaq.envs.smax.imports import load_smax

    smax = load_smax()
    from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO

    assert set(SMAX_MAPS) <= set(MAP_NAME_TO_SCENARIO)
    for name, (allies, enemies) in SMAX_UNITS.items():
        scenario = smax.map_name_to_scenario(name)
        assert (scenario.num_allies, scenario.num_enemies) == (allies, enemies)


@pytest.mark.parametrize("map_name", MAPS)
def test_random_episodes_legal_and_battle_won_matches_units(map_name):
    env = make_env(EnvConfig(map=map_name))
    rng = np.random.default_rng(0)
    for seed in range(3):
        traj = _play(env, seed, rng)
        allies, enemies = env.units_alive()
        won = bool(allies.any() and not enemies.any())
        assert traj["info"]["battle_won"] == won
        if traj["info"].get("episode_limit"):
            assert not traj["terminated"]
            assert len(traj["actions"]) == env.episode_limit
        else:
            assert traj["terminated"] and (not allies.any() or not enemies.any())
        assert 0.0 <= sum(traj["reward"]) <= 2.0 + 1e-5


def test_heuristic_wins_are_reported():
    """The scripted policy wins 3m often: battle_won must be True then, with the +1 bonus paid."""
    from rayeaq.stages.collect.rollout import run_episodes

    spec = smax_spec("3m")
    *_, (_, assembler) = run_episodes(spec, np.arange(64), 0.0, n_slots=64, chunk_steps=32)
    buffers = assembler.whole()
    assert buffers.won.mean() > 0.3
    returns = buffers.returns()
    assert (returns[buffers.won] > 1.0).all()  # win bonus of 1 on top of damage
    assert (returns[~buffers.won] <= 1.0 + 1e-5).all()


def test_same_seed_same_episode_and_terminal_observation_kept():
    env = make_env(EnvConfig(map="3m"))
    a = _play(env, 11, np.random.default_rng(5))
    b = _play(env, 11, np.random.default_rng(5))
    assert np.array_equal(np.stack(a["obs"]), np.stack(b["obs"]))
    assert a["reward"] == b["reward"]
    c = _play(env, 12, np.random.default_rng(5))
    assert not np.array_equal(a["obs"][0], c["obs"][0])
    # after the last step the terminal observation is readable and differs from the previous one
    assert len(a["obs"]) == len(a["actions"]) + 1
    assert not np.array_equal(a["obs"][-1], a["obs"][-2])
    with pytest.raises(RuntimeError):
        env.step([4, 4, 4])


def test_illegal_action_is_refused():
    env = make_env(EnvConfig(map="3m"))
    env.reset(seed=0)
    avail = np.array(env.get_avail_actions(), dtype=bool)
    illegal = int(np.flatnonzero(~avail[0])[0])
    with pytest.raises(ValueError, match="unavailable"):
        env.step([illegal, 4, 4])


def test_batched_env_matches_single_env():
    from rayeaq.envs.smax.batch import SMAXBatchEnv

    cfg = EnvConfig(map="3m")
    batch = SMAXBatchEnv(cfg, n_envs=4)
    single = make_env(cfg)
    seeds = np.array([3, 4, 5, 6])
    obs, state, avail = batch.reset(seeds)
    o, s = single.reset(seed=5)
    assert np.array_equal(obs[2], np.stack(o)) and np.array_equal(state[2], s)
    rng = np.random.default_rng(0)
    for _ in range(200):
        actions = np.array([[rng.choice(np.flatnonzero(r)) for r in env_avail] for env_avail in avail])
        obs, state, avail, reward, done, won = batch.step(actions)
        if not single.done:
            r, _, info = single.step(actions[2])
            assert np.allclose(reward[2], r) and np.array_equal(obs[2], np.stack(single.get_obs()))
            assert won[2] == info["battle_won"] or not single.done
        if done.all():
            break
    assert done.all()
    assert (reward == 0).all()  # finished environments are frozen


def test_move_directions_match_smax_decoding():
    from rayeaq.envs.smax import core as smax_core
    from rayeaq.policies.smax import MOVE_DIRECTIONS

    env = smax_core.make_smax("3m", 60)
    import jax.numpy as jnp

    vectors, _ = env._env._decode_discrete_actions(jnp.arange(4))
    assert np.allclose(np.asarray(vectors), np.asarray(MOVE_DIRECTIONS), atol=1e-6)


def test_sc2_backend_missing_gives_clear_error():
    from rayeaq.core.errors import EnvUnavailableError

    with pytest.raises(EnvUnavailableError, match="oxwhirl SMAC"):
        env_spec(EnvConfig(backend="sc2", map="3m"))


def test_list_maps_cli():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "rayeaq.collect", "--list-maps"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0
    assert "5m_vs_6m" in out.stdout and "140" in out.stdout
