"""Many MPE environments stepped at once (``jax.vmap``), actions chosen on the host (greedy evaluation of a
torch policy). Every episode lasts exactly ``episode_limit`` (25) steps, so all environments stay in lock step."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from rayeaq.envs.mpe import core
from rayeaq.envs.mpe.maps import MPE_MAPS, mpe_spec


class MPEBatchEnv:
    """``n_envs`` episodes of one map; arrays are numpy with the batch axis first."""

    def __init__(self, map_name: str, n_envs: int, episode_limit: int | None = None):
        self.spec = mpe_spec(map_name, episode_limit)
        self.n_envs = n_envs
        env, m = core.make_mpe(map_name, self.spec.episode_limit), MPE_MAPS[map_name]
        self._reset = jax.jit(jax.vmap(partial(_reset_one, env, m)))
        self._step = jax.jit(jax.vmap(partial(_step_one, env, m)))
        self._carry = None
        self.t = 0

    def reset(self, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One episode per seed -> (obs ``[B, N, Do]``, state ``[B, Ds]``)."""
        seeds = np.asarray(seeds, dtype=np.uint32)
        if seeds.shape != (self.n_envs,):
            raise ValueError(f"expected {self.n_envs} seeds, got shape {seeds.shape}")
        self._carry, (obs, state) = self._reset(jnp.asarray(seeds))
        self.t = 0
        return np.asarray(obs), np.asarray(state)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
        """``actions [B, N, Da]`` -> (obs, state, reward ``[B]``, agent_reward ``[B, N]``, done after this step)."""
        if self._carry is None or self.t >= self.spec.episode_limit:
            raise RuntimeError("step() before reset() or after the 25th step")
        self._carry, out = self._step(self._carry, jnp.asarray(actions, dtype=jnp.float32))
        self.t += 1
        obs, state, reward, agent_reward = (np.asarray(x) for x in out)
        return obs, state, reward, agent_reward, self.t >= self.spec.episode_limit


def _reset_one(env, m, seed):
    reset_key, run_key = core.episode_keys(seed)
    state = core.reset(env, reset_key)
    return (state, run_key, jnp.int32(0)), core.observe(env, m, state)


def _step_one(env, m, carry, actions):
    state, run_key, t = carry
    _, env_key = core.step_keys(run_key, t)
    out = core.step(env, m, env_key, state, actions)
    obs, world = core.observe(env, m, out.state)
    return (out.state, run_key, t + 1), (obs, world, out.reward, out.agent_reward)
