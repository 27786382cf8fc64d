"""``n_envs`` SMAC-API environments (StarCraft2Env on sc2: one game process each) behind the batched
interface the evaluator's greedy rollouts use (:func:`rayeaq.learners.qmix.rollout.run_episodes`):

    reset(seeds [B]) -> (obs [B,N,Do], state [B,Ds], avail [B,N,A])
    step(actions [B,N]) -> (obs, state, avail, reward [B], done [B], won [B])

the same contract as :class:`rayeaq.envs.smax.batch.SMAXBatchEnv`: one episode per ``reset``; a finished
environment stays frozen (reward 0, ``done`` and ``won`` kept, its last observation repeated). The
environments step one after the other on the host; on sc2 use ``n_envs = 1`` per rollout actor.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from rayeaq.envs.spec import EnvSpec


class SMACAPIBatch:
    """A list of SMAC-API environments stepped in lock step from the host (numpy, batch axis first)."""

    def __init__(self, make_one: Callable[[int], Any], n_envs: int):
        """``make_one(i)`` builds environment ``i`` (e.g. ``lambda i: make_env(env_cfg, seed=i)``)."""
        self.envs = [make_one(i) for i in range(n_envs)]
        self.spec: EnvSpec = self.envs[0].spec
        self.n_envs = n_envs
        self._done = np.ones(n_envs, bool)
        self._won = np.zeros(n_envs, bool)
        self._last: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.last_terminated = np.zeros(n_envs, bool)

    @staticmethod
    def _observe(env: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        obs = np.asarray(np.stack(env.get_obs()), dtype=np.float32)
        return obs, np.asarray(env.get_state(), dtype=np.float32), np.asarray(env.get_avail_actions()) > 0

    def _stack(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(np.stack([x[i] for x in self._last]) for i in range(3))  # type: ignore[return-value]

    def reset(self, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        seeds = np.asarray(seeds)
        if seeds.shape != (self.n_envs,):
            raise ValueError(f"expected {self.n_envs} seeds, got shape {seeds.shape}")
        for env, seed in zip(self.envs, seeds, strict=True):
            if "seed" in inspect.signature(env.reset).parameters:
                env.reset(seed=int(seed))  # SMAX: per episode; SC2 accepts and ignores it (seeded per process)
            else:
                env.reset()
        self._last = [self._observe(env) for env in self.envs]
        self._done[:], self._won[:] = False, False
        return self._stack()

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions)
        reward = np.zeros(self.n_envs, np.float32)
        self.last_terminated = np.zeros(self.n_envs, bool)
        for i, env in enumerate(self.envs):
            if self._done[i]:
                continue
            r, terminated, info = env.step(actions[i].tolist())
            reward[i] = r
            self._last[i] = self._observe(env)
            truncated = bool(info.get("episode_limit", False))
            if terminated or truncated:
                self._done[i] = True
                self._won[i] = bool(info.get("battle_won", False))
                self.last_terminated[i] = bool(terminated) and not truncated
        obs, state, avail = self._stack()
        return obs, state, avail, reward, self._done.copy(), self._won.copy()

    def close(self) -> None:
        for env in self.envs:
            env.close()
