"""The SMAC-API host collection loop, run end to end on the real SMAX simulator behind SMAC's API
(``SMAXEnv``), the way it runs StarCraft II: heuristic against the JAX reference, worker-count
invariance, legal actions and terminal rows, an actor killed mid-collection, the missing-game error."""

from __future__ import annotations

import time
from functools import partial

import numpy as np
import pytest

from rayeaq.core.errors import EnvUnavailableError
from rayeaq.data.card import SHARD_DIR
from rayeaq.data.reader import load_dataset
from rayeaq.data.writer import finalize_dataset
from rayeaq.envs.config import EnvConfig
from rayeaq.stages.collect.config import CollectConfig
from rayeaq.stages.collect.core import episode_seeds, plan_shards

ENV = EnvConfig(backend="smax", map="3m", episode_limit=60)
SEED, TIER, EPS = 11, "medium", 0.3


def _pool_dataset(ray_local, tmp_path, workers: int, episodes: int = 24, shard: int = 6):
    from rayeaq.stages.collect.ray_smac import SMACCollectorPool

    cfg = CollectConfig(
        episodes=episodes,
        tiers=[],
        workers=workers,
        shard_episodes=shard,
        cpus_per_worker=0.5,
        policy={"kind": "heuristic_mix"},  # the SMAC-API loop's behaviours (the graded ladder is SMAX-only)
    )
    pool = SMACCollectorPool(ENV, cfg, SEED)
    try:
        spec = pool.spec()
        out = tmp_path / f"w{workers}"
        pool.collect(TIER, plan_shards(episodes, shard), EPS, out, lambda _: None)
        table = pool.calibrate(TIER, [0.0, 1.0], 8)  # the driver's tier calibration, on the actors
    finally:
        pool.shutdown()
    return finalize_dataset(out, spec, source="real", tier=TIER), out, table


def test_smac_heuristic_matches_the_jax_heuristic_on_smax_states():
    """The SMAC-API heuristic (state vector + avail only) picks the JAX focus-fire policy's action in
    every state of ε=0.5 episodes (reference: rayeaq.policies.smax.heuristic on the simulator's state)."""
    import jax

    from rayeaq.envs.smax.env import SMAXEnv
    from rayeaq.policies.smax import heuristic
    from rayeaq.stages.collect.smac_loop import _observe
    from rayeaq.stages.collect.smac_policy import epsilon_mix, make_policy

    env = SMAXEnv("3m", 60)
    ours = make_policy(env, env.spec)
    reference = jax.jit(partial(heuristic, env._env), static_argnums=2)
    checked = 0
    for seed in range(6):
        env.reset(seed=seed)
        t = 0
        while not env.done:
            _, state, avail = _observe(env)
            mine = ours(state, avail)
            np.testing.assert_array_equal(mine, np.asarray(reference(env._state, avail, 0)))
            checked += 1
            env.step(epsilon_mix(mine, avail, 0.5, seed, t))
            t += 1
    assert checked > 40


@pytest.mark.slow
def test_one_and_two_actors_give_the_same_dataset_with_legal_actions_and_terminal_rows(ray_local, tmp_path):
    card1, dir1, table1 = _pool_dataset(ray_local, tmp_path, 1)
    card2, _, table2 = _pool_dataset(ray_local, tmp_path, 2)
    assert card1.fingerprint == card2.fingerprint
    assert table1 == table2 and [r["epsilon"] for r in table1] == [0.0, 1.0]
    assert table1[0]["win_rate"] > table1[1]["win_rate"] and table1[0]["mean_return"] > table1[1]["mean_return"]
    assert card1.stats.episodes == 24 and len(card1.shards) == 4
    assert card1.backend == "smax" and card1.reward_scale.startswith("smax:") and card1.max_return == 2.0
    ep = load_dataset(dir1).episodes
    assert ep.episode_id.tolist() == list(range(24))
    np.testing.assert_array_equal(ep.seed, episode_seeds(SEED, TIER, np.arange(24)))
    rows = np.arange(ep.max_seq_len)[None, :]
    np.testing.assert_array_equal(ep.filled, rows < ep.length[:, None])
    # every action taken was available to its agent
    taken = np.take_along_axis(ep.avail_actions, ep.actions[..., None], axis=-1)[..., 0]
    assert taken[ep.filled].all()
    # terminated only on the last step, and only for battle outcomes; the terminal row holds an observation
    last = ep.length - 1
    assert ep.terminated.sum() == ep.terminated[np.arange(len(ep)), last].sum()
    truncated = ep.length == 60
    assert not ep.terminated[np.arange(len(ep)), last][truncated].any()
    assert ep.terminated[np.arange(len(ep)), last][~truncated].all()
    assert (ep.avail_actions[np.arange(len(ep)), ep.length].any(axis=-1)).all()
    # independent check of battle_won: in SMAX's state every enemy's health is 0 at a won episode's end
    enemy_health = ep.state[np.arange(len(ep)), ep.length][:, 30:60].reshape(len(ep), 3, 10)[:, :, 0]
    np.testing.assert_array_equal(ep.battle_won, (enemy_health == 0).all(axis=1) & ~truncated)
    np.testing.assert_allclose(ep.episode_return, (ep.reward * ep.filled).sum(axis=1), rtol=1e-6)
    assert 0 < ep.battle_won.mean() < 1  # the ε-mixture wins some and loses some


@pytest.mark.slow
def test_an_actor_killed_mid_collection_loses_nothing(ray_local, tmp_path):
    import ray

    from rayeaq.envs.smax.env import SMAXEnv
    from rayeaq.stages.collect.ray_smac import SMACCollectorActor
    from rayeaq.stages.collect.smac_loop import collect_smac_shards

    shards = plan_shards(60, 10)
    reference_dir = tmp_path / "reference"  # the same shards in this process, without Ray
    env = SMAXEnv("3m", 60)
    collect_smac_shards(env, env.spec, TIER, shards, EPS, SEED, reference_dir)
    reference = finalize_dataset(reference_dir, env.spec, source="real", tier=TIER)

    actor = SMACCollectorActor.options(num_cpus=0.5).remote(ENV, SEED, 0)
    pid_before = ray.get(actor.pid.remote())
    out = tmp_path / "killed"
    call = actor.collect.remote(TIER, shards, EPS, str(out))
    deadline = time.time() + 300
    while not list((out / SHARD_DIR).glob("shard-*.parquet")) and time.time() < deadline:
        time.sleep(0.01)
    on_disk_at_kill = len(list((out / SHARD_DIR).glob("shard-*.parquet")))
    ray.kill(actor, no_restart=False)  # the actor dies mid-collection; Ray restarts it and retries the call
    summaries = ray.get(call, timeout=600)
    assert 1 <= on_disk_at_kill < len(shards)
    assert ray.get(actor.pid.remote()) != pid_before  # it really was a new process
    assert sum(s["skipped"] for s in summaries) >= on_disk_at_kill  # shards written before the kill were kept
    card = finalize_dataset(out, env.spec, source="real", tier=TIER)
    assert card.fingerprint == reference.fingerprint
    assert sorted(load_dataset(out).episodes.episode_id.tolist()) == list(range(60))
    ray.kill(actor, no_restart=True)


def test_without_the_game_sc2_is_a_one_line_error_naming_sc2path_and_the_install(monkeypatch, tmp_path):
    from rayeaq.envs import make_env
    from rayeaq.stages.collect.ray_smac import SMACCollectorPool

    monkeypatch.setenv("SC2PATH", str(tmp_path / "nowhere"))
    cfg = EnvConfig(backend="sc2", map="3m")
    for attempt in (lambda: make_env(cfg), lambda: SMACCollectorPool(cfg, CollectConfig(tiers=[]), 0)):
        with pytest.raises(EnvUnavailableError) as err:
            attempt()
        message = str(err.value)
        assert "\n" not in message and "SC2PATH" in message and str(tmp_path / "nowhere") in message
        assert "pip install" in message and "oxwhirl/smac" in message
    (tmp_path / "game" / "Versions").mkdir(parents=True)  # a game directory, but no SMAC package here
    monkeypatch.setenv("SC2PATH", str(tmp_path / "game"))
    with pytest.raises(EnvUnavailableError, match=r"oxwhirl SMAC is not installed.*pip install"):
        make_env(cfg)


@pytest.mark.slow
def test_smac_loop_at_epsilon_zero_reproduces_the_fused_collector_bit_for_bit():
    """Known answer: with ε = 0 both collectors play the same deterministic heuristic from the same
    per-episode seeds, so the host loop over SMAC's API must give the fused JAX collector's episodes."""
    from rayeaq.envs.smax.env import SMAXEnv
    from rayeaq.stages.collect.rollout import run_episodes
    from rayeaq.stages.collect.smac_loop import play

    env = SMAXEnv("3m", 60)
    seeds = episode_seeds(SEED, TIER, np.arange(12))
    ours = play(env, env.spec, seeds, 0.0)
    for _, last_sink in run_episodes(env.spec, seeds, 0.0, script="focus_weakest", n_slots=12, chunk_steps=64):
        sink = last_sink
    fused = sink.whole()
    for name in ("obs", "state", "avail_actions", "actions", "reward", "terminated", "filled", "length", "won"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(fused, name), err_msg=name)


@pytest.mark.slow
def test_a_checkpoint_behaviour_on_the_smac_loop_reproduces_the_host_collector():
    """Known answer for the trained-policy behaviour: the SMAC-API loop with a QMIX greedy policy at ε = 0.2
    plays exactly the episodes of the batched host collector (``host_rollout.run_episodes_host``), which
    draws ε per episode seed and step the same way."""
    import torch

    from rayeaq.envs.smax.env import SMAXEnv
    from rayeaq.learners.qmix.networks import NetSpec, QMIXNetworks
    from rayeaq.learners.qmix.policy import GreedyPolicy
    from rayeaq.stages.collect.host_rollout import run_episodes_host
    from rayeaq.stages.collect.smac_loop import play
    from rayeaq.stages.collect.smac_policy import CheckpointBehaviour

    torch.set_num_threads(1)
    env = SMAXEnv("3m", 60)
    spec = env.spec
    torch.manual_seed(0)
    greedy = GreedyPolicy(
        QMIXNetworks(NetSpec(spec.n_agents, spec.n_actions, spec.obs_shape, spec.state_shape, hidden_dim=16))
    )
    seeds = episode_seeds(SEED, TIER, np.arange(8))
    ours = play(env, spec, seeds, 0.2, CheckpointBehaviour(env, spec, greedy=greedy))
    *_, (_, sink) = run_episodes_host(spec, seeds, 0.2, greedy, n_slots=4)
    host = sink.whole()
    for name in ("actions", "obs", "state", "avail_actions", "reward", "terminated", "filled", "length", "won"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(host, name), err_msg=name)
