"""Tune adapter of a trial: the function trainable and the Ray-backed stage functions.

The trainable turns Tune's sampled ``config`` into a run config (:func:`rayeaq.sweep.space.trial_config`),
runs :func:`rayeaq.sweep.trial.run_stages` in the trial's working directory and forwards each report
to ``ray.tune.report`` (with a checkpoint after the fit and at the end). The fit runs as a Ray Train
``TorchTrainer`` inside the trial; a :class:`StageReportCallback` (a ``TuneReportCallback``) forwards
its loss reports to Tune as they come.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.integration.ray_train import TuneReportCallback

from rayeaq.run_config import RunConfig
from rayeaq.sweep.space import trial_config, trial_params
from rayeaq.sweep.splits import trial_dataset
from rayeaq.sweep.trial import run_stages


class StageReportCallback(TuneReportCallback):
    """``TuneReportCallback`` that renames the generator's metrics and adds the trial's progress fields."""

    def __init__(self, progress: dict[str, Any]):
        super().__init__()
        self._progress = progress

    def after_report(self, run_context, metrics, checkpoint):
        renamed = [{**self._progress, **{f"gen_{k}": v for k, v in m.items()}} for m in metrics]
        super().after_report(run_context, renamed, None)


class RayStages:
    """The stage functions a trial runs, backed by Ray Train (fit), Ray tasks (augment) and RLlib (evaluate).

    ``allow_change``: key patterns a fit resuming from an interrupted attempt may find changed (a resumed
    sweep's ``--allow-change``; see :func:`rayeaq.stages.fit.run_fit`)."""

    def __init__(self, allow_change: tuple[str, ...] = ()) -> None:
        self.allow_change = allow_change

    def fit(self, cfg: RunConfig, dataset: Path, out: Path, on_metrics: Callable[[dict], None]) -> Path:
        from rayeaq.stages.fit import run_fit

        callback = StageReportCallback({"stage": "fit", "score": 0.0, "evaluations": 0})
        summary = run_fit(cfg, dataset, out, callbacks=[callback], allow_change=self.allow_change)
        on_metrics({f"gen_{k}": v for k, v in summary["final"].items()})
        return out / "checkpoint"

    def augment(self, cfg: RunConfig, dataset: Path, checkpoint: Path | None, out: Path) -> dict[str, float]:
        from rayeaq.stages.augment import run_augment

        report = run_augment(cfg, dataset, checkpoint, out)
        return {k: float(v) for k, v in report.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    def evaluate(
        self, cfg: RunConfig, sources: list[tuple[str, float]], out: Path, on_eval: Callable[[dict], None]
    ) -> dict[str, Any]:
        from rayeaq.learners import LEARNERS
        from rayeaq.stages.evaluate import run_evaluation

        # a restored trial (a retried failure, a resumed sweep) finds its evaluation's progress checkpoint in ``out``
        # (copied back from the trial's Tune checkpoint): continue from it, unless keys were allowed to change
        # (then the evaluation starts afresh)
        resume = LEARNERS.get(cfg.evaluate.algorithm).resumable and not self.allow_change
        return run_evaluation(cfg, sources, out, report=on_eval, resume=resume)


def dataset_path(datasets_root: str, cfg: RunConfig) -> Path:
    """The real dataset of the trial's map and tier (its seed's split with ``tune.seed_datasets``)."""
    return trial_dataset(Path(datasets_root), cfg.env.map, cfg.tune.collect_tier, cfg.seed, cfg.tune.seed_datasets)


def make_trainable(
    base: dict[str, Any],
    datasets_root: str,
    keep_synthetic: bool,
    generators_root: str | None = None,
    allow_change: tuple[str, ...] = (),
):
    """The Tune function trainable; ``base`` is the sweep's resolved run config (a plain dict); generators are
    fitted once per key into ``generators_root`` (:mod:`rayeaq.sweep.cache`) when it is given; ``allow_change``
    goes to each fit that resumes an interrupted attempt (:class:`RayStages`)."""

    def eaq_trial(config: dict[str, Any]) -> None:
        params = trial_params(config)
        cfg = trial_config(base, params)
        if cfg.omsd.stage1_dir is None and generators_root:  # omsd's stage 1 shared like the generators
            cfg.omsd.stage1_dir = str(Path(generators_root) / "omsd_stage1")
        work = Path(os.getcwd())
        restored = _restored_checkpoint(work)

        def report(metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
            checkpoint = tune.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
            tune.report(metrics, checkpoint=checkpoint)
            if checkpoint_dir is not None:  # persisted by Tune; drop the staging copy
                shutil.rmtree(checkpoint_dir, ignore_errors=True)
                with contextlib.suppress(OSError):  # and the trial's staging directory once it is empty
                    checkpoint_dir.parent.rmdir()

        run_stages(
            cfg,
            dataset_path(datasets_root, cfg),
            work,
            RayStages(allow_change),
            report,
            restored,
            keep_synthetic,
            Path(generators_root) if generators_root else None,
        )

    return eaq_trial


def _restored_checkpoint(work: Path) -> Path | None:
    """A local copy of the checkpoint Tune restored this trial from, if any."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    local = work / "restored"
    if local.exists():
        shutil.rmtree(local)
    with checkpoint.as_directory() as directory:
        shutil.copytree(directory, local)
    return local


__all__ = ["RayStages", "StageReportCallback", "dataset_path", "make_trainable"]
