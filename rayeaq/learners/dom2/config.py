"""DOM2's typed config (run-config section ``dom2``, read when ``evaluate.algorithm: dom2``).

Defaults: where DOM2's text (papers/003, Eq. 1-5, Algorithms 1-2) fixes a value it is used; where it leaves one
open, OMAR's MPE defaults (ling-pan/OMAR ``main.py``: gamma 0.95, tau 0.01, lr 0.01, hidden 64, batch 1024,
cql_alpha 1.0, lse_temp 1.0, 10 sampled actions, critic grad-norm clip 0.5) are taken. The diffusion actor's
own settings (width, depth, learning rate, eta) appear in neither text: they are marked as our choice.
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator

from rayeaq.core.config import StrictModel


class Dom2Config(StrictModel):
    """DOM2: per-agent diffusion actor (DPM-Solver-1), twin CQL critics, soft targets, trajectory replication."""

    gamma: float = Field(default=0.95, ge=0.0, le=1.0)
    """Discount of the TD target (Eq. 1); OMAR's MPE default."""
    tau: float = Field(default=0.01, gt=0.0, le=1.0)
    """Soft target update rate rho of Algorithm 2, line 8; OMAR's default."""
    batch_size: int = Field(default=1024, ge=1, le=1_000_000)
    """Transitions per minibatch S (Algorithm 2, line 5); OMAR's default."""
    critic_lr: float = Field(default=0.01, gt=0.0, le=1.0)
    """Adam learning rate of the twin critics; OMAR's default."""
    critic_hidden: int = Field(default=64, ge=1, le=4096)
    """Critic MLP width (two hidden ReLU layers); OMAR's default."""
    critic_grad_clip: float = Field(default=0.5, gt=0.0)
    """Global-norm gradient clip of the critic update; OMAR's value."""
    cql_weight: float = Field(default=1.0, ge=0.0)
    """zeta of Eq. 1 (OMAR's cql_alpha): weight of the conservative term; 0 = plain twin-TD critics."""
    cql_temp: float = Field(default=1.0, gt=0.0)
    """Temperature of the log-sum-exp in the CQL term (OMAR's lse_temp)."""
    cql_samples: int = Field(default=10, ge=1, le=4096)
    """Uniform actions per observation in the CQL log-sum-exp (OMAR's num_sampled_actions)."""
    eta: float = Field(default=1.0, ge=0.0)
    """eta of Eq. 5 (weight of the Q-loss, normalised by E|Q|); 0 = pure diffusion behaviour cloning. Not in the
    text: Diffusion-QL's MuJoCo value."""
    actor_lr: float = Field(default=3e-4, gt=0.0, le=1.0)
    """Adam learning rate of the noise network. Not in the text; Diffusion-QL's value (OMAR's 0.01 is for a
    64-unit MLP actor and diverges a residual diffusion network)."""
    actor_hidden: int = Field(default=64, ge=1, le=4096)
    """Width H of the residual noise network (inner width 4H). The text leaves it open: OMAR's MPE width 64;
    several times the update rate of width 256 (benchmarks/RESULTS.md, DOM2 section)."""
    actor_blocks: int = Field(default=3, ge=0, le=32)
    """Residual blocks in the noise network (our choice)."""
    actor_grad_clip: float = Field(default=1.0, gt=0.0)
    """Global-norm gradient clip of the actor update (our choice; Diffusion-QL clips at 1.0 too)."""
    n_timesteps: int = Field(default=1000, ge=2, le=100_000)
    """K: discrete diffusion timesteps of the VP schedule (linear betas 1e-4..0.02, DDPM's)."""
    solver_steps: int = Field(default=10, ge=1, le=10)
    """N: first-order DPM-Solver steps per action, in training (TD targets, Eq. 5's Q-loss through the chain) and
    at execution alike; Eq. 3's grid (the paper: within 10). 5 steps would halve an update's cost but fail the
    bandit tests (0.37 of samples at a mode instead of >= 0.8), and a 5-step training chain under a 10-step
    executed one fails the eta = 1 test (the Q-loss improves a sampler that is not run)."""
    train_on_grid: bool = True
    """Eq. 3: draw training timesteps uniformly from the solver grid {tau_i}; False = from all K timesteps."""
    replicate_thresholds: list[float] = Field(default_factory=list)
    """Algorithm 1's return thresholds R as fractions of the map's maximum return (``augment.dom2_thresholds``'
    convention): each trajectory is added once more per threshold its return reaches (>=). Environment- and
    tier-specific (the text gives none); empty = no replication."""

    @field_validator("solver_steps")
    @classmethod
    def _divides(cls, value: int, info: ValidationInfo) -> int:
        k = info.data.get("n_timesteps", 1000)
        if k % value:
            raise ValueError(f"expected solver_steps to divide n_timesteps ({k}), got {value}")
        return value
