"""Scripted behaviour policies for the MPE maps, as pure JAX functions of one environment (vmapped by the
collector).

Every policy maps ``(key, state [Ds], obs [N, Do], epsilon [])`` to actions ``[N, Da]`` inside the map's box;
``epsilon`` is a per-episode mixing level (traced, so one compiled rollout serves every level) that only the
noisy expert reads. Registered in :data:`rayeaq.policies.POLICIES` as ``random``, ``expert`` and ``noisy_expert``
(``load_box_policy(name, map_name)``). The scripted
controllers decide a force direction ``u [N, 2]`` in [−1, 1]² and :func:`to_action` encodes it for the map
(``omar_spread``: ``u`` itself; ``spread``/``tag``: PettingZoo's 5-d ``[no-op, left, right, down, up]``).

- :func:`random_uniform`: uniform in the action box (OMAR/D4RL ``random``).
- :func:`expert`: Spread — the landmark assignment minimising the total agent–landmark distance (all N!
  permutations) plus PD control toward the assigned landmark; Tag — pursuit of the prey's predicted position.
- :func:`noisy_expert`: Gaussian noise of std ``sigma`` on the expert's direction, and with probability
  ``epsilon`` per agent and step a uniform action (the ``medium`` tiers are calibrated over ``epsilon``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from rayeaq.envs.mpe.maps import MPE_MAPS, MPEMap
from rayeaq.envs.mpe.scenarios import direction_to_pz

KP = 4.0
"""Proportional gain of the PD controller (force direction per unit of position error)."""
KD = 1.0
"""Derivative gain (per unit of velocity): damps the approach so agents stop on the landmark."""
PREY_LEAD = 0.3
"""Tag: predators aim at prey position + PREY_LEAD × prey velocity (seconds of lead)."""

Policy = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]
"""``(key, state [Ds], obs [N, Do], epsilon []) -> actions [N, Da]``."""


def unpack_state(m: MPEMap, state: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Global state ``[Ds]`` -> (positions ``[E, 2]`` agents, scripted agents, landmarks; velocities ``[N_total, 2]``)."""
    e = m.n_total + m.n_landmarks
    return state[: 2 * e].reshape(e, 2), state[2 * e :].reshape(m.n_total, 2)


def to_action(m: MPEMap, u: jax.Array) -> jax.Array:
    """Force directions ``[N, 2]`` in [−1, 1]² -> the map's actions ``[N, Da]``."""
    u = jnp.clip(u, -1.0, 1.0)
    return direction_to_pz(u) if m.action_dim == 5 else u


def pd_control(target: jax.Array, pos: jax.Array, vel: jax.Array) -> jax.Array:
    """``clip(KP·(target − pos) − KD·vel, −1, 1)``, all ``[N, 2]``."""
    return jnp.clip(KP * (target - pos) - KD * vel, -1.0, 1.0)


def _permutations(n: int) -> jax.Array:
    return jnp.array(list(itertools.permutations(range(n))), dtype=jnp.int32)  # [n!, n]


def spread_directions(m: MPEMap, state: jax.Array) -> jax.Array:
    """Optimal assignment (min Σ distance over all permutations) + PD control: ``u [N, 2]``."""
    pos, vel = unpack_state(m, state)
    agents, landmarks = pos[: m.n_agents], pos[m.n_total :]
    dist = jnp.linalg.norm(agents[:, None, :] - landmarks[None, :, :], axis=-1)  # [N, L]
    perms = _permutations(m.n_agents)  # [P, N]: agent i -> landmark perms[p, i]
    cost = jnp.sum(jnp.take_along_axis(dist[None].repeat(perms.shape[0], 0), perms[:, :, None], 2)[..., 0], -1)
    target = landmarks[perms[jnp.argmin(cost)]]
    return pd_control(target, agents, vel[: m.n_agents])


def tag_directions(m: MPEMap, state: jax.Array) -> jax.Array:
    """Every predator chases the prey's position a little ahead (``PREY_LEAD``): ``u [N, 2]``."""
    pos, vel = unpack_state(m, state)
    prey = pos[m.n_agents] + PREY_LEAD * vel[m.n_agents]
    direction = prey[None, :] - pos[: m.n_agents]
    return direction / jnp.maximum(jnp.max(jnp.abs(direction), axis=-1, keepdims=True), 1e-6)


EXPERT_DIRECTIONS: dict[str, Callable[[MPEMap, jax.Array], jax.Array]] = {
    "spread": spread_directions,
    "omar_spread": spread_directions,
    "tag": tag_directions,
}
"""The scripted controller of each map."""


def random_uniform(map_name: str) -> Policy:
    """Uniform actions in the map's box."""
    m = MPE_MAPS[map_name]

    def policy(key, state, obs, epsilon=0.0):
        return jax.random.uniform(key, (m.n_agents, m.action_dim), minval=m.action_low, maxval=m.action_high)

    return policy


def expert(map_name: str) -> Policy:
    """The map's scripted controller (deterministic; ignores ``epsilon``)."""
    m = MPE_MAPS[map_name]
    directions = EXPERT_DIRECTIONS[map_name]

    def policy(key, state, obs, epsilon=0.0):
        return to_action(m, directions(m, state))

    return policy


def noisy_expert(map_name: str, sigma: float = 0.0) -> Policy:
    """Expert direction + N(0, sigma²) noise; with probability ``epsilon`` (the call's argument) per agent and step
    a uniform action instead."""
    m = MPE_MAPS[map_name]
    directions = EXPERT_DIRECTIONS[map_name]
    uniform = random_uniform(map_name)

    def policy(key, state, obs, epsilon=0.0):
        k_noise, k_coin, k_rand = jax.random.split(key, 3)
        u = directions(m, state) + sigma * jax.random.normal(k_noise, (m.n_agents, 2))
        explore = jax.random.uniform(k_coin, (m.n_agents, 1)) < epsilon
        return jnp.where(explore, uniform(k_rand, state, obs), to_action(m, u))

    return policy
