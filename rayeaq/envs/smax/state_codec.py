"""SMAX global state vector ``[Ds]`` <-> a SMAX ``State`` that SMAX's own functions accept (pure JAX).

The dataset's ``state`` row is jaxmarl's ``get_world_state``: per unit ``u`` (allies first, ``U`` units)
``[health fraction, x, y, weapon cooldown (raw seconds), 6 unit-type bits]`` (all zero when the unit is
dead), then the ``U`` unit teams, then the ``U`` unit types. Everything ``get_obs`` and
``get_avail_actions`` read is in it except the *previous actions* (SMAX shows every unit's last
movement vector and last attack target in the observations): the allies' previous joint action is
the dataset's ``actions[t-1]``; the enemies' (chosen by the scripted heuristic) is not in the dataset
and travels as :class:`EnemyPrev` — read from the observations where some ally sees the enemy
(:func:`enemy_prev_from_obs`) and irrelevant to every observation where none does.

Dead units: their state features are zero, so the decoded position is (0, 0); SMAX never reads a dead
unit's position (visibility, attacks and collisions are alive-alive only). Alive = health fraction > 0
(SMAX sets ``alive = health > 0`` every world step).

Functions take one row (vmap them): ``world [Ds]``, ``ally_prev [N]`` int, enemy previous movement
``[E, 2]`` and attack ``[E]`` int, step ``[]``.
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np

from rayeaq.envs.smax.imports import load_smax
from rayeaq.envs.smax.maps import SMAX_OWN_FEATURES, SMAX_UNIT_FEATURES


class EnemyPrev(NamedTuple):
    """The enemies' previous actions as SMAX stores them: movement vector ``[E, 2]``, attack ``[E]`` int."""

    move: jax.Array
    attack: jax.Array


def units(env) -> tuple[int, int]:
    """(allies N, enemies E) of a ``HeuristicEnemySMAX``."""
    return env.num_allies, env.num_enemies


def world_fields(world: jax.Array, n_units: int) -> dict[str, jax.Array]:
    """Split a world state ``[..., Ds]`` into health fraction ``[..., U]``, position ``[..., U, 2]``,
    cooldown ``[..., U]``, alive ``[..., U]`` bool, teams ``[..., U]`` and types ``[..., U]`` int."""
    per = world[..., : n_units * SMAX_OWN_FEATURES].reshape(world.shape[:-1] + (n_units, SMAX_OWN_FEATURES))
    tail = world[..., n_units * SMAX_OWN_FEATURES :]
    return {
        "health": per[..., 0],
        "pos": per[..., 1:3],
        "cooldown": per[..., 3],
        "alive": per[..., 0] > 0.0,
        "teams": tail[..., :n_units],
        "types": jnp.round(tail[..., n_units:]).astype(jnp.int32),
    }


def decode_state(env, world: jax.Array, ally_prev: jax.Array, enemy: EnemyPrev, step: jax.Array) -> Any:
    """The inner SMAX ``State`` of one world-state row (the unit's health is fraction × type health)."""
    smax = env._env
    _n, _ = units(env)
    f = world_fields(world.astype(jnp.float32), smax.num_agents)
    types = f["types"].astype(jnp.uint8)
    ally_move, ally_attack = smax._decode_discrete_actions(ally_prev.astype(jnp.int32))
    inner_cls, _ = _state_classes()
    return inner_cls(
        unit_positions=f["pos"],
        unit_alive=f["alive"],
        unit_teams=f["teams"],
        unit_health=f["health"] * smax.unit_type_health[types],
        unit_types=types,
        unit_weapon_cooldowns=f["cooldown"],
        prev_movement_actions=jnp.concatenate([ally_move, enemy.move.astype(jnp.float32)], axis=0),
        prev_attack_actions=jnp.concatenate([ally_attack, enemy.attack.astype(jnp.int32)], axis=0).astype(jnp.int32),
        step=jnp.asarray(step, jnp.int32),
        done=jnp.array(False),
    )


def _state_classes() -> tuple[type, type]:
    """(SMAX's inner ``State``, ``HeuristicEnemySMAX``'s outer ``State``) dataclasses."""
    load_smax()
    from jaxmarl.environments.smax.heuristic_enemy_smax_env import State as OuterState
    from jaxmarl.environments.smax.smax_env import State as InnerState

    return InnerState, OuterState


def wrap(env, inner, enemy: EnemyPrev, enemy_reset_pos: jax.Array) -> Any:
    """The ``HeuristicEnemySMAX`` state around an inner state, with the scripted enemy's memory rebuilt from the
    episode: each enemy keeps shooting the ally it shot last (``enemy.attack``, its previous action) while that
    ally stays in range, and walks to its reset position ``[E, 2]`` mirrored through the map's centre when it
    sees no ally. Health is put back on SMAX's whole hit points (every type's health and attack are whole
    numbers): fraction x maximum carries float residue (9.0000001 - 9 > 0 keeps a killed unit alive)."""
    load_smax()
    from jaxmarl.environments.smax.heuristic_enemy import HeuristicPolicyState

    _, outer = _state_classes()
    smax = env._env
    centre = jnp.array([smax.map_width / 2, smax.map_height / 2], jnp.float32)
    memory = HeuristicPolicyState(
        default_target=centre - (enemy_reset_pos.astype(jnp.float32) - centre),
        last_attacked_enemy=jnp.where(
            enemy.attack >= smax.num_movement_actions, enemy.attack - smax.num_movement_actions, -1
        ).astype(jnp.int32),
    )
    return outer(state=inner.replace(unit_health=jnp.round(inner.unit_health)), enemy_policy_state=memory)


def observe(env, inner) -> tuple[jax.Array, jax.Array]:
    """SMAX's own ``(obs [N, Do] f32, avail [N, A] bool)`` of our agents in an inner state."""
    all_obs = env._env.get_obs(inner)
    avail_all = env._env.get_avail_actions(inner)
    obs = jnp.stack([all_obs[a] for a in env.agents]).astype(jnp.float32)
    avail = jnp.stack([avail_all[a] for a in env.agents]).astype(jnp.bool_)
    return obs, avail


def reward(env, before, after) -> jax.Array:
    """SMAX's own team reward for the transition ``before -> after`` (health drop of the enemies / E,
    + 1 when every enemy is dead and an ally alive)."""
    rewards = env._env.compute_reward(after, before.unit_health, after.unit_health)
    return rewards[env.agents[0]].astype(jnp.float32)


def outcome(env, inner) -> tuple[jax.Array, jax.Array]:
    """(won, battle over) of an inner state: enemies all dead with an ally alive; a side wiped out."""
    n, _ = units(env)
    allies = jnp.any(inner.unit_alive[:n])
    enemies = jnp.any(inner.unit_alive[n:])
    return (~enemies) & allies, (~enemies) | (~allies)


def enemy_prev_from_obs(obs: np.ndarray, n_agents: int, n_enemies: int) -> tuple[np.ndarray, np.ndarray]:
    """The enemies' previous actions as the allies observe them: ``obs [..., N, Do]`` ->
    ``(move [..., E, 2] f32, attack [..., E] int)``; zero where no ally sees the enemy.

    Enemy ``e`` is slot ``N - 1 + e`` of every ally's unit list (13 features: health, dx, dy, last
    movement x/y, last target / (N + 4), cooldown, type bits); the first ally that sees it alive wins.
    """
    obs = np.asarray(obs, np.float32)
    first = (n_agents - 1) * SMAX_UNIT_FEATURES
    slots = obs[..., first : first + n_enemies * SMAX_UNIT_FEATURES]
    slots = slots.reshape(obs.shape[:-1] + (n_enemies, SMAX_UNIT_FEATURES))  # [..., N, E, 13]
    seen = slots[..., 0] > 0.0  # [..., N, E]
    who = np.argmax(seen, axis=-2)  # [..., E] first ally that sees e
    feats = np.take_along_axis(slots, who[..., None, :, None], axis=-3)[..., 0, :, :]  # [..., E, 13]
    any_seen = cast(np.ndarray, seen.any(axis=-2))[..., None]
    move = np.where(any_seen, feats[..., 3:5], 0.0).astype(np.float32)
    attack = np.where(any_seen[..., 0], np.rint(feats[..., 5] * (n_agents + 4)), 0).astype(np.int32)
    return move, attack


STOP_ACTION = 4  # SMAX decodes it as no movement and no attack, what a reset state holds


def ally_prev_actions(actions: np.ndarray) -> np.ndarray:
    """``actions [B, T, N]`` -> the previous joint action of every row ``[B, T, N]``; row 0 gets
    ``stop`` (movement (0, 0), attack 0: a reset state's previous actions)."""
    prev = np.full_like(actions, STOP_ACTION)
    prev[:, 1:] = actions[:, :-1]
    return prev
