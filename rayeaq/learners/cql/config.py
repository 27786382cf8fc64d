"""MA-CQL settings: OMAR's defaults for the particle environments (Pan et al. 2022, github.com/ling-pan/OMAR,
``main.py`` and ``algorithms/maddpg.py``: batch 1 024, width 64, lr 0.01, γ 0.95, τ 0.01, 10 uniform action
samples, log-sum-exp temperature 1; ``cql_alpha`` per dataset on Spread: random 0.5, medium-replay 1, medium and
expert 5)."""

from __future__ import annotations

from pydantic import Field

from rayeaq.learners.td3bc.config import ContinuousSettings


class CQLSettings(ContinuousSettings):
    """Hyper-parameters of offline MA-CQL (independent TD3-style actor-critics with CQL's conservative critic)."""

    LOSS_OPTIONS = ("cql_alpha", "cql_temperature", "cql_samples", "actor_reg")

    batch_size: int = Field(default=1024, ge=1, le=65_536)
    """Transitions per update (OMAR: 1 024)."""
    lr: float = Field(default=0.01, gt=0.0, le=1.0)
    """Adam learning rate of actors and critics (OMAR: 0.01)."""
    gamma: float = Field(default=0.95, ge=0.0, le=1.0)
    """Discount factor (OMAR: 0.95)."""
    tau: float = Field(default=0.01, gt=0.0, le=1.0)
    """Polyak rate of the target networks, after every update (OMAR: 0.01)."""
    hidden_dim: int = Field(default=64, ge=1, le=4096)
    """Width of the two hidden layers (OMAR: 64)."""
    cql_alpha: float = Field(default=5.0, ge=0.0)
    """Weight of the conservative term (OMAR on Spread: 5 for expert and medium data, 1 medium-replay, 0.5 random;
    0 = plain independent TD3 without target smoothing)."""
    cql_temperature: float = Field(default=1.0, gt=0.0)
    """Temperature of the log-sum-exp over sampled actions (OMAR: 1)."""
    cql_samples: int = Field(default=10, ge=1, le=1000)
    """Uniform actions sampled per state for the log-sum-exp (OMAR: 10)."""
    actor_reg: float = Field(default=1e-3, ge=0.0)
    """Weight of the actor's action-magnitude penalty mean(π²) (OMAR: 1e-3, on actions in [−1, 1])."""
