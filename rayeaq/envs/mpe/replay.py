"""MPE's own functions over many global-state vectors at once: observations, rewards and one physics step.

A generated MPE episode is a sequence of global states (:func:`rayeaq.envs.mpe.core.state_vector`: entity
positions then agent velocities); this rebuilds JaxMARL's ``State`` from each vector and runs JaxMARL's
``get_obs``, ``rewards`` and ``step_env`` on it (jitted, vmapped over rows). MPE's physics has no noise here
(``u_noise`` and ``c_noise`` are 0), so :meth:`MPEReplay.simulate` is deterministic: a real transition
re-steps to its own next state up to float rounding.

Shapes: ``S`` rows, ``Ds`` state size, ``N`` learning agents, ``Do`` observation size, ``Da`` action dims.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from rayeaq.envs.mpe import core
from rayeaq.envs.mpe.maps import MPE_EPISODE_LIMIT, MPE_MAPS

CHUNK = 4096  # rows per jitted call (bounds memory and keeps one compiled shape)


class MPEReplay:
    """Observation, reward and step functions of one MPE map over batches of state vectors (numpy in, out)."""

    def __init__(self, map_name: str, episode_limit: int = MPE_EPISODE_LIMIT):
        self.map = MPE_MAPS[map_name]
        env = core.make_mpe(map_name, episode_limit)
        self._observe = jax.jit(jax.vmap(partial(_observe_one, env, self.map)))
        self._rewards = jax.jit(jax.vmap(partial(_rewards_one, env, self.map)))
        self._simulate = jax.jit(jax.vmap(partial(_simulate_one, env, self.map)))

    def observe(self, states: np.ndarray) -> np.ndarray:
        """``states [S, Ds]`` -> the learning agents' observations ``[S, N, Do]``."""
        return _chunked(self._observe, states)

    def rewards(self, next_states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``next_states [S, Ds]`` -> (team reward ``[S]``, per-agent rewards ``[S, N]``) of the steps that
        arrived there (JaxMARL computes a step's reward on the state after it)."""
        agent = _chunked(self._rewards, next_states)
        return agent.mean(axis=1).astype(np.float32), agent

    def simulate(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """``states [S, Ds]``, ``actions [S, N, Da]`` (clipped to the box) -> next states ``[S, Ds]``."""
        return _chunked(self._simulate, states, actions.astype(np.float32))


def _chunked(fn, *arrays: np.ndarray) -> np.ndarray:
    """Apply ``fn`` over rows in chunks of :data:`CHUNK` (the last chunk padded by repeating a row)."""
    s = len(arrays[0])
    if s == 0:
        probe = fn(*(jnp.zeros((1,) + a.shape[1:], jnp.float32) for a in arrays))
        return np.zeros((0,) + probe.shape[1:], np.float32)
    out = []
    for start in range(0, s, CHUNK):
        parts = [np.asarray(a[start : start + CHUNK], np.float32) for a in arrays]
        n, size = len(parts[0]), min(CHUNK, s)
        if n < size:
            parts = [np.concatenate([p, np.repeat(p[-1:], size - n, axis=0)]) for p in parts]
        out.append(np.asarray(fn(*(jnp.asarray(p) for p in parts)))[:n])
    return np.concatenate(out).astype(np.float32)


def _observe_one(env, m, vector):
    obs, _ = core.observe(env, m, core.state_from_vector(env, m, vector))
    return obs


def _rewards_one(env, m, vector):
    rewards = env.rewards(core.state_from_vector(env, m, vector))
    return jnp.stack([rewards[a] for a in env.agents[: m.n_agents]]).astype(jnp.float32)


def _simulate_one(env, m, vector, actions):
    out = core.step(env, m, jax.random.PRNGKey(0), core.state_from_vector(env, m, vector), actions)
    return core.state_vector(m, out.state)
