"""Environment section of a run config."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator

from rayeaq.core.config import StrictModel


class EnvConfig(StrictModel):
    """Which simulator and map; the SMAC API is the same for every backend."""

    backend: str = "smax"
    """A registered backend: `smax` (JAX re-implementation, default), `sc2` (real StarCraft II through oxwhirl SMAC) or `mpe` (JaxMARL particle envs, continuous actions)."""
    map: str = "3m"
    """Map name, e.g. 3m, 8m, 2s3z, 5m_vs_6m (see `python -m rayeaq.collect --list-maps`)."""
    episode_limit: int | None = Field(default=None, ge=1, le=10_000)
    """Steps before truncation; None = SMAC's cap for the map (3m 60, 2s3z 120, ...) or 100."""

    @field_validator("backend")
    @classmethod
    def _registered(cls, value: str) -> str:
        from rayeaq.envs import mpe, sc2, smax  # noqa: F401  (members register on import)
        from rayeaq.envs.backends import BACKENDS

        return BACKENDS.check(value)

    @field_validator("map")
    @classmethod
    def _known_map(cls, value: str, info: ValidationInfo) -> str:
        from rayeaq.envs.backends import BACKENDS

        backend = str(info.data.get("backend"))
        maps = BACKENDS.get(backend).maps() if backend in BACKENDS else ()
        if maps and value not in maps:
            raise ValueError(f"expected a {backend.upper()} map ({', '.join(maps)})")
        return value

    @property
    def resolved_episode_limit(self) -> int:
        from rayeaq.envs.backends import BACKENDS

        if self.episode_limit is not None:
            return self.episode_limit
        return BACKENDS.get(self.backend).default_episode_limit(self.map)
