"""The evaluate stage: train the registered offline learner (``evaluate.algorithm``) on a dataset mixture.

Needs Ray initialised (:func:`rayeaq.core.ray_session.ray_session`). The learner writes ``metrics.jsonl``,
``marl_eval.json``, ``summary.json`` and its checkpoint into ``out`` and returns the summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from rayeaq.learners import LEARNERS
from rayeaq.learners.qmix.config import EvaluateConfig
from rayeaq.learners.registry import Report


class EvaluateRun(Protocol):
    """The run-config sections the evaluate stage reads (a :class:`rayeaq.run_config.RunConfig` is one)."""

    seed: int
    evaluate: EvaluateConfig


def algo_name(cfg: EvaluateRun) -> str:
    """The run's learner label (e.g. ``qmix_cql``)."""
    return LEARNERS.get(cfg.evaluate.algorithm).label(cfg)


def run_evaluation(
    cfg: EvaluateRun, sources: list[tuple[str, float]], out: str | Path, report: Report | None = None
) -> dict[str, Any]:
    """Train and score ``evaluate.algorithm`` on the mixture; returns its final summary."""
    return LEARNERS.get(cfg.evaluate.algorithm).run(cfg, sources, Path(out), report)
