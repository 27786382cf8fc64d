"""The real StarCraft II SMAC (oxwhirl/smac) behind the same API, imported lazily.

Needs the game and SMAC installed from its repository — NOT the PyPI package ``smac`` (that is
SMAC3, a hyper-parameter optimiser). See README, "StarCraft II backend", and ``deploy/Dockerfile.sc2``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rayeaq.core.errors import EnvUnavailableError
from rayeaq.envs.smax.maps import MAX_RETURN
from rayeaq.envs.spec import EnvSpec

INSTALL_HINT = (
    "install the game (StarCraft II 4.10 Linux package, maps in $SC2PATH/Maps/SMAC_Maps; see deploy/Dockerfile.sc2) "
    "and oxwhirl SMAC from its repository: pip install 'rayeaq[sc2]' 'git+https://github.com/oxwhirl/smac.git' "
    "(the PyPI package 'smac' is SMAC3, an AutoML tool, not this)"
)
DEFAULT_SC2PATH = "~/StarCraftII"  # where pysc2 looks on Linux when SC2PATH is unset


def sc2_path() -> Path:
    """The StarCraft II directory pysc2 will use: ``$SC2PATH``, else ``~/StarCraftII``."""
    return Path(os.path.expanduser(os.environ.get("SC2PATH", DEFAULT_SC2PATH)))


def check_sc2_available() -> None:
    """One-line :class:`EnvUnavailableError` unless the game (``$SC2PATH/Versions``) and oxwhirl SMAC are here."""
    path = sc2_path()
    if not (path / "Versions").is_dir():
        where = "from SC2PATH" if "SC2PATH" in os.environ else f"SC2PATH is unset, so {DEFAULT_SC2PATH}"
        raise EnvUnavailableError(
            f"env.backend sc2: StarCraft II not found at {path} ({where}; expected {path}/Versions); {INSTALL_HINT}"
        )
    _import_starcraft2env()


def _import_starcraft2env():
    try:
        from smac.env import StarCraft2Env
    except ImportError:
        raise EnvUnavailableError(
            f"env.backend sc2: oxwhirl SMAC is not installed (SC2PATH={sc2_path()}); {INSTALL_HINT}"
        ) from None
    return StarCraft2Env


class SC2Env:
    """Thin wrapper of ``smac.env.StarCraft2Env`` exposing :class:`EnvSpec` like the SMAX adapter.

    One instance is one SC2 process (launched by the first ``reset``). ``reset(seed=...)`` accepts and
    ignores a per-episode seed: the game is seeded once, at construction.
    """

    def __init__(self, map_name: str, episode_limit: int | None = None, seed: int = 0):
        check_sc2_available()
        starcraft2env = _import_starcraft2env()
        try:
            # continuing_episode: SMAC then flags a time-limit end with info["episode_limit"] (else a timeout
            # looks like a battle outcome); it changes nothing else in StarCraft2Env.
            self._env = starcraft2env(map_name=map_name, seed=seed, continuing_episode=True)  # CI: a stand-in
            if episode_limit is not None:  # SMAC takes the limit from its map table, not from an argument
                self._env.episode_limit = episode_limit
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
        if name == "_env":  # not constructed (or being unpickled): no recursion
            raise AttributeError(name)
        # step, get_obs, get_state, get_avail_actions, ... are SMAC's own.
        return getattr(self._env, name)

    def reset(self, seed: int | None = None):
        """SMAC's ``reset()``; ``seed`` is ignored (StarCraft II is seeded per process)."""
        return self._env.reset()

    def get_env_info(self) -> dict:
        return self._env.get_env_info()

    def unit_layout(self):
        """Where SMAC's ``get_state()`` keeps each unit's health and position (SMAC's own feature counts:
        allies ``[health, cooldown, x, y, shield?, type bits]``, enemies ``[health, x, y, shield?, type bits]``)."""
        from rayeaq.envs.unit_layout import UnitLayout

        env = self._env
        nf_al = 4 + env.shield_bits_ally + env.unit_type_bits
        nf_en = 3 + env.shield_bits_enemy + env.unit_type_bits
        return UnitLayout(0, nf_al, self.n_agents * nf_al, nf_en, (0, 2, 3), (0, 1, 2))

    def units_alive(self) -> tuple[np.ndarray, np.ndarray]:
        allies = np.array([u.health > 0 for u in self._env.agents.values()])
        enemies = np.array([u.health > 0 for u in self._env.enemies.values()])
        return allies, enemies

    def close(self) -> None:
        self._env.close()
