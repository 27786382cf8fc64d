"""Offline MARL via sequential score decomposition (arXiv 2505.05968); ``evaluate.algorithm: omsd`` (section ``omsd``).

Pure torch core: ``iql`` (stage-1 critic), ``score`` (per-agent conditional score models), ``actors`` (stage-2
round-robin), ``stages`` (units, artifact with fingerprint), ``config`` (OmsdConfig); ``run`` drives both stages
on a box-action mixture; ``ray_stage1`` fits the stage-1 units in parallel Ray tasks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rayeaq.learners.registry import LEARNERS, OfflineLearner, Report


def _run(cfg: Any, sources: list[tuple[str, float]], out: Path, report: Report | None) -> dict[str, Any]:
    from rayeaq.learners.omsd.run import run_omsd  # torch only when a learner runs

    return run_omsd(cfg, sources, out, report)


LEARNERS.add("omsd", OfflineLearner("omsd", _run, lambda cfg: "omsd"))
