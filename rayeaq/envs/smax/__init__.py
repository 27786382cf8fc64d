"""SMAX (jaxmarl's JAX re-implementation of SMAC) as an environment backend."""

from __future__ import annotations

from typing import Any

from rayeaq.envs.backends import BACKENDS, Backend
from rayeaq.envs.smax.maps import (
    SMAX_MAPS,
    default_episode_limit,
    list_maps_table,
    smax_spec,
)


def _make_env(map_name: str, episode_limit: int | None, seed: int) -> Any:
    from rayeaq.envs.smax.env import SMAXEnv

    return SMAXEnv(map_name, episode_limit or default_episode_limit(map_name), seed=seed)


def _batch_env(env_cfg: Any, n_envs: int) -> Any:
    from rayeaq.envs.smax.batch import SMAXBatchEnv

    return SMAXBatchEnv(env_cfg, n_envs)


BACKENDS.add(
    "smax",
    Backend(
        "smax",
        smax_spec,
        _make_env,
        lambda: tuple(SMAX_MAPS),
        list_maps_table,
        default_episode_limit,
        collector="fused",
        batch_env=_batch_env,
    ),
)
