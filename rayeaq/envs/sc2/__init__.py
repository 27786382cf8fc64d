"""StarCraft II through oxwhirl SMAC as an environment backend (needs the game; imported lazily).

Collected through SMAC's API by one Ray actor per game process (``collector="smac_api"``) and evaluated the
same way (:class:`rayeaq.envs.sc2.batch.SMACAPIBatch`, one game per rollout process).
"""

from __future__ import annotations

from typing import Any

from rayeaq.envs.backends import BACKENDS, Backend
from rayeaq.envs.smax.maps import default_episode_limit
from rayeaq.envs.spec import EnvSpec


def _make_env(map_name: str, episode_limit: int | None, seed: int) -> Any:
    from rayeaq.envs.sc2.env import SC2Env

    return SC2Env(map_name, episode_limit, seed=seed)


def _spec(map_name: str, episode_limit: int | None) -> EnvSpec:
    env = _make_env(map_name, episode_limit, 0)  # SMAC's sizes come from its map table (no game launched)
    try:
        return env.spec
    finally:
        env.close()


def _batch_env(env_cfg: Any, n_envs: int) -> Any:
    from rayeaq.envs.sc2.batch import SMACAPIBatch

    # One StarCraft II process per rollout process: parallel games come from evaluate.rollout_workers.
    return SMACAPIBatch(lambda i: _make_env(env_cfg.map, env_cfg.episode_limit, i), 1)


def _check_available() -> None:
    from rayeaq.envs.sc2.env import check_sc2_available

    check_sc2_available()


def _table() -> str:
    return "backend sc2: SMAC's map names with SMAC's own sizes (needs StarCraft II and oxwhirl SMAC; see README)."


BACKENDS.add(
    "sc2",
    Backend(
        "sc2",
        _spec,
        _make_env,
        lambda: (),
        _table,
        default_episode_limit,
        collector="smac_api",
        batch_env=_batch_env,
        check_available=_check_available,
    ),
)
