"""The environment-backend family: how a backend is described, and the registry of them.

A backend gives an :class:`~rayeaq.envs.spec.EnvSpec` for a map (sizes, action layout, reward scale),
builds one environment with SMAC's API (``reset``, ``step``, ``get_obs``, ``get_state``,
``get_avail_actions``, ``get_env_info``), lists its maps, and checks a map name. Members register in
their own package (``rayeaq/envs/smax``, ``rayeaq/envs/sc2``); ``rayeaq.envs`` imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rayeaq.core.registry import Registry
from rayeaq.envs.spec import EnvSpec

if TYPE_CHECKING:
    from rayeaq.envs.config import EnvConfig


@dataclass(frozen=True)
class Backend:
    """A simulator family behind SMAC's API."""

    name: str
    spec: Callable[[str, int | None], EnvSpec]
    """``(map, episode_limit or None) -> EnvSpec`` (may start the simulator where sizes need it)."""
    make_env: Callable[[str, int | None, int], Any]
    """``(map, episode_limit or None, seed) -> one environment with SMAC's methods``."""
    maps: Callable[[], tuple[str, ...]]
    """The map names this backend knows (empty: any name, checked by the simulator)."""
    maps_table: Callable[[], str]
    """Text table of the maps for ``--list-maps``."""
    default_episode_limit: Callable[[str], int]
    """A map's episode limit when ``env.episode_limit`` is None."""
    collector: str | None = None
    """How ``python -m rayeaq.collect`` collects it: a member of ``rayeaq.stages.collect.collectors.COLLECTORS``
    (``fused``: the vmapped JAX collector; ``smac_api``: one SMAC-API env per Ray actor, host episode loop), or
    None when another command collects it."""
    batch_env: Callable[[EnvConfig, int], Any] | None = None
    """``(env_cfg, n_envs) -> batched env`` for greedy evaluation rollouts (``reset(seeds [B])``, ``step(actions
    [B, N])``, ``n_envs`` may be fewer than asked: sc2 gives one game per process); None: no greedy evaluation."""
    check_available: Callable[[], None] | None = None
    """Raises a one-line :class:`~rayeaq.core.errors.EnvUnavailableError` when the simulator is not installed
    here (sc2 without the game); None: always available (pip-installed simulators)."""


BACKENDS: Registry[Backend] = Registry("environment backend", "env.backend")
"""Every backend, by name."""
