"""Environments behind SMAC's API. ``env_spec`` needs no simulator; ``make_env`` builds one env."""

from __future__ import annotations

from rayeaq.envs.config import EnvConfig
from rayeaq.envs.smax.maps import smax_spec
from rayeaq.envs.spec import EnvSpec


def env_spec(cfg: EnvConfig) -> EnvSpec:
    """Sizes and layout of the configured environment (SMAX: computed; SC2: asks the game)."""
    if cfg.backend == "smax":
        return smax_spec(cfg.map, cfg.resolved_episode_limit)
    env = make_env(cfg)
    try:
        return env.spec
    finally:
        env.close()


def make_env(cfg: EnvConfig, seed: int = 0):
    """One environment with SMAC's methods (reset, step, get_obs, get_state, get_avail_actions, ...)."""
    if cfg.backend == "smax":
        from rayeaq.envs.smax.env import SMAXEnv

        return SMAXEnv(cfg.map, cfg.resolved_episode_limit, seed=seed)
    from rayeaq.envs.sc2.env import SC2Env

    return SC2Env(cfg.map, cfg.episode_limit, seed=seed)


__all__ = ["EnvConfig", "EnvSpec", "env_spec", "make_env"]
