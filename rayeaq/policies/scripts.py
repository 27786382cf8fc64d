"""Scripted SMAX policies of graded skill: pure JAX functions of ONE environment (vmapped by the collector).

Every script is ``script(key, env, state, avail [N, A] bool) -> actions [N] int32``, deterministic given its
inputs except ``random_target`` and ``random`` (which draw from ``key``). Deterministic scripts matter for
quality tiers: behaviour cloning on a deterministic poor strategy plus small noise recovers the poor
strategy, whereas cloning a uniform mixture recovers whatever its arbitrary mode happens to be.

From strongest to weakest on 3m (measured own win rates are in ``benchmarks/RESULTS.md``):

- ``focus_team``: like ``focus_weakest`` but ties (full health at the start) broken the same way for every agent,
  so the team focuses from the first volley;
- ``focus_weakest``: all agents attack the weakest enemy in range, else approach the nearest (the heuristic);
- ``focus_nearest``: each agent attacks its nearest enemy in range (partial focus), else approach;
- ``random_target``: each agent attacks a uniformly drawn enemy in range (no focus), else approach;
- ``spread_fire``: each agent attacks the healthiest enemy in range (spreads damage), else approach;
- ``hold_fire``: approach the nearest enemy and attack only the healthiest once *every* agent alive can
  shoot (a hesitant line that wastes the first volleys);
- ``retreat``: move away from the nearest enemy; shoot the healthiest only when cornered;
- ``random``: uniform over available actions.

SMAX action layout: 0..3 move north/east/south/west, 4 stop, 5+j attack enemy j.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rayeaq.envs.smax import core as smax_core
from rayeaq.policies.smax import MOVE_DIRECTIONS, N_MOVES, STOP, heuristic, random_legal


class Geometry(NamedTuple):
    """What the scripts look at, for our ``N`` agents against ``E`` enemies."""

    can_attack: jax.Array  # [N, E] enemy j in agent i's range (from the availability mask)
    enemy_health: jax.Array  # [E] health fraction (0 when dead)
    dist: jax.Array  # [N, E]
    toward: jax.Array  # [N] move action toward the nearest living enemy, STOP when illegal or none alive
    away: jax.Array  # [N] move action away from the nearest living enemy, STOP when illegal or none alive


def geometry(env, state, avail: jax.Array) -> Geometry:
    """Distances, targets in range and the approach/retreat moves of every agent."""
    units = smax_core.unit_view(env, state)
    n = env.num_allies
    delta = units["pos"][n:][None, :, :] - units["pos"][:n][:, None, :]  # [N, E, 2]
    dist = jnp.linalg.norm(delta, axis=-1)
    enemy_alive = units["alive"][n:]
    nearest = jnp.argmin(jnp.where(enemy_alive[None, :], dist, jnp.inf), axis=-1)  # [N]
    direction = jnp.take_along_axis(delta, nearest[:, None, None], axis=1)[:, 0, :]  # [N, 2]
    any_alive = jnp.any(enemy_alive)

    def legal_move(move: jax.Array) -> jax.Array:
        ok = jnp.take_along_axis(avail, move[:, None], axis=1)[:, 0] & any_alive
        return jnp.where(ok, move, STOP)

    return Geometry(
        can_attack=avail[:, N_MOVES + 1 :],
        enemy_health=jnp.where(enemy_alive, units["health"][n:], 0.0),
        dist=dist,
        toward=legal_move(jnp.argmax(direction @ MOVE_DIRECTIONS.T, axis=-1)),
        away=legal_move(jnp.argmax(-direction @ MOVE_DIRECTIONS.T, axis=-1)),
    )


def _attack_or(g: Geometry, target: jax.Array, otherwise: jax.Array) -> jax.Array:
    """Attack ``target [N]`` where the agent can attack anything, else ``otherwise [N]``."""
    return jnp.where(jnp.any(g.can_attack, axis=-1), N_MOVES + 1 + target, otherwise).astype(jnp.int32)


def _healthiest(g: Geometry) -> jax.Array:
    """Per agent, the enemy in range with the most health (ties: nearest) ``[N]``."""
    score = -g.enemy_health[None, :] * 1000.0 + g.dist
    return jnp.argmin(jnp.where(g.can_attack, score, jnp.inf), axis=-1)


def focus_team(key, env, state, avail):
    """Every agent that can shoots the same enemy: the weakest in its range, ties by the team's mean distance."""
    g = geometry(env, state, avail)
    score = g.enemy_health[None, :] * 1000.0 + jnp.mean(g.dist, axis=0)[None, :]
    target = jnp.argmin(jnp.where(g.can_attack, score, jnp.inf), axis=-1)
    return _attack_or(g, target, g.toward)


def focus_weakest(key, env, state, avail):
    """The focus-fire heuristic: weakest enemy in range, else approach the nearest."""
    return heuristic(env, state, avail, 0)


def focus_nearest(key, env, state, avail):
    """Each agent its own nearest enemy in range, else approach."""
    return heuristic(env, state, avail, 1)


def random_target(key, env, state, avail):
    """A uniformly drawn enemy in range per agent and step (no focus), else approach."""
    g = geometry(env, state, avail)
    logits = jnp.where(g.can_attack, 0.0, -jnp.inf)
    target = jax.random.categorical(key, logits, axis=-1)
    return _attack_or(g, target, g.toward)


def spread_fire(key, env, state, avail):
    """The healthiest enemy in range (damage spread over the enemy team), else approach."""
    g = geometry(env, state, avail)
    return _attack_or(g, _healthiest(g), g.toward)


def hold_fire(key, env, state, avail):
    """Approach; shoot the healthiest enemy only once every living agent has a target in range."""
    g = geometry(env, state, avail)
    alive = avail[:, :N_MOVES].any(axis=-1)  # [N] a dead agent can only stop
    has_target = jnp.any(g.can_attack, axis=-1)
    volley = jnp.all(has_target | ~alive)
    action = jnp.where(volley & has_target, N_MOVES + 1 + _healthiest(g), g.toward)
    return action.astype(jnp.int32)


def retreat(key, env, state, avail):
    """Move away from the nearest enemy; shoot the healthiest in range only when no retreat move is legal."""
    g = geometry(env, state, avail)
    cornered = g.away == STOP
    action = jnp.where(cornered & jnp.any(g.can_attack, axis=-1), N_MOVES + 1 + _healthiest(g), g.away)
    return action.astype(jnp.int32)


def uniform(key, env, state, avail):
    """Uniform over available actions."""
    return random_legal(key, avail)


def noisy(script, key: jax.Array, env, state, avail: jax.Array, epsilon: jax.Array) -> jax.Array:
    """Per agent: a uniform legal action with probability ``epsilon``, else the script's ``[N]``.

    The coin and the random action use the same key split as :func:`rayeaq.policies.smax.epsilon_mix`
    (so ``focus_weakest`` with noise ε gives exactly the heuristic ε-mixture's episodes); the script's own
    randomness comes from a third, folded key.
    """
    k_coin, k_rand = jax.random.split(key)
    explore = jax.random.uniform(k_coin, (avail.shape[0],)) < epsilon
    chosen = script(jax.random.fold_in(key, 2), env, state, avail)
    return jnp.where(explore, random_legal(k_rand, avail), chosen)
