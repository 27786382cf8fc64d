"""Pure JAX functions over ONE MPE environment (vmap them for batches).

Every MPE path — the per-env SMAC-API adapter, the batched adapter, the fused collector and greedy evaluation —
goes through these, so an episode seeded the same way is the same episode on every path. Randomness of an
episode comes from its seed alone (as SMAX): ``reset_key, run_key = split(PRNGKey(seed))``; step ``t`` uses
``fold_in(run_key, t)`` split into a policy key and an environment key.

Shapes: ``N`` learning agents, ``Da`` action dims, ``Do`` observation size, ``Ds`` global-state size
(:mod:`rayeaq.envs.mpe.maps`). The episode limit (25) is the caller's: these functions never end an episode.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rayeaq.envs.mpe import scenarios
from rayeaq.envs.mpe.maps import MPEMap


class StepOut(NamedTuple):
    """Result of one step of one MPE environment."""

    state: Any  # JaxMARL MPE State
    reward: jax.Array  # [] team reward: mean of the learning agents' rewards
    agent_reward: jax.Array  # [N] each learning agent's reward


@cache
def make_mpe(map_name: str, episode_limit: int = 25):
    """The JaxMARL MPE environment object of a map (cached: jitted functions key on it)."""
    builders: dict[str, Callable[..., Any]] = {
        "spread": scenarios.make_spread,
        "omar_spread": scenarios.OmarSpreadMPE,
        "tag": scenarios.make_tag,
    }
    return builders[map_name](max_steps=episode_limit)


def episode_keys(seed: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(reset_key, run_key) of the episode with this integer seed."""
    keys = jax.random.split(jax.random.PRNGKey(seed))
    return keys[0], keys[1]


def step_keys(run_key: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(policy_key, env_key) of step ``t``."""
    keys = jax.random.split(jax.random.fold_in(run_key, t))
    return keys[0], keys[1]


def reset(env, reset_key: jax.Array):
    """Fresh environment state (JaxMARL's reset: every entity uniform in [−1, 1]², velocities 0)."""
    _, state = env.reset(reset_key)
    return state


def observe(env, m: MPEMap, state) -> tuple[jax.Array, jax.Array]:
    """(obs ``[N, Do]`` f32 of the learning agents, global state ``[Ds]`` f32 = positions then velocities)."""
    all_obs = env.get_obs(state)
    obs = jnp.stack([all_obs[a] for a in env.agents[: m.n_agents]]).astype(jnp.float32)
    return obs, state_vector(m, state)


def state_vector(m: MPEMap, state) -> jax.Array:
    """Global state ``[Ds]``: every entity's position ``[E, 2]`` then every simulated agent's velocity."""
    return jnp.concatenate([state.p_pos.reshape(-1), state.p_vel[: m.n_total].reshape(-1)]).astype(jnp.float32)


def state_from_vector(env, m: MPEMap, vector: jax.Array, step: int | jax.Array = 0):
    """Inverse of :func:`state_vector` (communication zero: every MPE agent here is silent)."""
    e = m.n_total + m.n_landmarks
    pos = vector[: 2 * e].reshape(e, 2)
    vel = jnp.zeros((e, 2)).at[: m.n_total].set(vector[2 * e :].reshape(m.n_total, 2))
    _, template = env.reset(jax.random.PRNGKey(0))
    return template.replace(p_pos=pos, p_vel=vel, step=jnp.asarray(step, template.step.dtype))


def step(env, m: MPEMap, env_key: jax.Array, state, actions: jax.Array) -> StepOut:
    """Advance one step with ``actions [N, Da]`` (clipped to the map's box); tag's prey acts by its script."""
    actions = jnp.clip(actions.astype(jnp.float32), m.action_low, m.action_high)
    if m.n_scripted:
        prey = scenarios.direction_to_pz(scenarios.scripted_prey(state, m.n_agents, m.n_agents))
        actions = jnp.concatenate([actions, prey[None, :]], axis=0)
    action_dict = {agent: actions[i] for i, agent in enumerate(env.agents)}
    _, next_state, rewards, _, _ = env.step_env(env_key, state, action_dict)
    agent_reward = jnp.stack([rewards[a] for a in env.agents[: m.n_agents]]).astype(jnp.float32)
    return StepOut(state=next_state, reward=jnp.mean(agent_reward), agent_reward=agent_reward)
