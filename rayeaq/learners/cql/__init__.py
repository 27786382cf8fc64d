"""Offline MA-CQL on RLlib for continuous (box) actions: ``evaluate.algorithm = cql``.

The registry entry reads ``seed`` and the shared evaluation fields of ``evaluate`` (updates, eval_interval,
eval_episodes, eval_envs, torch_threads, checkpoint); the CQL hyper-parameters are
:class:`~rayeaq.learners.cql.config.CQLSettings`' defaults (OMAR's) until the run config has a section for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rayeaq.learners.registry import LEARNERS, OfflineLearner, Report
from rayeaq.learners.td3bc import SHARED_FIELDS


def _run(cfg: Any, sources: list[tuple[str, float]], out: Path, report: Report | None) -> dict[str, Any]:
    from rayeaq.learners.cql.config import CQLSettings
    from rayeaq.learners.cql.ray_algorithm import CQLConfig  # RLlib and torch only when a learner runs
    from rayeaq.learners.td3bc.run import run_continuous

    settings = CQLSettings(**{k: getattr(cfg.evaluate, k) for k in SHARED_FIELDS})
    return run_continuous("cql", CQLConfig, settings, sources, out, cfg.seed, report)


LEARNERS.add("cql", OfflineLearner("cql", _run, lambda cfg: "cql"))
