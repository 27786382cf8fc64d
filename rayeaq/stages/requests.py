"""What each stage holds on the Ray cluster at once, as :class:`rayeaq.core.resources.Request` s.

Each function reads only its own section(s) and names the config keys that set every bundle, so that
:func:`rayeaq.core.resources.check_resources` can say which key to change. The sweep combines them
(:mod:`rayeaq.sweep.resources`).
"""

from __future__ import annotations

from typing import Protocol

from rayeaq.augmenters import AUGMENTERS
from rayeaq.augmenters.config import AugmentConfig
from rayeaq.core.resources import Request
from rayeaq.generators.eaq.config import FitConfig
from rayeaq.learners.qmix.config import EvaluateConfig
from rayeaq.stages.collect.config import CollectConfig


class FitSection(Protocol):
    fit: FitConfig


class AugmentSection(Protocol):
    augment: AugmentConfig


class EvaluateSection(Protocol):
    evaluate: EvaluateConfig


class CollectSection(Protocol):
    collect: CollectConfig


def fit_requests(cfg: FitSection) -> list[Request]:
    """``fit.workers`` Ray Train workers of ``{CPU: fit.cpus_per_worker, GPU: 1 if fit.use_gpu}``."""
    f = cfg.fit
    bundle = {"CPU": f.cpus_per_worker, **({"GPU": 1.0} if f.use_gpu else {})}
    key = "fit.use_gpu/fit.workers" if f.use_gpu else "fit.cpus_per_worker/fit.workers"
    return [Request(key, bundle, f.workers, "Ray Train worker")]


def augment_requests(cfg: AugmentSection) -> list[Request]:
    """``augment.workers`` sampling tasks of ``augment.cpus_per_worker`` CPUs when the augmenter samples a generator."""
    a = cfg.augment
    if not AUGMENTERS.get(a.augmenter).needs_generator:
        return []
    return [Request("augment.cpus_per_worker/augment.workers", {"CPU": a.cpus_per_worker}, a.workers, "sampling task")]


def evaluate_requests(cfg: EvaluateSection) -> list[Request]:
    """Remote RLlib learners (or the local learner's GPU share) and the rollout actors."""
    e = cfg.evaluate
    out: list[Request] = []
    if e.learners > 0:
        bundle = {"CPU": e.cpus_per_learner, **({"GPU": e.gpus_per_learner} if e.gpus_per_learner else {})}
        key = (
            "evaluate.gpus_per_learner/evaluate.learners"
            if e.gpus_per_learner
            else "evaluate.cpus_per_learner/evaluate.learners"
        )
        out.append(Request(key, bundle, e.learners, "RLlib learner"))
    elif e.gpus_per_learner > 0:
        out.append(Request("evaluate.gpus_per_learner", {"GPU": e.gpus_per_learner}, 1, "local RLlib learner"))
    if e.rollout_workers > 0:
        out.append(
            Request(
                "evaluate.cpus_per_rollout_worker/evaluate.rollout_workers",
                {"CPU": e.cpus_per_rollout_worker},
                e.rollout_workers,
                "rollout actor",
            )
        )
    return out


def collect_requests(cfg: CollectSection) -> list[Request]:
    """``collect.workers`` collector actors of ``collect.cpus_per_worker`` CPUs."""
    c = cfg.collect
    return [
        Request("collect.cpus_per_worker/collect.workers", {"CPU": c.cpus_per_worker}, c.workers, "collector actor")
    ]
