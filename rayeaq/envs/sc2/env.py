"""The real StarCraft II SMAC (oxwhirl/smac) behind the same API, imported lazily.

Needs the game and SMAC installed from its repository — NOT the PyPI package ``smac`` (that is
SMAC3, a hyper-parameter optimiser). See README, "StarCraft II backend".
"""

from __future__ import annotations

import numpy as np

from rayeaq.core.errors import EnvUnavailableError
from rayeaq.envs.smax.maps import MAX_RETURN
from rayeaq.envs.spec import EnvSpec

INSTALL_HINT = (
    "install SMAC from its repository (pip install 'rayeaq[sc2]' "
    "'git+https://github.com/oxwhirl/smac.git') and StarCraft II (set SC2PATH); "
    "the PyPI package 'smac' is SMAC3, an AutoML tool, not this"
)


def _import_starcraft2env():
    try:
        from smac.env import StarCraft2Env
    except ImportError:
        raise EnvUnavailableError(f"env.backend sc2: oxwhirl SMAC is not installed; {INSTALL_HINT}") from None
    return StarCraft2Env


class SC2Env:
    """Thin wrapper of ``smac.env.StarCraft2Env`` exposing :class:`EnvSpec` like the SMAX adapter."""

    def __init__(self, map_name: str, episode_limit: int | None = None, seed: int = 0):
        starcraft2env = _import_starcraft2env()
        kwargs = {"map_name": map_name, "seed": seed}
        if episode_limit is not None:
            kwargs["episode_limit"] = episode_limit
        try:
            self._env = starcraft2env(**kwargs)
            info = self._env.get_env_info()
        except FileNotFoundError as err:
            raise EnvUnavailableError(f"env.backend sc2: StarCraft II not found ({err}); {INSTALL_HINT}") from None
        n_actions = info["n_actions"]
        n_enemies = n_actions - 6
        self.spec = EnvSpec(
            backend="sc2",
            map=map_name,
            n_agents=info["n_agents"],
            n_enemies=n_enemies,
            n_actions=n_actions,
            obs_shape=info["obs_shape"],
            state_shape=info["state_shape"],
            episode_limit=info["episode_limit"],
            action_layout=(
                "no_op",
                "stop",
                "move_north",
                "move_south",
                "move_east",
                "move_west",
                *tuple(f"attack_{j}" for j in range(n_enemies)),
            ),
            max_return=MAX_RETURN["sc2"],
            reward_scale="smac: shaped damage/kill reward scaled so an episode's return is at most 20",
        )
        self.n_agents, self.n_actions, self.episode_limit = info["n_agents"], n_actions, info["episode_limit"]

    def __getattr__(self, name: str):
        # reset, step, get_obs, get_state, get_avail_actions, ... are SMAC's own.
        return getattr(self._env, name)

    def get_env_info(self) -> dict:
        return self._env.get_env_info()

    def units_alive(self) -> tuple[np.ndarray, np.ndarray]:
        allies = np.array([u.health > 0 for u in self._env.agents.values()])
        enemies = np.array([u.health > 0 for u in self._env.enemies.values()])
        return allies, enemies

    def close(self) -> None:
        self._env.close()
