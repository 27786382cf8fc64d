"""Offline QMIX (+ CQL) and behaviour cloning on RLlib: ``evaluate.algorithm`` = ``qmix`` or ``bc``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rayeaq.learners.qmix.progress import clear_progress
from rayeaq.learners.registry import LEARNERS, OfflineLearner, Report


def _run(cfg: Any, sources: list[tuple[str, float]], out: Path, report: Report | None) -> dict[str, Any]:
    from rayeaq.learners.qmix.run import (
        run_evaluation,  # RLlib and torch only when a learner runs
    )

    return run_evaluation(cfg, sources, out, report)


def _label(cfg: Any) -> str:
    from rayeaq.learners.qmix.run import algo_name

    return algo_name(cfg)


for _name in ("qmix", "bc"):
    LEARNERS.add(
        _name, OfflineLearner(_name, _run, _label, actions="discrete", resumable=True, clear_progress=clear_progress)
    )
