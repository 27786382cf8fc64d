"""One DOM2 run (``evaluate.algorithm: dom2``): Algorithm 1 then Algorithm 2 on a box-action mixture, scored by
greedy rollouts on the vmapped MPE; the result files of :mod:`rayeaq.learners.box_offline`. Pure torch, no Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rayeaq.core.runinfo import derive_seed
from rayeaq.learners.box_offline import Batch, BoxData, LoopSettings, load_box_data, train_and_evaluate
from rayeaq.learners.dom2.batched import BatchedDom2Learner
from rayeaq.learners.dom2.config import Dom2Config
from rayeaq.learners.registry import Report


class Dom2Run:
    """:class:`BatchedDom2Learner` (every agent's networks stacked) over :class:`BoxData` batches (per-agent
    rewards), with a fixed action-noise seed for evaluation so that evaluating does not move the training
    generator."""

    def __init__(self, cfg: Dom2Config, data: BoxData, seed: int) -> None:
        _, n, do = data.sampler.arrays["obs"].shape
        da = data.sampler.arrays["actions"].shape[-1]
        self.learner = BatchedDom2Learner(cfg, n, do, da, seed)
        self.act_seed = derive_seed(seed, "dom2", "act")

    def update(self, batch: Batch) -> dict[str, float]:
        return self.learner.update({**batch, "agent_reward": batch["reward"], "reward": batch["team_reward"]})

    def act_unit(self, obs: torch.Tensor) -> torch.Tensor:
        return self.learner.act(obs, torch.Generator().manual_seed(self.act_seed))

    def state_dict(self) -> dict[str, Any]:
        return self.learner.state_dict()


def run_dom2(cfg: Any, sources: list[tuple[str, float]], out: Path, report: Report | None) -> dict[str, Any]:
    """Train DOM2 (``cfg.dom2``) for ``evaluate.updates`` updates on the mixture and write the result files."""
    d: Dom2Config = cfg.dom2
    e = cfg.evaluate
    torch.set_num_threads(e.torch_threads)
    data = load_box_data(sources, cfg.seed, "dom2", d.replicate_thresholds)
    settings = LoopSettings(
        "dom2",
        e.updates,
        e.eval_interval,
        e.eval_episodes,
        e.final_eval_episodes,
        e.eval_envs,
        d.batch_size,
        e.checkpoint,
    )
    return train_and_evaluate(
        Dom2Run(d, data, cfg.seed), data, settings, cfg.seed, sources, out, report, {"dom2": d.model_dump()}
    )
