"""Behaviour cloning on box actions (``evaluate.algorithm: box_bc``): TD3+BC's actor trained on the MSE to the
data's actions alone -- no critic, no Q term. The BC baseline of the continuous-action learners.

Why a name of its own and not ``bc``: ``bc`` is the discrete learner of :mod:`rayeaq.learners.qmix` (QMIX's agent
network, cross-entropy over legal actions, episode batches on RLlib, resumable); box BC is a per-agent MLP on
transitions with the box learners' loop (:mod:`rayeaq.learners.box_offline`), so its scores are taken on the same
held-out seeds as ``dom2``'s and ``omsd``'s. One name meaning two learners would make a sweep's ``bc`` column
mean different things per backend. Reads ``seed`` and the shared ``evaluate`` fields (updates, eval_interval,
eval_episodes, final_eval_episodes, eval_envs, torch_threads, checkpoint); its own sizes are TD3+BC's defaults
(:class:`~rayeaq.learners.td3bc.config.ContinuousSettings`: batch 256, lr 3e-4, width 256).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rayeaq.learners.registry import LEARNERS, OfflineLearner, Report


def _run(cfg: Any, sources: list[tuple[str, float]], out: Path, report: Report | None) -> dict[str, Any]:
    from rayeaq.learners.box_bc.run import run_box_bc  # torch only when a learner runs

    return run_box_bc(cfg, sources, out, report)


LEARNERS.add("box_bc", OfflineLearner("box_bc", _run, lambda cfg: "box_bc"))
