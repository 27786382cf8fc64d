"""Offline MA-TD3+BC on RLlib for continuous (box) actions: ``evaluate.algorithm = td3bc``.

The registry entry reads ``seed`` and the shared evaluation fields of ``evaluate`` (updates, eval_interval,
eval_episodes, eval_envs, torch_threads, checkpoint); the TD3+BC hyper-parameters are
:class:`~rayeaq.learners.td3bc.config.TD3BCSettings`' defaults until the run config has a section for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rayeaq.learners.registry import LEARNERS, OfflineLearner, Report

SHARED_FIELDS = ("updates", "eval_interval", "eval_episodes", "eval_envs", "torch_threads", "checkpoint")


def _run(cfg: Any, sources: list[tuple[str, float]], out: Path, report: Report | None) -> dict[str, Any]:
    from rayeaq.learners.td3bc.config import TD3BCSettings
    from rayeaq.learners.td3bc.run import (
        run_td3bc,  # RLlib and torch only when a learner runs
    )

    settings = TD3BCSettings(**{k: getattr(cfg.evaluate, k) for k in SHARED_FIELDS})
    return run_td3bc(settings, sources, out, cfg.seed, report)


LEARNERS.add("td3bc", OfflineLearner("td3bc", _run, lambda cfg: "td3bc"))
