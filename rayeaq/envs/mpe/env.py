"""One MPE environment behind SMAC's API, with continuous actions.

``step(actions [N, Da])`` returns ``(reward, terminated, info)``; MPE episodes never terminate, they are
truncated after exactly ``episode_limit`` (25) steps, when ``info["episode_limit"]`` is True (JaxMARL's own done
arrives one step later: the limit is enforced here). ``info["agent_reward"]`` holds the per-agent rewards ``[N]``.
There is no win: ``info["battle_won"]`` is None. ``get_avail_actions()`` is None (box actions).
"""

from __future__ import annotations

from functools import partial

import jax
import numpy as np

from rayeaq.envs.mpe import core
from rayeaq.envs.mpe.maps import MPE_MAPS, mpe_spec
from rayeaq.envs.spec import EnvSpec


class MPEEnv:
    """SMAC-API adapter of one JaxMARL MPE map (``spread``, ``omar_spread``, ``tag``)."""

    def __init__(self, map_name: str = "omar_spread", episode_limit: int | None = None, seed: int = 0):
        self.spec: EnvSpec = mpe_spec(map_name, episode_limit)
        self.map_name, self.n_agents, self.episode_limit = map_name, self.spec.n_agents, self.spec.episode_limit
        self._map = MPE_MAPS[map_name]
        env = core.make_mpe(map_name, self.spec.episode_limit)
        self._reset = jax.jit(partial(core.reset, env))
        self._observe = jax.jit(partial(core.observe, env, self._map))
        self._step = jax.jit(partial(core.step, env, self._map))
        self._step_keys = jax.jit(core.step_keys)
        self._seed, self._episode = seed, 0
        self._state, self._t, self._done = None, 0, True

    def reset(self, seed: int | None = None):
        """Start an episode; ``seed`` fixes it (default: the env seed plus an episode counter)."""
        if seed is None:
            seed = self._seed + self._episode
        self._episode += 1
        reset_key, self._run_key = core.episode_keys(seed)
        self._state = self._reset(reset_key)
        self._t, self._done = 0, False
        self._refresh()
        return self.get_obs(), self.get_state()

    def step(self, actions) -> tuple[float, bool, dict]:
        """``actions [N, Da]`` (clipped to the box) -> (team reward, terminated (always False), info)."""
        if self._state is None or self._done:
            raise RuntimeError("step() called before reset() or after the episode ended")
        actions = np.asarray(actions, dtype=np.float32).reshape(self.n_agents, self.spec.n_actions)
        _, env_key = self._step_keys(self._run_key, self._t)
        out = self._step(env_key, self._state, actions)
        self._state, self._t = out.state, self._t + 1
        self._done = self._t >= self.episode_limit
        self._refresh()
        info = {"battle_won": None, "agent_reward": np.asarray(out.agent_reward)}
        if self._done:
            info["episode_limit"] = True
        return float(out.reward), False, info

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

    def get_avail_actions(self) -> None:
        return None

    def get_total_actions(self) -> int:
        return self.spec.n_actions

    def get_env_info(self) -> dict:
        return dict(self.spec.env_info(), action_space=self.spec.action_space())

    def close(self) -> None:
        self._state = None

    def _refresh(self) -> None:
        obs, world = self._observe(self._state)
        self._obs, self._world = np.array(obs), np.array(world)
