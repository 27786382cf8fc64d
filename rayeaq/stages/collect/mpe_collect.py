"""MPE collection core: a policy rolled out over many seeded episodes in one jitted ``vmap`` + ``lax.scan``,
assembled into schema-v2 :class:`~rayeaq.data.batch.EpisodeBatch` es and written with
:func:`rayeaq.data.writer.write_dataset`.

An episode depends on its seed only (:mod:`rayeaq.envs.mpe.core`), so any split of the seeds over workers or
chunks gives the same episodes and the same dataset fingerprint. Rows (pymarl's convention): ``T = 26``; rows
0..24 are steps (filled), row 25 the observation/state after the last step; MPE episodes are truncated, never
terminated (``terminated`` all 0), so learners bootstrap from row 25.
"""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rayeaq.core.runinfo import derive_seed
from rayeaq.data.batch import EpisodeBatch
from rayeaq.data.card import DatasetCard
from rayeaq.envs.mpe import core
from rayeaq.envs.mpe.maps import MPE_EPISODE_LIMIT, MPE_MAPS, mpe_spec
from rayeaq.policies.mpe import Policy, expert, random_uniform

REFERENCE_EPISODES = 1000
"""Episodes behind each reference return (random, expert)."""


@lru_cache(maxsize=16)
def rollout_fn(map_name: str, policy: Policy):
    """A jitted ``(seeds [B], epsilon [B]) -> dict`` of obs ``[B, T+1, N, Do]``, state ``[B, T+1, Ds]``, actions
    ``[B, T, N, Da]``, reward ``[B, T]``, agent_reward ``[B, T, N]`` (T = 25 steps). Cached per (map, policy
    object), so a policy reused across chunks compiles once per chunk shape."""
    env, m = core.make_mpe(map_name, MPE_EPISODE_LIMIT), MPE_MAPS[map_name]

    def episode(seed, epsilon):
        reset_key, run_key = core.episode_keys(seed)

        def body(state, t):
            obs, world = core.observe(env, m, state)
            policy_key, env_key = core.step_keys(run_key, t)
            actions = jnp.clip(policy(policy_key, world, obs, epsilon), m.action_low, m.action_high)
            out = core.step(env, m, env_key, state, actions)
            return out.state, (obs, world, actions, out.reward, out.agent_reward)

        last, (obs, world, actions, reward, agent_reward) = jax.lax.scan(
            body, core.reset(env, reset_key), jnp.arange(MPE_EPISODE_LIMIT)
        )
        obs_t, world_t = core.observe(env, m, last)
        return {
            "obs": jnp.concatenate([obs, obs_t[None]]),
            "state": jnp.concatenate([world, world_t[None]]),
            "actions": actions,
            "reward": reward,
            "agent_reward": agent_reward,
        }

    return jax.jit(jax.vmap(episode))


def assemble(arrays: dict[str, Any], episode_ids: np.ndarray, seeds: np.ndarray, behaviour: str) -> EpisodeBatch:
    """Rollout arrays -> a padded :class:`EpisodeBatch` (row T holds the terminal observation, filled 0)."""

    def pad(x):
        x = np.asarray(x)
        return np.concatenate([x, np.zeros_like(x[:, :1])], axis=1)

    b, t = np.asarray(arrays["reward"]).shape
    reward = pad(arrays["reward"]).astype(np.float32)
    return EpisodeBatch(
        obs=np.asarray(arrays["obs"], np.float32),
        state=np.asarray(arrays["state"], np.float32),
        avail_actions=None,
        actions=pad(arrays["actions"]).astype(np.float32),
        reward=reward,
        terminated=np.zeros((b, t + 1), bool),
        filled=np.repeat((np.arange(t + 1) < t)[None], b, 0),
        episode_id=np.asarray(episode_ids, np.int64),
        length=np.full(b, t, np.int64),
        episode_return=reward.sum(1).astype(np.float32),
        battle_won=np.zeros(b, bool),
        seed=np.asarray(seeds, np.int64),
        source=np.array(["real"] * b, object),
        behaviour_policy=np.array([behaviour] * b, object),
        agent_reward=pad(arrays["agent_reward"]).astype(np.float32),
    )


def episode_seeds(root_seed: int, map_name: str, tier: str, episode_ids: np.ndarray) -> np.ndarray:
    """Each episode's seed, derived from the root seed, the map, the tier and its id (never from the clock)."""
    return np.array([derive_seed(root_seed, "mpe", map_name, tier, int(i)) for i in episode_ids], np.int64)


def collect_episodes(
    map_name: str,
    policy: Policy,
    episode_ids: np.ndarray,
    seeds: np.ndarray,
    behaviour: str,
    chunk: int = 1000,
    epsilon: float | np.ndarray = 0.0,
) -> EpisodeBatch:
    """Roll ``policy`` out for the given episodes (``epsilon``: one level, or one per episode), ``chunk``
    environments at a time."""
    run = rollout_fn(map_name, policy)
    eps = np.broadcast_to(np.asarray(epsilon, np.float32), (len(episode_ids),))
    parts = []
    for start in range(0, len(episode_ids), chunk):
        ids, sd, e = episode_ids[start : start + chunk], seeds[start : start + chunk], eps[start : start + chunk]
        parts.append(assemble(run(jnp.asarray(sd, jnp.uint32), jnp.asarray(e)), ids, sd, behaviour))
    return EpisodeBatch.concatenate(parts)


@cache
def reference_returns(map_name: str, episodes: int = REFERENCE_EPISODES, root_seed: int = 0) -> dict[str, float]:
    """Mean episode return of the uniform-random and the scripted expert policies on fixed seeds (the
    normalized score's 0 and 100)."""
    ids = np.arange(episodes)
    seeds = episode_seeds(root_seed, map_name, "reference", ids)
    out = {}
    for name, policy in (("random", random_uniform(map_name)), ("expert", expert(map_name))):
        out[name] = float(collect_episodes(map_name, policy, ids, seeds, name).episode_return.mean())
    return out


def write_mpe_dataset(
    directory: str | Path,
    map_name: str,
    policy: Policy,
    n_episodes: int,
    *,
    root_seed: int,
    tier: str,
    behaviour_policy: dict[str, Any],
    first_id: int = 0,
    shard_episodes: int = 1000,
    code_version: dict[str, Any] | None = None,
) -> DatasetCard:
    """Collect ``n_episodes`` with ``policy`` and write them as a v2 dataset whose card records the map's
    reference returns (so ``stats.normalized_score`` is the D4RL/OMAR normalized return)."""
    from rayeaq.data.writer import write_dataset

    ids = np.arange(first_id, first_id + n_episodes)
    seeds = episode_seeds(root_seed, map_name, tier, ids)
    name = str(behaviour_policy.get("name", tier))
    batch = collect_episodes(map_name, policy, ids, seeds, name)
    reference = reference_returns(map_name)
    return write_dataset(
        directory,
        batch,
        mpe_spec(map_name),
        shard_episodes=shard_episodes,
        source="real",
        tier=tier,
        behaviour_policy=behaviour_policy,
        reference_returns=reference,
        quality={"reference_episodes": REFERENCE_EPISODES, "reference_seed": 0},
        generation={"root_seed": root_seed, "episodes": n_episodes},
        code_version=code_version or {},
    )
