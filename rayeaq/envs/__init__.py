"""Environments behind SMAC's API, by backend (:data:`BACKENDS`). ``env_spec`` gives sizes; ``make_env`` one env."""

from __future__ import annotations

from typing import Any

from rayeaq.envs import mpe, sc2, smax  # noqa: F401  (backends register themselves on import)
from rayeaq.envs.backends import BACKENDS, Backend
from rayeaq.envs.config import EnvConfig
from rayeaq.envs.spec import EnvSpec


def env_spec(cfg: EnvConfig) -> EnvSpec:
    """Sizes and layout of the configured environment (SMAX: computed; SC2: asks the game)."""
    return BACKENDS.get(cfg.backend).spec(cfg.map, cfg.resolved_episode_limit)


def make_env(cfg: EnvConfig, seed: int = 0) -> Any:
    """One environment with SMAC's methods (reset, step, get_obs, get_state, get_avail_actions, ...)."""
    return BACKENDS.get(cfg.backend).make_env(cfg.map, cfg.resolved_episode_limit, seed)


__all__ = ["BACKENDS", "Backend", "EnvConfig", "EnvSpec", "env_spec", "make_env"]
