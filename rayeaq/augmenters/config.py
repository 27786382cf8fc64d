"""The augment section of a run config: which augmenter, how many episodes, how they are sampled and filtered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from rayeaq.core.config import StrictModel


class AugmentConfig(StrictModel):
    """Producing synthetic episodes: which augmenter, how many, how they are sampled and filtered."""

    RETIRED: ClassVar[Mapping[str, str]] = {
        "tasks": "renamed to augment.workers",
        "cpus_per_task": "renamed to augment.cpus_per_worker",
    }

    augmenter: str = "eaq"
    """A registered augmenter (rayeaq.augmenters): none | eaq (λ>0 checkpoint) | eaq_noq (λ=0 checkpoint) |
    dom2_replicate | gaussian_noise."""
    num_episodes: int | None = Field(default=None, ge=1)
    """Synthetic episodes to write; None = ratio × real episodes."""
    ratio: float = Field(default=1.0, ge=0.0)
    """Synthetic data per real data (per transition or per episode, see budget), when sizing and mixing."""
    budget: Literal["transitions", "episodes"] = "transitions"
    """What ratio counts: transitions (every arm adds the same synthetic transitions) or episodes."""
    sampler: Literal["ddim", "ddpm"] = "ddim"
    """ddim (fast, deterministic) or ddpm (all K steps)."""
    sampling_steps: int = Field(default=20, ge=1)
    """DDIM steps (ignored by ddpm)."""
    timestep_spacing: Literal["trailing", "leading"] = "trailing"
    """DDIM step spacing, as diffusers': trailing starts from pure noise (step K-1); leading at (n-1)·K//n."""
    use_ema: bool = True
    """Sample with the EMA weights."""
    batch_size: int = Field(default=256, ge=1)
    """Episodes sampled per forward batch."""
    workers: int = Field(default=2, ge=1, le=4096)
    """Ray tasks the sampling is spread over."""
    cpus_per_worker: float = Field(default=0.5, gt=0.0)
    """Logical CPUs each sampling task reserves."""
    oversample: float = Field(default=1.5, ge=1.0, le=20.0)
    """Sample this many times the requested episodes so that enough survive filtering."""
    drop_illegal: bool = True
    """Drop episodes in which an agent's unrestricted argmax action is unavailable."""
    return_tolerance: float = Field(default=0.05, ge=0.0, le=1.0)
    """Returns up to max_return·(1 + this) are reward noise at the bound (a win): kept, scaled to max_return."""
    done_threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    """Done flag threshold (on the [0, 1] scale)."""
    dom2_thresholds: list[float] = [0.25, 0.5, 0.75]
    """DOM2 Algorithm 1: an episode is copied once per threshold its return reaches (≥), as fractions of the
    map's maximum return (SMAX: 2.0; MPE omar_spread and tag: 750); on MPE spread (rewards never positive, maximum
    0) as fractions of the way from the card's random reference return to its expert one."""
    noise_sigma: float = Field(default=0.05, gt=0.0)
    """gaussian_noise: σ of the noise, in units of each observation feature's real std."""
    fidelity_samples: int = Field(default=1000, ge=10)
    """Observation rows per side used for MMD and coverage."""
    sim_fidelity: bool = True
    """Measure fidelity against the simulator (SMAX: dynamics residual, consistency, memorisation; MPE: physics
    residual, consistency)."""
    sim_keys: int = Field(default=4, ge=1, le=64)
    """Random keys each transition is re-simulated under (SMAX's dynamics residual; MPE's physics is deterministic)."""
    sim_transitions: int = Field(default=1000, ge=10)
    """Transitions per side re-simulated for the dynamics / physics residual (a random subset)."""

    @field_validator("augmenter")
    @classmethod
    def _registered(cls, value: str) -> str:
        from rayeaq.augmenters import (
            AUGMENTERS,  # the registry imports its members, which import this module
        )

        return AUGMENTERS.check(value)

    @field_validator("dom2_thresholds")
    @classmethod
    def _thresholds(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("expected at least one return threshold")
        return sorted(value)
