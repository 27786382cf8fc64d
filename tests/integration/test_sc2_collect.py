"""The SMAC-API host collection loop, run on the real SMAX simulator behind SMAC's API (``SMAXEnv``), the way it
runs StarCraft II: heuristic against the JAX reference, known answers against the fused and host collectors, an
actor killed mid-collection, the missing-game error. Worker-count invariance, legal actions and terminal rows
through ``python -m rayeaq.collect env.backend=sc2``: tests/e2e/test_sc2_commands.py."""

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
from rayeaq.policies import POLICIES
from rayeaq.policies.config import PolicyConfig
from rayeaq.stages.collect.config import CollectConfig
from rayeaq.stages.collect.core import episode_seeds, plan_shards

ENV = EnvConfig(backend="smax", map="3m", episode_limit=60)
SEED, TIER, EPS = 11, "medium", 0.3
CANDIDATE = POLICIES.get("heuristic_mix").candidates(PolicyConfig(kind="heuristic_mix"), EPS, None)[0]


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
def test_an_actor_killed_mid_collection_loses_nothing(ray_local, tmp_path):
    import ray

    from rayeaq.envs.smax.env import SMAXEnv
    from rayeaq.stages.collect.ray_smac import SMACCollectorActor
    from rayeaq.stages.collect.smac_loop import collect_smac_shards

    shards = plan_shards(60, 10)
    reference_dir = tmp_path / "reference"  # the same shards in this process, without Ray
    env = SMAXEnv("3m", 60)
    collect_smac_shards(env, env.spec, TIER, shards, CANDIDATE, SEED, reference_dir)
    reference = finalize_dataset(reference_dir, env.spec, source="real", tier=TIER)

    actor = SMACCollectorActor.options(num_cpus=0.5).remote(ENV, SEED, 0)
    pid_before = ray.get(actor.pid.remote())
    out = tmp_path / "killed"
    call = actor.collect.remote(TIER, shards, CANDIDATE, str(out))
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


@pytest.mark.slow
def test_sc2_backend_over_the_smac_standin_replays_the_smax_heuristic(monkeypatch, tmp_path):
    """Known answer for the sc2 path's own code (``SC2Env``, its unit layout, SMAC's action layout in the
    heuristic, SMAC's time-limit flag): through the stand-in ``StarCraft2Env`` (SMAX behind SMAC's API, every battle
    from SMAX seed 0) the heuristic plays exactly the battle it plays on ``SMAXEnv`` reset with seed 0 — actions in
    SMAC's numbering, state in SMAC's layout, rewards on SMAC's scale (x 10); cut at a short limit, the same
    battle is a truncation (not terminated)."""
    from pathlib import Path

    from rayeaq.envs import make_env
    from rayeaq.envs.smax.env import SMAXEnv
    from rayeaq.stages.collect.smac_loop import play

    (tmp_path / "Versions").mkdir()
    monkeypatch.setenv("SC2PATH", str(tmp_path))
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "support" / "smac_standin"))
    smac_to_smax = np.array([4, 4, 0, 2, 1, 3, 5, 6, 7])  # no-op, stop, N, S, E, W, attack 0..2
    for limit in (30, 6):
        sc2 = make_env(EnvConfig(backend="sc2", map="3m", episode_limit=limit), seed=7)
        assert sc2.spec.backend == "sc2" and sc2.spec.episode_limit == limit and sc2.spec.state_shape == 48
        ours = play(sc2, sc2.spec, np.array([1, 2]), 0.0)
        smax = SMAXEnv("3m", limit)
        reference = play(smax, smax.spec, np.array([0, 0]), 0.0)
        np.testing.assert_array_equal(ours.length, reference.length)
        np.testing.assert_array_equal(ours.won, reference.won)
        np.testing.assert_array_equal(ours.terminated, reference.terminated)
        steps = reference.filled.astype(bool)
        np.testing.assert_array_equal(smac_to_smax[ours.actions][steps], reference.actions[steps])
        np.testing.assert_allclose(ours.reward, 10.0 * reference.reward, rtol=1e-6)
        health = reference.state[..., [0, 10, 20, 30, 40, 50]]  # SMAX: 10 features per unit, health first
        np.testing.assert_array_equal(ours.state[..., [0, 4, 8, 12, 15, 18]], health)
        if limit == 6:
            assert (ours.length == 6).all() and not ours.terminated.any() and not ours.won.any()
        else:
            assert ours.won.all() and (ours.length < limit).all() and ours.terminated.sum() == 2
