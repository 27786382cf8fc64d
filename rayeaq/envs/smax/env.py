"""One SMAX environment behind SMAC's API (``StarCraft2Env``'s methods and return values).

``step(actions)`` returns ``(reward, terminated, info)`` with ``info["battle_won"]`` derived from
the units alive and ``info["episode_limit"]`` set on time-limit truncation; the terminal observation
stays readable through ``get_obs()`` after the last step (no auto-reset).
"""

from __future__ import annotations

from functools import partial

import jax
import numpy as np

from rayeaq.envs.smax import core as smax_core
from rayeaq.envs.smax.maps import smax_spec
from rayeaq.envs.spec import EnvSpec


class SMAXEnv:
    """SMAC-API adapter of jaxmarl's ``HeuristicEnemySMAX`` for one map."""

    def __init__(self, map_name: str = "3m", episode_limit: int | None = None, seed: int = 0):
        self.spec: EnvSpec = smax_spec(map_name, episode_limit)
        self.map_name = map_name
        self.n_agents = self.spec.n_agents
        self.n_actions = self.spec.n_actions
        self.episode_limit = self.spec.episode_limit
        self._env = smax_core.make_smax(map_name, self.spec.episode_limit)
        self._reset = jax.jit(partial(smax_core.reset, self._env))
        self._observe = jax.jit(partial(smax_core.observe, self._env))
        self._step = jax.jit(partial(smax_core.step, self._env))
        self._step_keys = jax.jit(smax_core.step_keys)
        self._seed = seed
        self._episode = 0
        self._state = None
        self._t = 0
        self._done = True

    # ---- SMAC API -----------------------------------------------------------------------------
    def reset(self, seed: int | None = None):
        """Start an episode; ``seed`` fixes it (default: the env seed plus an episode counter)."""
        if seed is None:
            seed = self._seed + self._episode
        self._episode += 1
        reset_key, self._run_key = smax_core.episode_keys(seed)
        self._state = self._reset(reset_key)
        self._t, self._done = 0, False
        self._refresh()
        return self.get_obs(), self.get_state()

    def step(self, actions) -> tuple[float, bool, dict]:
        if self._state is None or self._done:
            raise RuntimeError("step() called before reset() or after the episode ended")
        actions = np.asarray(actions, dtype=np.int32).reshape(self.n_agents)
        if not self._avail[np.arange(self.n_agents), actions].all():
            bad = int(np.flatnonzero(~self._avail[np.arange(self.n_agents), actions])[0])
            raise ValueError(f"agent {bad} took unavailable action {int(actions[bad])}")
        _, env_key = self._step_keys(self._run_key, self._t)
        out = self._step(env_key, self._state, actions)
        self._state, self._t = out.state, self._t + 1
        self._done = bool(out.done)
        self._refresh()
        info = {"battle_won": bool(out.won)}
        if self._done and not bool(out.terminated):
            info["episode_limit"] = True
        return float(out.reward), bool(out.terminated), info

    @property
    def done(self) -> bool:
        return self._done

    def get_obs(self) -> list[np.ndarray]:
        return [self._obs[i] for i in range(self.n_agents)]

    def get_obs_agent(self, agent_id: int) -> np.ndarray:
        return self._obs[agent_id]

    def get_obs_size(self) -> int:
        return self.spec.obs_shape

    def get_state(self) -> np.ndarray:
        return self._world

    def get_state_size(self) -> int:
        return self.spec.state_shape

    def get_avail_actions(self) -> list[list[int]]:
        return self._avail.astype(np.int64).tolist()

    def get_avail_agent_actions(self, agent_id: int) -> list[int]:
        return self._avail[agent_id].astype(np.int64).tolist()

    def get_total_actions(self) -> int:
        return self.n_actions

    def get_env_info(self) -> dict:
        return self.spec.env_info()

    def units_alive(self) -> tuple[np.ndarray, np.ndarray]:
        """(allies alive [N], enemies alive [E]) booleans — for checking ``battle_won``."""
        alive = np.asarray(self._state.state.unit_alive)
        return alive[: self.n_agents], alive[self.n_agents :]

    def close(self) -> None:
        self._state = None

    # ---- internals ----------------------------------------------------------------------------
    def _refresh(self) -> None:
        obs, world, avail = self._observe(self._state)
        self._obs, self._world, self._avail = np.array(obs), np.array(world), np.array(avail)
