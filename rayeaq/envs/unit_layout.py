"""Where each unit's health and position sit in a backend's global state vector (a registry by backend).

Read by policies written against SMAC's API only (``rayeaq.stages.collect.smac_policy``): the same policy
drives SMAX and StarCraft II, and only the layout differs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rayeaq.core.registry import Registry
from rayeaq.envs.spec import EnvSpec


@dataclass(frozen=True)
class UnitLayout:
    """Where the allies' and enemies' features sit in the global state vector.

    Unit ``i`` of a side occupies ``state[offset + i * stride : offset + (i + 1) * stride]``; inside it,
    ``health`` (a fraction, 0 for a dead unit), ``x`` and ``y`` are column indices.
    """

    ally_offset: int
    ally_stride: int
    enemy_offset: int
    enemy_stride: int
    ally_cols: tuple[int, int, int]
    """(health, x, y) columns inside an ally's block."""
    enemy_cols: tuple[int, int, int]
    """(health, x, y) columns inside an enemy's block."""

    def units(self, state: np.ndarray, n_agents: int, n_enemies: int) -> dict[str, np.ndarray]:
        """``state [Ds]`` -> ally/enemy ``health [N]/[E]`` and ``pos [N,2]/[E,2]`` (float32)."""
        state = np.asarray(state, dtype=np.float32)
        allies = state[self.ally_offset : self.ally_offset + n_agents * self.ally_stride].reshape(n_agents, -1)
        enemies = state[self.enemy_offset : self.enemy_offset + n_enemies * self.enemy_stride].reshape(n_enemies, -1)
        ah, ax, ay = self.ally_cols
        eh, ex, ey = self.enemy_cols
        return {
            "ally_health": allies[:, ah],
            "ally_pos": allies[:, [ax, ay]],
            "enemy_health": enemies[:, eh],
            "enemy_pos": enemies[:, [ex, ey]],
        }


UNIT_LAYOUTS: Registry[Callable[[Any, EnvSpec], UnitLayout]] = Registry("state unit layout", "env.backend")
"""``backend -> (env, spec) -> UnitLayout``; the sc2 member asks the game's env, smax computes it."""


@UNIT_LAYOUTS.register("smax")
def _smax_layout(env: Any, spec: EnvSpec) -> UnitLayout:
    # jaxmarl 0.2 world state: (allies + enemies) blocks of [health fraction, x, y, cooldown, type bits],
    # allies first, then unit teams and unit types (NOTES-ray-smax.md, "SMAX state layout").
    stride = spec.state_shape // (spec.n_agents + spec.n_enemies) - 2
    return UnitLayout(0, stride, spec.n_agents * stride, stride, (0, 1, 2), (0, 1, 2))


@UNIT_LAYOUTS.register("sc2")
def _sc2_layout(env: Any, spec: EnvSpec) -> UnitLayout:
    return env.unit_layout()  # rayeaq.envs.sc2.env.SC2Env knows SMAC's shield and unit-type bits
