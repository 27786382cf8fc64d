"""Environment section of a run config."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from rayeaq.core.config import StrictModel
from rayeaq.envs.smax.maps import SMAX_MAPS, default_episode_limit


class EnvConfig(StrictModel):
    """Which simulator and map; the SMAC API is the same for every backend."""

    backend: Literal["smax", "sc2"] = "smax"
    """`smax` (JAX re-implementation, default) or `sc2` (real StarCraft II through oxwhirl SMAC)."""
    map: str = "3m"
    """Map name, e.g. 3m, 8m, 2s3z, 5m_vs_6m (see `python -m rayeaq.collect --list-maps`)."""
    episode_limit: int | None = Field(default=None, ge=1, le=10_000)
    """Steps before truncation; None = SMAC's cap for the map (3m 60, 2s3z 120, ...) or 100."""

    @field_validator("map")
    @classmethod
    def _known_map(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("backend", "smax") == "smax" and value not in SMAX_MAPS:
            raise ValueError(f"expected a SMAX map ({', '.join(SMAX_MAPS)})")
        return value

    @property
    def resolved_episode_limit(self) -> int:
        return self.episode_limit if self.episode_limit is not None else default_episode_limit(self.map)
