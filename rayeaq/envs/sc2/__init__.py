"""StarCraft II through oxwhirl SMAC as an environment backend (needs the game; imported lazily)."""

from __future__ import annotations

from typing import Any

from rayeaq.envs.backends import BACKENDS, Backend
from rayeaq.envs.smax.maps import default_episode_limit
from rayeaq.envs.spec import EnvSpec


def _make_env(map_name: str, episode_limit: int | None, seed: int) -> Any:
    from rayeaq.envs.sc2.env import SC2Env

    return SC2Env(map_name, episode_limit, seed=seed)


def _spec(map_name: str, episode_limit: int | None) -> EnvSpec:
    env = _make_env(map_name, episode_limit, 0)  # SMAC's sizes come from the game
    try:
        return env.spec
    finally:
        env.close()


def _table() -> str:
    return "backend sc2: SMAC's map names with SMAC's own sizes (needs StarCraft II and oxwhirl SMAC; see README)."


BACKENDS.add("sc2", Backend("sc2", _spec, _make_env, lambda: (), _table, default_episode_limit))
