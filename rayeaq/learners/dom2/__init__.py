"""DOM2 (papers/003): diffusion offline multi-agent model; ``evaluate.algorithm: dom2`` (section ``dom2``).

Pure torch core: ``solver`` (VP schedule, DPM-Solver-1), ``networks`` (residual noise network, twin critic),
``losses`` (Eq. 1, 3, 5), ``replicate`` (Algorithm 1), ``learner`` (Algorithm 2 over transition batches),
``config`` (Dom2Config); ``stacked`` + ``batched`` (every agent's networks in one module, the learner the run
uses); ``run`` trains and scores it on a box-action mixture (:mod:`rayeaq.learners.box_offline`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rayeaq.learners.registry import LEARNERS, OfflineLearner, Report


def _run(cfg: Any, sources: list[tuple[str, float]], out: Path, report: Report | None) -> dict[str, Any]:
    from rayeaq.learners.dom2.run import run_dom2  # torch only when a learner runs

    return run_dom2(cfg, sources, out, report)


LEARNERS.add("dom2", OfflineLearner("dom2", _run, lambda cfg: "dom2"))
