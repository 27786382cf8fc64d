"""Settings of the offline continuous-action learners (per-agent actors and twin critics on box actions).

:class:`ContinuousSettings` holds what every such learner reads (budget, optimiser, networks, evaluation);
:class:`TD3BCSettings` adds TD3+BC's (Fujimoto & Gu 2021) and :class:`~rayeaq.learners.cql.config.CQLSettings`
MA-CQL's (OMAR's defaults, Pan et al. 2022).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from rayeaq.core.config import StrictModel

COSINE_POINTS = 32
"""Pieces of the piecewise-linear cosine learning-rate schedule."""


class ContinuousSettings(StrictModel):
    """What every offline continuous-action learner reads."""

    updates: int = Field(default=3000, ge=1, le=10_000_000)
    """Gradient updates (learner steps)."""
    batch_size: int = Field(default=256, ge=1, le=65_536)
    """Transitions per update (uniform over the mixture)."""
    lr: float = Field(default=3e-4, gt=0.0, le=1.0)
    """Adam learning rate of actors and critics (the start of the schedule when ``lr_decay`` is not none)."""
    lr_decay: Literal["none", "linear", "cosine"] = "none"
    """Learning-rate schedule over the ``updates`` budget, down to 0 at its end (RLlib's piecewise-linear ``lr``
    schedule on sampled transitions; ``cosine`` in :data:`COSINE_POINTS` pieces)."""
    gamma: float = Field(default=0.99, ge=0.0, le=1.0)
    """Discount factor."""
    tau: float = Field(default=0.005, gt=0.0, le=1.0)
    """Polyak rate of the target networks (after each actor update)."""
    hidden_dim: int = Field(default=256, ge=1, le=4096)
    """Width of the two hidden layers of every actor and critic."""
    reward_scale: float | Literal["auto"] = 1.0
    """Factor on the rewards the critics learn from; ``auto`` = (1 − γ) / mean |r| of the data's per-agent rewards,
    so that Q of the data's average reward is about 1 (the actor's objective does not change: TD3+BC's λ divides
    by mean |Q|; the critic reaches its scale in far fewer updates)."""
    eval_interval: int = Field(default=1000, ge=1)
    """Updates between intermediate evaluations."""
    eval_episodes: int = Field(default=100, ge=1, le=100_000)
    """Greedy evaluation episodes at each evaluation (seeds derive_seed(seed, "evaluate", "episodes") + i)."""
    eval_envs: int = Field(default=100, ge=1, le=65_536)
    """Environments stepped at once (jax.vmap) during evaluation."""
    torch_threads: int = Field(default=1, ge=1, le=256)
    """torch.set_num_threads in the learner process."""
    checkpoint: bool = True
    """Write an RLlib checkpoint of the final algorithm to OUT/checkpoint."""

    LOSS_OPTIONS: ClassVar[tuple[str, ...]] = ()
    """The learner's own fields, passed to its RLlib config under the same names."""

    def loss_options(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.LOSS_OPTIONS}

    def lr_schedule(self) -> float | list[list[float]]:
        """RLlib's ``lr``: the number, or ``[[transitions sampled, lr], ...]`` from ``lr`` to 0 over the budget
        (``updates × batch_size`` transitions; RLlib interpolates linearly between the points)."""
        if self.lr_decay == "none":
            return self.lr
        end = self.updates * self.batch_size
        if self.lr_decay == "linear":
            return [[0, self.lr], [end, 0.0]]
        fractions = [i / COSINE_POINTS for i in range(COSINE_POINTS + 1)]
        return [[round(f * end), 0.5 * self.lr * (1.0 + math.cos(math.pi * f))] for f in fractions]

    @field_validator("reward_scale")
    @classmethod
    def _positive(cls, value: float | str) -> float | str:
        if value != "auto" and not float(value) > 0:
            raise ValueError("expected a positive number or auto")
        return value


class TD3BCSettings(ContinuousSettings):
    """Hyper-parameters of offline MA-TD3+BC (independent TD3 per agent with a behaviour-cloning term).

    The defaults are the ones measured on expert ``omar_spread`` data (benchmarks/RESULTS.md, "Continuous actions
    on MPE"): the actor trained every update (``policy_freq`` 1, as OMAR's MATD3; TD3's delay of 2 halves the
    imitation budget), batch 1 024 and γ 0.95 (OMAR's on MPE), a constant lr 1e-3 (``lr_decay`` cosine measured
    worse at a 2 000-update budget) and the critic's rewards scaled automatically (``reward_scale: auto``)."""

    LOSS_OPTIONS = ("policy_noise", "noise_clip", "policy_freq", "alpha")

    batch_size: int = Field(default=1024, ge=1, le=65_536)
    """Transitions per update (OMAR's on MPE)."""
    lr: float = Field(default=1e-3, gt=0.0, le=1.0)
    """Adam learning rate (constant: a cosine decay over 2 000 updates cost 14 points on expert data)."""
    gamma: float = Field(default=0.95, ge=0.0, le=1.0)
    """Discount factor (OMAR's on the particle environments)."""
    reward_scale: float | Literal["auto"] = "auto"
    """``auto``: (1 − γ) / mean |r| of the data (see :class:`ContinuousSettings`)."""

    policy_noise: float = Field(default=0.2, ge=0.0)
    """Std of the target-policy smoothing noise (actions scaled to [-1, 1])."""
    noise_clip: float = Field(default=0.5, ge=0.0)
    """Clip of the target-policy smoothing noise."""
    policy_freq: int = Field(default=1, ge=1)
    """Critic updates per actor update (TD3's delay; 1 = the actor every update, as OMAR's MATD3)."""
    alpha: float = Field(default=2.5, ge=0.0)
    """TD3+BC's α: λ = α / mean|Q| weighs the Q term against the behaviour-cloning term (0 = pure BC)."""
