"""The sequential-score-decomposition learner's typed config (run-config section ``omsd``).

Method: arXiv 2505.05968 (papers/002 is only its summary). Stage 1: a centralised IQL critic Q(s, a), V(s) and
one conditional diffusion model per agent eps_i(a_i | s, a_<i); stage 2: deterministic per-agent actors updated
round-robin. Values the summary does not give are IQL's (Kostrikov et al. 2021) or marked as our choice.
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator

from rayeaq.core.config import StrictModel


class OmsdConfig(StrictModel):
    """Two-stage offline MARL: IQL critic + per-agent conditional score models, then score-regularised actors."""

    gamma: float = Field(default=0.95, ge=0.0, le=1.0)
    """Discount of the IQL TD target; OMAR's MPE default (the datasets' source)."""
    expectile: float = Field(default=0.7, gt=0.0, lt=1.0)
    """IQL's expectile tau of the V loss (IQL's MuJoCo value)."""
    critic_lr: float = Field(default=3e-4, gt=0.0, le=1.0)
    """Adam learning rate of Q and V (IQL's)."""
    critic_hidden: int = Field(default=256, ge=1, le=4096)
    """Width of the Q(s, a) and V(s) MLPs (two hidden layers; IQL's)."""
    target_tau: float = Field(default=0.005, gt=0.0, le=1.0)
    """Soft update rate of the target Q (IQL's)."""
    critic_updates: int = Field(default=20_000, ge=0)
    """Stage 1: gradient updates of the IQL critic."""
    score_updates: int = Field(default=20_000, ge=0)
    """Stage 1: gradient updates of each agent's conditional score model."""
    score_lr: float = Field(default=3e-4, gt=0.0, le=1.0)
    """Adam learning rate of the score models (our choice)."""
    score_hidden: int = Field(default=256, ge=1, le=4096)
    """Width of each residual noise network eps_i (our choice; DOM2's network)."""
    score_blocks: int = Field(default=3, ge=0, le=32)
    """Residual blocks of each noise network (our choice)."""
    n_timesteps: int = Field(default=1000, ge=2, le=100_000)
    """K: discrete timesteps of the VP schedule shared with DOM2 (linear betas 1e-4..0.02)."""
    sequential: bool = True
    """True: eps_i conditions on the state and the actions of agents < i (the method); False: on the state only
    (the independent-marginals ablation)."""
    beta: float = Field(default=0.3, gt=0.0)
    """Stage 2: temperature of the behaviour regulariser (weight 1/beta); the paper: 0.001 for expert data,
    0.3 for random data."""
    score_t_min: float = Field(default=0.02, gt=0.0, lt=1.0)
    """Smallest diffusion time (fraction of K) at which the behaviour score is read in stage 2 (SRPO's range)."""
    score_t_max: float = Field(default=0.5, gt=0.0, le=1.0)
    """Largest diffusion time (fraction of K) at which the behaviour score is read (our choice)."""
    score_samples: int = Field(default=4, ge=1, le=256)
    """Noise draws per action in the Monte-Carlo estimate of the behaviour score."""
    actor_lr: float = Field(default=3e-4, gt=0.0, le=1.0)
    """Adam learning rate of the deterministic actors (IQL/TD3's)."""
    actor_hidden: int = Field(default=256, ge=1, le=4096)
    """Width of each deterministic actor pi_i(o_i) (two hidden layers, tanh output)."""
    batch_size: int = Field(default=256, ge=1, le=1_000_000)
    """Transitions per minibatch of both stages (IQL's). Stage 2 runs ``evaluate.updates`` round-robin rounds."""
    stage1_dir: str | None = None
    """Where stage-1 artifacts live, one sub-directory per fingerprint (data, stage-1 settings, seed), reused by
    every later run with the same fingerprint; null = ``omsd_stage1/`` beside the run's output directory, or in a
    sweep ``omsd_stage1/`` in its generator cache (tune.generator_dir or the experiment's), shared by its trials."""

    @field_validator("score_t_max")
    @classmethod
    def _after_min(cls, value: float, info: ValidationInfo) -> float:
        low = info.data.get("score_t_min", 0.02)
        if value <= low:
            raise ValueError(f"expected score_t_max > score_t_min ({low}), got {value}")
        return value
