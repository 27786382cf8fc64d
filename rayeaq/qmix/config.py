"""Evaluator section of a run config (offline QMIX / BC). Filled by the QMIX work."""

from __future__ import annotations

from rayeaq.config.base import StrictModel


class EvaluateConfig(StrictModel):
    """Offline learner and its greedy evaluation."""
