"""The behaviour-policy section of collection (``collect.policy``): which member of :data:`POLICIES` and its knobs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from rayeaq.core.config import StrictModel

DEFAULT_LADDER = [
    "focus_team",
    "focus_weakest",
    "focus_nearest",
    "random_target",
    "spread_fire",
    "hold_fire",
    "retreat",
]


class PolicyConfig(StrictModel):
    """The behaviour policy (a member of ``rayeaq.policies.POLICIES``) that tiers are collected with."""

    kind: str = "graded"
    """graded: per tier, the scripted policy of ``ladder`` whose own win rate lies in the tier's band, played with
    ``noise``; heuristic_mix: ε-mixture of the focus-fire heuristic and uniform legal actions (ε calibrated per
    tier); qmix_checkpoint: ε-mixture of a QMIX/BC checkpoint's greedy policy (``checkpoint``); qmix_ladder: per
    tier, the checkpoint of an online QMIX run (``online_run``) whose own win rate lies in the band; random: uniform
    legal actions; or one scripted policy by name (focus_weakest, focus_nearest, random_target, spread_fire,
    hold_fire, retreat) played with ``noise`` in every tier."""
    noise: float = Field(default=0.05, ge=0.0, le=1.0)
    """Fixed per-agent, per-step probability of a uniform legal action for scripted policies (graded and by name)."""
    ladder: list[str] = Field(default_factory=lambda: list(DEFAULT_LADDER))
    """Scripted policies that ``graded`` chooses among (the first in the band closest to its centre wins)."""
    target: Literal["weakest", "nearest"] = "weakest"
    """Which enemy in range the heuristic of heuristic_mix attacks: weakest or nearest."""
    checkpoint: str | None = None
    """Path of a QMIX checkpoint when kind = qmix_checkpoint."""
    online_run: str | None = None
    """kind = qmix_ladder: the directory of a ``rayeaq.train_online`` run; every checkpoint its
    ``checkpoints.json`` lists (one per evaluation along training) is a candidate, played with ``noise``."""

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        from rayeaq.policies import POLICIES

        return POLICIES.check(kind)

    @field_validator("ladder")
    @classmethod
    def _scripted_ladder(cls, ladder: list[str]) -> list[str]:
        from rayeaq.policies import scripted_names

        known = scripted_names()
        bad = [name for name in ladder if name not in known]
        if bad or not ladder:
            raise ValueError(f"expected a non-empty list of scripted policies from {list(known)}")
        return ladder
