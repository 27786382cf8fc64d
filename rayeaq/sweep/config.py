"""Tune section of a run config (``tune``): search space, scheduler, search algorithm, resources, failures.

The search space maps dotted run-config keys (``augment.augmenter``, ``diffusion.q_weight``,
``diffusion.horizon``, ``augment.ratio``, ``env.map``, ``seed``) or ``collect_tier`` to a domain
written as one-key mappings in YAML::

    augment.augmenter: {grid_search: [none, eaq, eaq_noq]}
    diffusion.q_weight: {choice: [0.01, 0.1]}
    augment.ratio: {uniform: [0.25, 1.0]}
    fit.lr: {loguniform: [1.0e-4, 1.0e-3]}
    seed: 3                      # a plain value fixes the key for every trial

Whether the keys and values are valid run-config values is checked by
:func:`rayeaq.sweep.space.check_space` before any trial starts.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from rayeaq.core.config import StrictModel
from rayeaq.stages.collect.config import Tier
from rayeaq.stages.collect.mpe_tiers import MPETier

DOMAIN_KINDS = ("grid_search", "choice", "uniform", "loguniform", "randint")


class ASHAConfig(StrictModel):
    """Asynchronous successive halving over the trial's evaluations (``evaluations`` is its clock)."""

    grace_period: int = Field(default=1, ge=1)
    """Evaluations every trial gets before it can be stopped."""
    reduction_factor: float = Field(default=3.0, gt=1.0)
    """Keep the top 1/reduction_factor at each rung."""
    max_t: int = Field(default=100, ge=1)
    """Evaluations after which a trial is stopped in any case."""


class TrialResources(StrictModel):
    """Logical resources of one trial's own process (its Train workers, learners and rollouts reserve their own)."""

    cpu: float = Field(default=0.01, ge=0.0)
    """CPUs of the trial process; small, so that the Train workers it starts are never starved."""
    gpu: float = Field(default=0.0, ge=0.0)
    """GPUs of the trial process (the evaluator's local learner uses it when evaluate.learners = 0)."""


class TuneConfig(StrictModel):
    """The sweep: what varies, how trials are scheduled, where results go, what happens on failure."""

    space: dict[str, Any] = {}
    """Search space: dotted run-config key (or collect_tier) -> value or {grid_search|choice|uniform|loguniform|randint: ...}."""
    num_samples: int = Field(default=1, ge=1, le=100_000)
    """Samples of the random dimensions per grid point (Tune's num_samples)."""
    dedupe: bool = True
    """Merge grid points that differ only in keys their augmenter ignores (e.g. λ for 'none')."""
    collect_tier: Tier | MPETier = "medium"
    """Dataset tier the trials learn from, when the space does not vary collect_tier (MPE's OMAR/D4RL tiers
    random, medium_replay, medium, medium_expert, expert are read from tune.dataset_dir, written by
    python -m rayeaq.collect_mpe)."""
    dataset_dir: str | None = None
    """Root of existing datasets laid out <map>/<tier>/; None = <results>/datasets, collected when missing."""
    seed_datasets: int = Field(default=0, ge=0, le=1000)
    """Per-seed real data: n ≥ 1 collects n × collect.episodes episodes per tier and gives a trial with seed s the
    disjoint split s mod n (paired seeds: every arm with that seed reads the same real episodes); 0 = one dataset
    per tier shared by every seed (``rayeaq.sweep.splits``)."""
    generator_dir: str | None = None
    """Shared cache of fitted generators (one per dataset + diffusion/fit config + seed, fitted once and reused
    by every trial that needs it) and of synthetic datasets (one per generator or real dataset + augment config
    without the mixing ratio + seed); None = <results>/generators. On a cluster: a path every node shares."""
    storage_path: str = "results/tune"
    """Where experiments are written: a local directory or a bucket URI (s3://..., gs://...)."""
    metric: str = "score"
    """Metric the scheduler/search optimise and the summary sorts by (score = final normalized return)."""
    mode: Literal["max", "min"] = "max"
    """Whether a higher or lower metric is better."""
    scheduler: Literal["fifo", "asha"] = "fifo"
    """fifo: every trial runs to the end; asha: stop weak trials early at their evaluations."""
    asha: ASHAConfig = ASHAConfig()
    search_alg: Literal["basic", "random", "optuna", "hyperopt"] = "basic"
    """basic: grid + random sampling (Tune's default); optuna/hyperopt need their package installed."""
    max_concurrent_trials: int = Field(default=1, ge=1, le=10_000)
    """Trials running at once (1-2 on a laptop: each trial starts its own Train workers and learners)."""
    resources: TrialResources = TrialResources()
    max_failures: int = Field(default=1, ge=-1)
    """Retries of an errored trial (FailureConfig.max_failures; -1 = unlimited)."""
    on_resume_errored: Literal["resume", "restart", "skip"] = "restart"
    """With --resume, errored trials: resume from their last checkpoint, restart from scratch, or keep as errored."""
    keep_synthetic: bool = False
    """Keep each trial's synthetic dataset shards (only the card is kept otherwise)."""
    checkpoint_period_s: float = Field(default=5.0, gt=0.0)
    """Seconds between saves of the experiment state (what --resume restores)."""
    verbose: int = Field(default=1, ge=0, le=3)
    """Tune console verbosity (1 = live status table)."""

    @field_validator("space")
    @classmethod
    def _domains(cls, space: dict[str, Any]) -> dict[str, Any]:
        for key, value in space.items():
            if isinstance(value, dict):
                if len(value) != 1 or next(iter(value)) not in DOMAIN_KINDS:
                    raise ValueError(f"{key}: expected a value or one of {{{', '.join(DOMAIN_KINDS)}: ...}}")
                kind, arg = next(iter(value.items()))
                if kind in ("grid_search", "choice") and (not isinstance(arg, list) or not arg):
                    raise ValueError(f"{key}: {kind} needs a non-empty list")
                if kind in ("uniform", "loguniform", "randint"):
                    if not isinstance(arg, list) or len(arg) != 2 or not all(isinstance(a, (int, float)) for a in arg):
                        raise ValueError(f"{key}: {kind} needs [low, high]")
                    if not arg[0] < arg[1] or (kind == "loguniform" and arg[0] <= 0):
                        raise ValueError(
                            f"{key}: {kind} needs 0 < low < high"
                            if kind == "loguniform"
                            else f"{key}: {kind} needs low < high"
                        )
        return space

    @model_validator(mode="after")
    def _metric_mode(self) -> TuneConfig:
        if self.scheduler == "asha" and self.asha.grace_period > self.asha.max_t:
            raise ValueError("tune.asha.grace_period must not exceed tune.asha.max_t")
        return self
