"""Pure JAX functions over ONE SMAX environment (vmap them for batches).

These are the only functions that touch jaxmarl's SMAX internals; the per-env SMAC-API adapter, the
batched adapter and the fused collector all go through them, so an episode seeded the same way is
the same episode on every path.

Randomness of an episode is derived from its seed alone:
``reset_key, run_key = split(PRNGKey(seed))``; step ``t`` uses ``fold_in(run_key, t)`` split into a
policy key and an environment key.
"""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rayeaq.envs.smax.imports import load_smax


class StepOut(NamedTuple):
    """Result of one step of one environment."""

    state: Any  # jaxmarl HeuristicEnemySMAX state
    reward: jax.Array  # [] team reward
    done: jax.Array  # [] episode over (win, loss or time limit)
    won: jax.Array  # [] all enemies dead and an ally alive
    terminated: jax.Array  # [] over by battle outcome (not by the time limit)


@cache
def make_smax(map_name: str, episode_limit: int):
    """jaxmarl's ``HeuristicEnemySMAX`` (SMAC's setting: our agents vs the scripted enemy)."""
    smax = load_smax()
    return smax.HeuristicEnemySMAX(scenario=smax.map_name_to_scenario(map_name), max_steps=episode_limit)


def episode_keys(seed: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(reset_key, run_key) of the episode with this integer seed."""
    keys = jax.random.split(jax.random.PRNGKey(seed))
    return keys[0], keys[1]


def step_keys(run_key: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(policy_key, env_key) of step ``t``."""
    keys = jax.random.split(jax.random.fold_in(run_key, t))
    return keys[0], keys[1]


def reset(env, reset_key: jax.Array):
    """Fresh environment state."""
    _, state = env.reset(reset_key)
    return state


def observe(env, state) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(obs [N, Do] f32, global state [Ds] f32, avail [N, A] bool) of our agents."""
    inner = state.state
    all_obs = env._env.get_obs(inner)
    obs = jnp.stack([all_obs[a] for a in env.agents]).astype(jnp.float32)
    world = env._env.get_world_state(inner).astype(jnp.float32)
    avail_all = env._env.get_avail_actions(inner)
    avail = jnp.stack([avail_all[a] for a in env.agents]).astype(jnp.bool_)
    return obs, world, avail


def outcome(env, state) -> tuple[jax.Array, jax.Array]:
    """(won, battle_over): enemies all dead with an ally alive; one side wiped out."""
    alive = state.state.unit_alive
    allies_alive = jnp.any(alive[: env.num_allies])
    enemies_alive = jnp.any(alive[env.num_allies :])
    return (~enemies_alive) & allies_alive, (~enemies_alive) | (~allies_alive)


def step(env, env_key: jax.Array, state, actions: jax.Array) -> StepOut:
    """Advance one step with ``actions [N]`` (ints); no auto-reset, so the terminal state is kept."""
    action_dict = {agent: actions[i] for i, agent in enumerate(env.agents)}
    _, next_state, rewards, dones, _ = env.step_env(env_key, state, action_dict)
    won, battle_over = outcome(env, next_state)
    done = dones["__all__"]
    return StepOut(
        state=next_state,
        reward=rewards[env.agents[0]].astype(jnp.float32),
        done=done,
        won=won & done,
        terminated=battle_over & done,
    )


def unit_view(env, state) -> dict[str, jax.Array]:
    """Positions [U, 2], alive [U], health fraction [U], attack range [U] of all units (allies first)."""
    inner = state.state
    types = inner.unit_types
    return {
        "pos": inner.unit_positions,
        "alive": inner.unit_alive,
        "health": inner.unit_health / env._env.unit_type_health[types],
        "attack_range": env._env.unit_type_attack_ranges[types],
    }
