"""Many SMAX environments stepped at once (``jax.vmap``), actions chosen on the host.

Used where the policy lives outside JAX (QMIX greedy rollouts, a checkpoint as behaviour policy).
Each environment plays one episode per :meth:`reset`; once done it stays frozen (reward 0).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from rayeaq.envs.config import EnvConfig
from rayeaq.envs.smax import core as smax_core
from rayeaq.envs.smax.maps import smax_spec
from rayeaq.envs.spec import EnvSpec


class SMAXBatchEnv:
    """``n_envs`` SMAX episodes in lock step. Arrays are numpy, batch axis first."""

    def __init__(self, env_cfg: EnvConfig, n_envs: int):
        if env_cfg.backend != "smax":
            raise ValueError("SMAXBatchEnv needs env.backend = smax")
        self.spec: EnvSpec = smax_spec(env_cfg.map, env_cfg.resolved_episode_limit)
        self.n_envs = n_envs
        env = smax_core.make_smax(env_cfg.map, self.spec.episode_limit)
        self._reset = jax.jit(jax.vmap(partial(_reset_one, env)))
        self._step = jax.jit(jax.vmap(partial(_step_one, env)))
        self._carry = None

    def reset(self, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start one episode per seed: returns obs [B,N,Do], state [B,Ds], avail [B,N,A]."""
        seeds = np.asarray(seeds, dtype=np.uint32)
        if seeds.shape != (self.n_envs,):
            raise ValueError(f"expected {self.n_envs} seeds, got shape {seeds.shape}")
        self._carry, obs = self._reset(jnp.asarray(seeds))
        return tuple(np.asarray(x) for x in obs)  # type: ignore[return-value]

    def step(self, actions: np.ndarray):
        """actions [B,N] -> (obs, state, avail, reward [B], done [B], won [B]).

        ``done`` and ``won`` stay set once an episode has ended (won: the episode ended in a win);
        finished environments are frozen and give reward 0.
        """
        self._carry, out = self._step(self._carry, jnp.asarray(actions, dtype=jnp.int32))
        *out, terminated = (np.asarray(x) for x in out)
        self.last_terminated = terminated  # [B] this step ended the battle (not the time limit)
        return tuple(out)


def _reset_one(env, seed):
    reset_key, run_key = smax_core.episode_keys(seed)
    state = smax_core.reset(env, reset_key)
    carry = (state, run_key, jnp.int32(0), jnp.array(False), jnp.array(False))
    return carry, smax_core.observe(env, state)


def _step_one(env, carry, actions):
    state, run_key, t, was_done, won = carry
    _, env_key = smax_core.step_keys(run_key, t)
    out = smax_core.step(env, env_key, state, actions)
    new_state = jax.tree.map(lambda new, old: jnp.where(was_done, old, new), out.state, state)
    obs, world, avail = smax_core.observe(env, new_state)
    reward = jnp.where(was_done, 0.0, out.reward)
    won = won | (out.won & ~was_done)
    terminated = out.terminated & ~was_done
    done = was_done | out.done
    carry = (new_state, run_key, t + jnp.where(was_done, 0, 1), done, won)
    return carry, (obs, world, avail, reward, done, won, terminated)
