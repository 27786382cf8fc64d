"""MPE backend: ``omar_spread`` against a numpy reference of OMAR's equations, ``spread`` step for step
against mpe2's ``simple_spread_v3`` (when installed), 25-step episodes, sizes, the backend registry."""

from __future__ import annotations

import numpy as np
import pytest

from rayeaq.envs import EnvConfig, env_spec, make_env
from rayeaq.envs.backends import BACKENDS
from rayeaq.envs.mpe.maps import MPE_MAPS


# ---- a numpy reference of OMAR's simple_spread (github.com/ling-pan/OMAR, multiagent-particle-envs) ------------
def omar_reference_step(pos: np.ndarray, vel: np.ndarray, actions: np.ndarray, n: int = 3):
    """One step of OMAR's Cooperative Navigation in float64. ``pos [2N, 2]`` (agents then landmarks),
    ``vel [N, 2]``, ``actions [N, 2]`` -> (pos, vel, per-agent reward [N], obs [N, 18])."""
    pos, vel = pos.copy(), vel.copy()
    force = np.clip(actions, -1, 1) * 5.0  # environment._set_action: u = action * sensitivity (5.0)
    for a in range(n):  # core.World.apply_environment_force: soft contact between colliding agents
        for b in range(a + 1, n):
            delta = pos[a] - pos[b]
            dist = np.sqrt(np.sum(delta**2))
            k = 1e-3
            penetration = np.logaddexp(0, -(dist - 0.3) / k) * k
            f = 100.0 * delta / dist * penetration
            force[a] += f
            force[b] -= f
    vel = vel * (1 - 0.25) + force * 0.1  # core.World.integrate_state: velocity first (mass 1, dt 0.1) ...
    pos[:n] = pos[:n] + vel * 0.1  # ... then position with the new velocity
    reward = np.zeros(n)
    for i in range(n):  # scenarios/simple_spread.Scenario.reward ("modified by ling")
        for lm in range(n, 2 * n):
            d = min(np.sqrt(np.sum((pos[a] - pos[lm]) ** 2)) for a in range(n))
            reward[i] += min(1.0 / d, 10.0)
        for a in range(n):
            if a != i and np.sqrt(np.sum((pos[a] - pos[i]) ** 2)) < 0.3:
                reward[i] -= 5.0
    obs = np.stack(
        [
            np.concatenate(
                [vel[i], pos[i]]
                + [pos[lm] - pos[i] for lm in range(n, 2 * n)]
                + [pos[o] - pos[i] for o in range(n) if o != i]
                + [np.zeros(2 * (n - 1))]
            )
            for i in range(n)
        ]
    )
    return pos, vel, reward, obs


def test_omar_spread_matches_numpy_reference_for_25_steps():
    env = make_env(EnvConfig(backend="mpe", map="omar_spread"))
    rng = np.random.default_rng(0)
    _obs, state = env.reset(seed=5)
    pos, vel = state[:12].reshape(6, 2).astype(np.float64), state[12:].reshape(3, 2).astype(np.float64)
    collisions = 0
    for t in range(25):
        # actions beyond the box are clipped by both; agents 0 and 1 are steered together to force collisions
        actions = rng.uniform(-1.3, 1.3, size=(3, 2))
        actions[0] = np.clip((pos[1] - pos[0]) * 10, -1, 1) if t < 15 else actions[0]
        pos, vel, ref_reward, ref_obs = omar_reference_step(pos, vel, actions)
        reward, terminated, info = env.step(actions)
        collisions += int((ref_reward < 0).any() or np.linalg.norm(pos[0] - pos[1]) < 0.3)
        np.testing.assert_allclose(env.get_state()[:12].reshape(6, 2), pos, atol=1e-5)
        np.testing.assert_allclose(np.stack(env.get_obs()), ref_obs, atol=1e-5)
        np.testing.assert_allclose(info["agent_reward"], ref_reward, rtol=1e-5, atol=1e-4)
        assert reward == pytest.approx(ref_reward.mean(), rel=1e-5, abs=1e-4)
        assert not terminated and env.done == (t == 24)
    assert collisions > 0, "the trajectory never exercised the contact force and collision penalty"
    assert info["episode_limit"] and info["battle_won"] is None
    with pytest.raises(RuntimeError):
        env.step(np.zeros((3, 2)))


def test_spread_matches_mpe2_simple_spread_v3_step_for_step():
    simple_spread_v3 = pytest.importorskip("mpe2.simple_spread_v3", reason="mpe2 (test extra) is not installed")
    ref = simple_spread_v3.parallel_env(N=3, local_ratio=0.5, max_cycles=25, continuous_actions=True)
    ref_obs, _ = ref.reset(seed=3)
    world = ref.unwrapped.world
    env = make_env(EnvConfig(backend="mpe", map="spread"))
    env.reset(seed=0)
    # start both from mpe2's initial state
    import jax.numpy as jnp

    from rayeaq.envs.mpe import core

    m = MPE_MAPS["spread"]
    vector = np.concatenate(
        [
            np.concatenate([e.state.p_pos for e in world.agents + world.landmarks]),
            np.concatenate([a.state.p_vel for a in world.agents]),
        ]
    )
    env._state = core.state_from_vector(core.make_mpe("spread"), m, jnp.asarray(vector, jnp.float32))
    env._refresh()
    names = [a.name for a in world.agents]
    np.testing.assert_allclose(np.stack(env.get_obs()), np.stack([ref_obs[a] for a in names]), atol=1e-6)
    rng = np.random.default_rng(1)
    worst = 0.0
    for t in range(25):
        actions = rng.uniform(0, 1, size=(3, 5)).astype(np.float32)
        actions[0, 1:] = [0, 1, 0, 0] if t < 12 else actions[0, 1:]  # push agent 0 into the others
        ref_obs, ref_rew, _ref_term, ref_trunc, _ = ref.step({a: actions[i] for i, a in enumerate(names)})
        _reward, _terminated, info = env.step(actions)
        worst = max(worst, np.abs(np.stack(env.get_obs()) - np.stack([ref_obs[a] for a in names])).max())
        np.testing.assert_allclose(info["agent_reward"], [ref_rew[a] for a in names], atol=1e-5)
        assert all(ref_trunc[a] == (t == 24) for a in names) and env.done == (t == 24)
    assert worst < 1e-5


@pytest.mark.parametrize("map_name", sorted(MPE_MAPS))
def test_sizes_episode_limit_and_determinism(map_name):
    spec = env_spec(EnvConfig(backend="mpe", map=map_name))
    assert spec.is_box and spec.episode_limit == 25 and not spec.has_success
    env = make_env(EnvConfig(backend="mpe", map=map_name))
    runs = []
    for _ in range(2):
        obs, state = env.reset(seed=11)
        assert np.stack(obs).shape == (spec.n_agents, spec.obs_shape) and state.shape == (spec.state_shape,)
        rewards, steps = [], 0
        rng = np.random.default_rng(2)
        while not env.done:
            r, _, _ = env.step(rng.uniform(spec.action_low, spec.action_high, (spec.n_agents, spec.n_actions)))
            rewards.append(r)
            steps += 1
        assert steps == 25
        runs.append(rewards)
    assert runs[0] == runs[1]


def test_backend_registered_with_maps_table_and_map_check():
    assert set(BACKENDS.get("mpe").maps()) == {"spread", "omar_spread", "tag"}
    table = BACKENDS.get("mpe").maps_table()
    assert "omar_spread" in table and "box2[-1,1]" in table and "scripted" in table
    from rayeaq.core.config import StrictModel  # noqa: F401

    with pytest.raises(ValueError, match="expected a MPE map"):
        EnvConfig(backend="mpe", map="3m")


# ---- the fused collector --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_fused_collector_equals_the_per_env_adapter():
    """The jitted vmap+scan rollout and the SMAC-API adapter, driven by the same policy keys, give the same episode."""
    import jax

    from rayeaq.envs.mpe import core
    from rayeaq.policies.mpe import noisy_expert
    from rayeaq.stages.collect.mpe_collect import collect_episodes

    policy = noisy_expert("omar_spread", 0.3)
    batch = collect_episodes(
        "omar_spread", policy, np.array([7, 8]), np.array([123, 456]), "noisy", chunk=2, epsilon=0.2
    )
    assert batch.actions.shape == (2, 26, 3, 2) and batch.filled[:, :25].all() and not batch.filled[:, 25].any()
    env = make_env(EnvConfig(backend="mpe", map="omar_spread"))
    obs, state = env.reset(seed=456)
    _, run_key = core.episode_keys(456)
    for t in range(25):
        policy_key, _ = core.step_keys(run_key, t)
        actions = np.asarray(jax.jit(policy)(policy_key, state, np.stack(obs), 0.2))
        np.testing.assert_allclose(batch.obs[1, t], np.stack(obs), atol=1e-5)
        np.testing.assert_allclose(batch.actions[1, t], actions, atol=1e-6)
        _reward, _, info = env.step(actions)
        obs, state = env.get_obs(), env.get_state()
        np.testing.assert_allclose(batch.agent_reward[1, t], info["agent_reward"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(batch.state[1, 25], state, atol=1e-5)  # terminal row
    assert batch.episode_return[1] == pytest.approx(batch.reward[1].sum())


@pytest.mark.slow
def test_one_or_two_workers_give_the_same_dataset(tmp_path):
    from rayeaq.data.writer import write_dataset
    from rayeaq.envs.mpe.maps import mpe_spec
    from rayeaq.policies.mpe import random_uniform
    from rayeaq.stages.collect.mpe_collect import collect_episodes, episode_seeds

    policy, ids = random_uniform("spread"), np.arange(8)
    seeds = episode_seeds(5, "spread", "random", ids)
    one = collect_episodes("spread", policy, ids, seeds, "random", chunk=8)
    halves = [collect_episodes("spread", policy, ids[k::2], seeds[k::2], "random", chunk=4) for k in (0, 1)]
    a = write_dataset(tmp_path / "one", one, mpe_spec("spread"), source="real")
    b = write_dataset(
        tmp_path / "two", type(one).concatenate(halves), mpe_spec("spread"), source="real", shard_episodes=3
    )
    assert a.fingerprint == b.fingerprint and a.stats.win_rate is None


@pytest.mark.slow
def test_expert_controllers_beat_uniform_random():
    from rayeaq.policies.mpe import expert, random_uniform
    from rayeaq.stages.collect.mpe_collect import collect_episodes, episode_seeds

    ids = np.arange(64)
    for map_name in ("omar_spread", "spread", "tag"):
        seeds = episode_seeds(0, map_name, "t", ids)
        r = collect_episodes(map_name, random_uniform(map_name), ids, seeds, "random").episode_return.mean()
        e = collect_episodes(map_name, expert(map_name), ids, seeds, "expert").episode_return.mean()
        assert e > r + 0.3 * abs(r) + 5, (map_name, r, e)


def test_mpe_and_smax_load_in_one_process_in_either_order():
    import subprocess
    import sys

    for first, second in (("mpe", "smax"), ("smax", "mpe")):
        code = (
            f"from rayeaq.envs import EnvConfig, make_env\n"
            f"for b, m in [('{first}', {'omar_spread' if first == 'mpe' else '3m'!r}), "
            f"('{second}', {'omar_spread' if second == 'mpe' else '3m'!r})]:\n"
            f"    make_env(EnvConfig(backend=b, map=m)).reset(seed=0)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
