"""JaxMARL's multi-agent particle environments (continuous actions) as an environment backend.

Maps ``spread`` (PettingZoo ``simple_spread_v3``), ``omar_spread`` (OMAR's Cooperative Navigation behind the
DOM2/OMAR/score-decomposition datasets) and ``tag`` (predators against a scripted prey); 25-step episodes.
"""

from __future__ import annotations

from typing import Any

from rayeaq.envs.backends import BACKENDS, Backend
from rayeaq.envs.mpe.maps import (
    MPE_MAPS,
    default_episode_limit,
    list_maps_table,
    mpe_spec,
)


def _make_env(map_name: str, episode_limit: int | None, seed: int) -> Any:
    from rayeaq.envs.mpe.env import MPEEnv

    return MPEEnv(map_name, episode_limit, seed=seed)


BACKENDS.add(
    "mpe",
    Backend(
        "mpe",
        mpe_spec,
        _make_env,
        lambda: tuple(MPE_MAPS),
        list_maps_table,
        default_episode_limit,
        collector="mpe_tiers",
    ),
)
