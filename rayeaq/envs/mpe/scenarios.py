"""The MPE scenarios behind the maps: JaxMARL's classes, OMAR's variant of Spread, and Tag's scripted prey.

``omar_spread`` follows OMAR's published environment (github.com/ling-pan/OMAR, commit 3b02d1a):

- ``multiagent-particle-envs/multiagent/scenarios/simple_spread.py``: 3 agents of size 0.15 that collide,
  3 landmarks that do not, positions uniform in [−1, 1]² (``boundary = 1`` for ≤ 3 agents); per-agent reward
  ``Σ_l min(1 / min_a |p_a − p_l|, 10)`` (``# modified by ling``) ``− 5`` for every other agent within
  0.15 + 0.15; observation ``[vel, pos, landmark − pos (3×2), other − pos (2×2), comm (2×2, zeros)]``.
- ``multiagent-particle-envs/multiagent/environment.py``: continuous physical action
  ``Box(−u_range, +u_range, (2,))`` (``u_range = 1``), force ``u = action · 5`` (``sensitivity = 5.0`` as the
  agents have no ``accel``); OMAR's evaluation sums the mean agent reward over 25 steps (``main.py``).
- ``multiagent/core.py`` (OpenAI's MPE, which OMAR vendors): ``integrate_state`` damps and accelerates the
  velocity first, then moves the position with the *new* velocity (``v ← 0.75·v + F·dt; p ← p + v·dt``,
  ``dt = 0.1``, damping 0.25); contact force ``100 · Δp/|Δp| · 0.001·log(1 + exp(−(|Δp| − 0.3)/0.001))``
  between colliding agents.

PettingZoo/mpe2 (and JaxMARL, hence ``spread`` and ``tag``) instead move the position with the *old* velocity
before updating it — the one physics difference between ``spread`` and ``omar_spread``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from rayeaq.envs.mpe.imports import load_mpe

_simple, _spread, _tag = load_mpe()

OMAR_COLLISION_PENALTY = 5.0
OMAR_REWARD_CAP = 10.0


_SimpleSpreadMPE: Any = _spread.SimpleSpreadMPE  # JaxMARL class, loaded at import time


class OmarSpreadMPE(_SimpleSpreadMPE):
    """OMAR's Cooperative Navigation on JaxMARL's MPE machinery (2-d actions in [−1, 1]², see the module)."""

    def __init__(self, num_agents: int = 3, max_steps: int = 25):
        super().__init__(
            num_agents=num_agents,
            num_landmarks=num_agents,
            local_ratio=0.5,
            action_type=_simple.CONTINUOUS_ACT,
            max_steps=max_steps,
        )
        self.action_spaces = {a: _simple.Box(-1.0, 1.0, (2,)) for a in self.agents}

    @partial(jax.vmap, in_axes=[None, 0, 0])
    def _decode_continuous_action(self, a_idx: jax.Array, action: jax.Array):
        """``action [2]`` in [−1, 1]² -> (force [2] = 5·action, comm [0])."""
        u = jnp.clip(action[:2], -1.0, 1.0) * self.accel[a_idx] * self.moveable[a_idx]
        return u, action[2:2]

    @partial(jax.vmap, in_axes=[None, 0, 0, 0, 0, 0, 0])
    def _integrate_state(self, p_force, p_pos, p_vel, mass, moveable, max_speed):
        """OpenAI/OMAR ``World.integrate_state``: velocity first, then position with the new velocity."""
        p_vel = p_vel * (1 - self.damping)
        p_vel = p_vel + (p_force / mass) * self.dt * moveable
        speed = jnp.sqrt(jnp.square(p_vel[0]) + jnp.square(p_vel[1]))
        over_max = p_vel / speed * max_speed
        p_vel = jax.lax.select((speed > max_speed) & (max_speed >= 0), over_max, p_vel)
        p_pos = p_pos + p_vel * self.dt * moveable
        return p_pos, p_vel

    def rewards(self, state):
        """Per-agent OMAR reward: ``Σ_l min(1/min_a d(a, l), 10) − 5 · #collisions(agent)``."""
        n = self.num_agents
        agents, landmarks = state.p_pos[:n], state.p_pos[n:]
        d = jnp.linalg.norm(agents[:, None, :] - landmarks[None, :, :], axis=-1)  # [N, L]
        cover = jnp.sum(jnp.minimum(1.0 / jnp.min(d, axis=0), OMAR_REWARD_CAP))
        pair = jnp.linalg.norm(agents[:, None, :] - agents[None, :, :], axis=-1)  # [N, N]
        hit = (pair < self.rad[:n, None] + self.rad[None, :n]) & ~jnp.eye(n, dtype=bool)
        rew = cover - OMAR_COLLISION_PENALTY * jnp.sum(hit, axis=1)
        return {a: rew[i] for i, a in enumerate(self.agents)}


def make_spread(max_steps: int = 25):
    """PettingZoo ``simple_spread_v3`` (N=3, local_ratio 0.5, continuous 5-d actions) as JaxMARL implements it."""
    return _spread.SimpleSpreadMPE(
        num_agents=3, num_landmarks=3, local_ratio=0.5, action_type=_simple.CONTINUOUS_ACT, max_steps=max_steps
    )


def make_tag(max_steps: int = 25):
    """PettingZoo ``simple_tag_v3`` (3 predators, 1 prey, 2 obstacles, continuous 5-d actions) in JaxMARL."""
    return _tag.SimpleTagMPE(
        num_good_agents=1, num_adversaries=3, num_obs=2, action_type=_simple.CONTINUOUS_ACT, max_steps=max_steps
    )


def direction_to_pz(u: jax.Array) -> jax.Array:
    """Force direction ``u [..., 2]`` in [−1, 1]² -> PettingZoo's 5-d action ``[no-op, left, right, down, up]``
    (decoded as ``(a2 − a1, a4 − a3)``, so the round trip is exact)."""
    u = jnp.clip(u, -1.0, 1.0)
    zero = jnp.zeros_like(u[..., :1])
    return jnp.concatenate(
        [
            zero,
            jnp.maximum(-u[..., :1], 0),
            jnp.maximum(u[..., :1], 0),
            jnp.maximum(-u[..., 1:], 0),
            jnp.maximum(u[..., 1:], 0),
        ],
        axis=-1,
    )


def scripted_prey(state, n_predators: int, prey_index: int) -> jax.Array:
    """Tag's prey (ours; the papers used a pretrained prey that is not published): flee along the sum of
    the predators' inverse-square repulsions, pulled back toward the centre beyond |x|, |y| > 0.8
    (where PettingZoo's boundary penalty starts at 0.9). Returns the force direction ``[2]`` in [−1, 1]²."""
    pos = state.p_pos[prey_index]
    away = pos[None, :] - state.p_pos[:n_predators]  # [P, 2]
    dist2 = jnp.sum(away**2, axis=-1, keepdims=True) + 1e-6
    flee = jnp.sum(away / dist2, axis=0)
    flee = flee / (jnp.linalg.norm(flee) + 1e-6)
    wall = -jnp.sign(pos) * jnp.clip((jnp.abs(pos) - 0.8) * 10.0, 0.0, 3.0)
    u = flee + wall
    return u / jnp.maximum(jnp.max(jnp.abs(u)), 1e-6)
