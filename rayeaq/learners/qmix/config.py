"""Evaluator section of a run config (``evaluate``): offline QMIX / CQL / BC and its greedy evaluation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal, cast

from pydantic import Field, ValidationInfo, field_validator

from rayeaq.core.config import StrictModel

SMAC_MAX_RETURN = 20.0
"""SMAC's largest episode return: ``reward_scale: auto`` maps a dataset's maximum return onto it."""


class CQLConfig(StrictModel):
    """Conservative term added to the TD loss of offline QMIX (``evaluate.cql``); ``weight: 0`` = plain QMIX.

    - ``agent``: per agent, ``tau * logsumexp_{a legal}(Q_i(o, a) / tau) - Q_i(o, a_data)``. With ``tau = 1`` this
      is ``-log softmax(Q_i)[a_data]``: TD + behaviour cloning on the Q-logits, nothing more.
    - ``joint`` (OG-MARL's QMIX+CQL): ``samples`` joint actions, each agent uniform over its legal actions, mixed
      by the online mixer; ``tau * logsumexp(Q_tot(samples) ∪ Q_tot(data) / tau) - Q_tot(data)``.
    """

    kind: Literal["agent", "joint"] = "joint"
    """joint (sampled joint actions through the mixer; the default by measurement, benchmarks/RESULTS.md issue 12)
    or agent (per-agent logsumexp on Q-logits, i.e. TD + BC)."""
    weight: float = Field(default=1.0, ge=0.0)
    """Weight of the term against the TD loss (in reward_scale units); 0 = plain offline QMIX."""
    temperature: float = Field(default=1.0, gt=0.0)
    """Temperature tau of the logsumexp (1 = CQL(H) as in OG-MARL)."""
    samples: int = Field(default=20, ge=1, le=4096)
    """Sampled joint actions per step for kind joint (OG-MARL's num_ood_actions)."""


class EvaluateConfig(StrictModel):
    """Offline learner (QMIX, QMIX+CQL or behaviour cloning) trained on a dataset, scored by greedy rollouts."""

    RETIRED: ClassVar[Mapping[str, str]] = {
        "num_learners": "renamed to evaluate.learners",
        "num_cpus_per_learner": "renamed to evaluate.cpus_per_learner",
        "num_gpus_per_learner": "renamed to evaluate.gpus_per_learner",
        "rollout_worker_cpus": "renamed to evaluate.cpus_per_rollout_worker",
        "cql_weight": "replaced by evaluate.cql.weight (with evaluate.cql.kind: agent | joint)",
    }

    algorithm: str = "qmix"
    """A registered offline learner (rayeaq.learners): qmix (offline QMIX, conservative when cql.weight > 0) or
    bc (behaviour cloning on the same agent network)."""
    updates: int = Field(default=5000, ge=1, le=10_000_000)
    """Gradient updates (learner steps) to train for."""
    batch_size: int = Field(default=32, ge=1, le=65_536)
    """Episodes per update (sequence batch, padded to the longest episode drawn)."""
    lr: float = Field(default=5e-4, gt=0.0, le=1.0)
    """Adam learning rate."""
    gamma: float = Field(default=0.99, ge=0.0, le=1.0)
    """Discount factor of the TD target."""
    grad_clip: float = Field(default=10.0, gt=0.0)
    """Global-norm gradient clipping (EPyMARL's grad_norm_clip)."""
    target_update_interval: int = Field(default=200, ge=1)
    """Updates between hard copies of the online networks into the target networks."""
    double_q: bool = True
    """Double-Q targets: argmax by the online agent network, value by the target network."""
    cql: CQLConfig = CQLConfig()
    """Conservative term (kind agent | joint, weight, temperature, samples); weight 0 = plain QMIX, which does not
    learn from narrow behaviour data (one action per state: see benchmarks/RESULTS.md)."""
    reward_scale: float | Literal["auto"] = "auto"
    """Factor on the training rewards (Q-values in these units); auto = 20 / the dataset's maximum return, so the
    defaults mean the same on SMAX (returns <= 2, factor 10) and SMAC (<= 20, factor 1). Recorded in summary.json."""
    td_lambda: float = Field(default=0.8, ge=0.0, le=1.0)
    """lambda of pymarl2's TD(lambda) targets over the episode (0 = one-step double-Q targets). 0.8 by
    measurement: with one-step targets and hard target copies every 200 updates, returns travel only a few steps
    back in 1 000 updates, and the learner does no better than BC (benchmarks/RESULTS.md, issue 12)."""
    hidden_dim: int = Field(default=64, ge=1, le=4096)
    """Agent network width (MLP and GRU)."""
    mixing_embed_dim: int = Field(default=32, ge=1, le=4096)
    """Mixer embedding width."""
    hypernet_embed: int = Field(default=64, ge=1, le=4096)
    """Hidden width of the two-layer hyper-networks that produce the mixing weights."""
    obs_last_action: bool = True
    """Append the agent's previous action (one-hot) to its input."""
    obs_agent_id: bool = True
    """Append the agent id (one-hot) to its input (parameters are shared across agents)."""
    eval_interval: int = Field(default=1000, ge=1)
    """Updates between intermediate evaluations."""
    eval_episodes: int = Field(default=32, ge=1, le=100_000)
    """Greedy evaluation episodes at each intermediate evaluation (same seeds every time)."""
    final_eval_episodes: int = Field(default=320, ge=1, le=100_000)
    """Greedy evaluation episodes at the end of training."""
    eval_envs: int = Field(default=64, ge=1, le=65_536)
    """Environments stepped at once (jax.vmap) per rollout worker."""
    rollout_workers: int = Field(default=0, ge=0, le=256)
    """Ray actors running evaluation rollouts; 0 = in the driver process."""
    cpus_per_rollout_worker: float = Field(default=0.5, gt=0.0)
    """Logical CPUs each rollout actor reserves."""
    learners: int = Field(default=0, ge=0, le=256)
    """RLlib learners: 0 = one local learner; n > 0 = n remote learner actors (DDP, batch split among them)."""
    gpus_per_learner: float = Field(default=0.0, ge=0.0)
    """GPUs per learner (0 = CPU)."""
    cpus_per_learner: float = Field(default=1.0, gt=0.0)
    """Logical CPUs per remote learner actor."""
    torch_threads: int = Field(default=1, ge=1, le=256)
    """torch.set_num_threads in the learner/driver process (JAX shares it during rollouts)."""
    checkpoint: bool = True
    """Write an RLlib checkpoint of the final algorithm to OUT/checkpoint."""

    @field_validator("reward_scale")
    @classmethod
    def _positive_scale(cls, value: float | str) -> float | str:
        if value != "auto" and not cast(float, value) > 0:
            raise ValueError("expected a number > 0 or auto")
        return value

    def resolved_reward_scale(self, max_return: float) -> float:
        """The reward factor for a dataset whose episode return is at most ``max_return``."""
        return SMAC_MAX_RETURN / max_return if self.reward_scale == "auto" else float(self.reward_scale)

    @field_validator("learners")
    @classmethod
    def _learners_fit_the_batch(cls, value: int, info: ValidationInfo) -> int:
        batch_size = info.data.get("batch_size")  # declared above, so already validated
        if batch_size is not None and value > batch_size:
            raise ValueError(f"expected learners <= batch_size={batch_size} (each learner gets a shard of the batch)")
        return value

    @field_validator("algorithm")
    @classmethod
    def _registered(cls, value: str) -> str:
        from rayeaq.learners import (
            LEARNERS,  # the registry imports its members, which import this module
        )

        return LEARNERS.check(value)
