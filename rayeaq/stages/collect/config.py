"""Collection section of a run config: behaviour policies, quality tiers, workers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from rayeaq.core.config import StrictModel
from rayeaq.policies.config import PolicyConfig
from rayeaq.stages.collect.mpe_tiers import MPETierConfig

Tier = Literal["good", "medium", "poor", "medium_replay"]
"""good/medium/poor: played by a behaviour policy chosen by its own win rate; medium_replay (OG-MARL's): the replay
of an online QMIX run up to its first checkpoint in the band (:mod:`rayeaq.stages.collect.medium_replay`)."""
REPLAY_TIERS: tuple[Tier, ...] = ("medium_replay",)
"""Tiers cut from an online run's replay rather than played by a chosen behaviour policy."""


class TierSpec(StrictModel):
    """A quality tier: the band of its behaviour policy's own win rate, optionally with the policy fixed."""

    win_rate: tuple[float, float]
    """[low, high] band of the behaviour policy's own win rate that defines the tier."""
    epsilon: float | None = Field(default=None, ge=0.0, le=1.0)
    """Fix the noise: graded/scripted kinds play every candidate with this noise instead of collect.policy.noise;
    ε-mixtures (heuristic_mix, qmix_checkpoint) use this ε instead of calibrating it to the band."""
    script: str | None = None
    """Fix the scripted policy of this tier (graded, heuristic_mix) instead of choosing it by the band."""

    @field_validator("script")
    @classmethod
    def _scripted(cls, script: str | None) -> str | None:
        from rayeaq.policies import scripted_names

        if script is not None and script not in scripted_names():
            raise ValueError(f"expected one of the scripted policies {list(scripted_names())}")
        return script

    @field_validator("win_rate")
    @classmethod
    def _band(cls, band: tuple[float, float]) -> tuple[float, float]:
        low, high = band
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError("expected [low, high] with 0 <= low <= high <= 1")
        return band


class MediumReplayConfig(StrictModel):
    """Tier ``medium_replay``: the content-addressed online QMIX run whose replay it is cut from."""

    online_config: str | None = None
    """An online QMIX config (``rayeaq.train_online``'s, e.g. tune_configs/online/3m.yaml); its ``seed`` and ``env``
    are replaced by this run's, so ``python -m rayeaq.train_online CONFIG seed=S`` trains (or finds) the same run."""
    overrides: list[str] = []
    """``key=value`` overrides applied to ``online_config`` (e.g. ``online.env_steps=40000``)."""
    online_root: str = "results/online"
    """Where online runs live, one directory per config key (``rayeaq.train_online``'s default): found, not retrained."""


def _default_tiers() -> dict[Tier, TierSpec]:
    """OG-MARL-like tiers by the behaviour policy's own win rate (on 3m: focus_team, focus_nearest, spread_fire).

    The boundaries sit between the 3m ladder's rungs, not on them (own win rates with noise 0.05 in
    benchmarks/RESULTS.md: focus_team 0.51-0.55, focus_nearest 0.34-0.36, random_target 0.20, spread_fire 0.04-0.06),
    so that 128 calibration episodes (standard error ~0.045) choose the same policy whatever the seed."""
    return {
        "good": TierSpec(win_rate=(0.45, 1.0)),
        "medium": TierSpec(win_rate=(0.25, 0.45)),
        "poor": TierSpec(win_rate=(0.0, 0.1)),
        "medium_replay": TierSpec(win_rate=(0.25, 0.45)),  # the replay up to the first checkpoint in medium's band
    }


class CollectConfig(StrictModel):
    """How many episodes of which tiers, collected by how many Ray actors."""

    episodes: int = Field(default=1000, ge=1)
    """Episodes per tier."""
    tiers: list[Tier] = ["good", "medium", "poor"]
    """Tiers to collect (each becomes its own dataset directory)."""
    tier_bands: dict[Tier, TierSpec] = Field(default_factory=_default_tiers)
    """Win-rate band (or fixed ε) per tier; medium_replay's band picks the checkpoint that ends the replay."""
    policy: PolicyConfig = PolicyConfig()
    """The behaviour policy: a member of rayeaq.policies.POLICIES (graded by default) and its knobs."""
    workers: int = Field(default=2, ge=1, le=1024)
    """Ray actors stepping environments in parallel."""
    envs_per_worker: int = Field(default=128, ge=1, le=65_536)
    """Environments each actor steps at once with jax.vmap."""
    cpus_per_worker: float = Field(default=0.5, gt=0.0)
    """Logical CPUs each actor reserves (fractional, so actors never starve other Ray tasks)."""
    shard_episodes: int = Field(default=250, ge=1)
    """Episodes per Parquet shard (one shard = one unit of work and of retry)."""
    calibration_episodes: int = Field(default=128, ge=8)
    """Episodes per candidate policy when measuring own win rates to choose a tier's policy."""
    chunk_steps: int = Field(default=64, ge=1)
    """Env steps per jitted scan call (memory vs. dispatch overhead)."""
    medium_replay: MediumReplayConfig = MediumReplayConfig()
    """Tier medium_replay: the online QMIX run (trained once, content-addressed) whose replay it is."""
    mpe: MPETierConfig = MPETierConfig()
    """env.backend mpe: the OMAR/D4RL tiers (random, medium_replay, medium, medium_expert, expert) collected in
    place of ``tiers``, and the medium calibration."""

    @model_validator(mode="after")
    def _tiers_have_bands(self) -> CollectConfig:
        missing = [t for t in self.tiers if t not in self.tier_bands]
        if missing:
            raise ValueError(f"tiers {missing} have no entry in collect.tier_bands")
        bands = self.tier_bands
        fixed = [t for t in REPLAY_TIERS if t in bands and (bands[t].epsilon, bands[t].script) != (None, None)]
        if fixed:
            raise ValueError(f"tier_bands {fixed}: expected only win_rate (a replay tier has no policy to fix)")
        if any(t in REPLAY_TIERS for t in self.tiers) and self.medium_replay.online_config is None:
            raise ValueError(
                "tier medium_replay needs collect.medium_replay.online_config (an online QMIX config, "
                "e.g. tune_configs/online/3m.yaml)"
            )
        return self
