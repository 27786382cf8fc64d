"""Behaviour policies for SMAX as pure JAX functions of one environment (vmapped by the collector).

- :func:`random_legal`: uniform over each agent's available actions.
- :func:`heuristic`: focus fire — attack the weakest (or nearest) enemy in range, otherwise move
  toward the nearest living enemy; dead agents take ``stop`` (their only legal action).

The scripted policies of graded skill built on these are in :mod:`rayeaq.policies.scripts`.

SMAX action layout: 0..3 move north/east/south/west, 4 stop, 5+j attack enemy j.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rayeaq.envs.smax import core as smax_core

STOP = 4
N_MOVES = 4
# Unit vectors of the four move actions, as SMAX decodes them (checked against SMAX in the tests).
MOVE_DIRECTIONS = jnp.array([[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]])


def random_legal(key: jax.Array, avail: jax.Array) -> jax.Array:
    """``avail [N, A]`` bool -> actions ``[N]``, uniform over the legal ones."""
    logits = jnp.where(avail, 0.0, -jnp.inf)
    return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)


def heuristic(env, state, avail: jax.Array, target_mode: int) -> jax.Array:
    """Scripted focus-fire actions ``[N]`` for our agents (``target_mode`` 0 weakest, 1 nearest)."""
    units = smax_core.unit_view(env, state)
    n = env.num_allies
    ally_pos, enemy_pos = units["pos"][:n], units["pos"][n:]
    enemy_alive = units["alive"][n:]
    delta = enemy_pos[None, :, :] - ally_pos[:, None, :]  # [N, E, 2]
    dist = jnp.linalg.norm(delta, axis=-1)  # [N, E]
    can_attack = avail[:, N_MOVES + 1 :]  # [N, E]
    # weakest: lowest health, ties broken by distance; nearest: distance only
    score = jnp.where(target_mode == 0, units["health"][n:][None, :] * 1000.0 + dist, dist)
    target = jnp.argmin(jnp.where(can_attack, score, jnp.inf), axis=-1)  # [N]
    nearest_alive = jnp.argmin(jnp.where(enemy_alive[None, :], dist, jnp.inf), axis=-1)  # [N]
    direction = jnp.take_along_axis(delta, nearest_alive[:, None, None], axis=1)[:, 0, :]  # [N, 2]
    move = jnp.argmax(direction @ MOVE_DIRECTIONS.T, axis=-1)  # [N]
    move_ok = jnp.take_along_axis(avail, move[:, None], axis=1)[:, 0] & jnp.any(enemy_alive)
    action = jnp.where(jnp.any(can_attack, axis=-1), N_MOVES + 1 + target, jnp.where(move_ok, move, STOP))
    return action.astype(jnp.int32)
