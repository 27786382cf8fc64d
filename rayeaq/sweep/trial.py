"""One trial's stages, without Tune: fit -> augment -> mix at ``ratio`` -> evaluate, timed and reported.

:func:`run_stages` is called by the Tune trainable (:mod:`rayeaq.sweep.ray_trial`) with the stage
functions and a ``report(metrics, checkpoint_dir=None)`` callback; everything here is plain Python,
so the order, the mixing rule and the metric names are testable without Ray.

Every report carries ``stage``, ``score`` (the latest normalized return, 0 before the first
evaluation), ``evaluations`` (the scheduler's clock) and the stage timings so far. A trial restored
from a checkpoint taken after its fit skips the fit.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rayeaq.augmenters import AUGMENTERS
from rayeaq.augmenters.mixing import budget_weight
from rayeaq.core.runinfo import write_run_info
from rayeaq.data.card import CARD_NAME, read_card
from rayeaq.learners import LEARNERS
from rayeaq.learners.qmix.intervals import INTERVAL_KEYS
from rayeaq.run_config import RunConfig
from rayeaq.sweep.cache import DONE_FILE, cached, generator_key, synthetic_key

STATE_FILE = "trial_state.json"

Report = Callable[[dict[str, Any], "Path | None"], None]


class Stages(Protocol):
    """The stage functions a trial runs (Ray-backed in the sweep, plain in tests)."""

    def fit(self, cfg: RunConfig, dataset: Path, out: Path, on_metrics: Callable[[dict], None]) -> Path:
        """Fit the generator on ``dataset`` into ``out``; return the checkpoint directory."""

    def augment(self, cfg: RunConfig, dataset: Path, checkpoint: Path | None, out: Path) -> dict[str, float]:
        """Write the synthetic dataset into ``out``; return its fidelity figures."""

    def evaluate(
        self, cfg: RunConfig, sources: list[tuple[str, float]], out: Path, on_eval: Callable[[dict], None]
    ) -> dict[str, Any]:
        """Train and score the offline learner on the mixture; return its final summary."""


@dataclass
class Progress:
    """What the trial has reported so far (merged into every report)."""

    stage: str = "setup"
    score: float = 0.0
    evaluations: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def row(self, **metrics: Any) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "score": self.score,
            "evaluations": self.evaluations,
            **{f"time_{k}_s": round(v, 3) for k, v in self.timings.items()},
            **metrics,
        }


def mixture(
    real: Path, synthetic: Path | None, ratio: float, budget: str = "episodes"
) -> tuple[list[tuple[str, float]], float]:
    """(sources, achieved ratio): real episodes once, plus synthetic ones weighted so that there are ``ratio``
    synthetic episodes (``budget = episodes``) or transitions (``transitions``) per real one, each synthetic
    episode at most once (:func:`rayeaq.augmenters.mixing.budget_weight`); the ratio is in the budget's unit."""
    sources = [(str(real), 1.0)]
    if synthetic is None or ratio <= 0 or not (synthetic / CARD_NAME).is_file():
        return sources, 0.0
    weight, achieved = budget_weight(budget, ratio, read_card(real), read_card(synthetic))
    if weight == 0:
        return sources, 0.0
    return sources + [(str(synthetic), weight)], achieved[f"achieved_{budget[:-1]}_ratio"]


def _restore_state(restored: Path | None, work: Path) -> dict[str, Any]:
    """The stage state of a restored checkpoint (the generator copied back into ``work/fit``, an interrupted
    evaluation's outputs and progress checkpoint into ``work/evaluate``)."""
    if restored is None or not (restored / STATE_FILE).is_file():
        return {}
    state = json.loads((restored / STATE_FILE).read_text(encoding="utf-8"))
    if (restored / "generator").is_dir():
        shutil.copytree(restored / "generator", work / "fit" / "checkpoint", dirs_exist_ok=True)
    if state.get("evaluate_partial") and (restored / "evaluate").is_dir():  # an evaluation to continue
        shutil.copytree(restored / "evaluate", work / "evaluate", dirs_exist_ok=True)
    return state


def run_stages(
    cfg: RunConfig,
    dataset: Path,
    work: Path,
    stages: Stages,
    report: Report,
    restored: Path | None = None,
    keep_synthetic: bool = False,
    generators: Path | None = None,
) -> dict[str, Any]:
    """Run the trial's stages in ``work``; return the final metrics (also reported with the final checkpoint).

    With ``generators`` (a cache directory, :mod:`rayeaq.sweep.cache`) the generator is fitted once per
    (dataset, diffusion + fit config, seed) and reused by every trial that needs the same one; without it the
    trial fits its own in ``work/fit``.
    """
    augmenter = cfg.augment.augmenter
    write_run_info(
        work,
        cfg,
        "tune_trial",
        {
            "real_dataset": str(dataset),
            "real_fingerprint": read_card(dataset).fingerprint,
            # relative to the trial directory: Tune copies the working directory into the results directory
            "synthetic_dataset": "synthetic" if augmenter != "none" else None,
            "restored_from_checkpoint": restored is not None,
        },
    )
    progress = Progress()
    state = _restore_state(restored, work)
    fitted: Path | None = None
    fit_metrics: dict[str, Any] = state.get("fit_metrics", {})
    if AUGMENTERS.get(augmenter).needs_generator:
        progress.stage = "fit"
        if state.get("fit_done"):
            fitted = work / "fit" / "checkpoint"
            progress.timings["fit"] = float(state.get("time_fit_s", 0.0))
        else:
            start = time.perf_counter()

            def on_fit(metrics: dict) -> None:
                fit_metrics.update(metrics)
                report(progress.row(**metrics), None)

            if generators is None:
                fitted = stages.fit(cfg, dataset, work / "fit", on_fit)
            else:
                fitted = _cached_fit(cfg, dataset, generators, stages, on_fit, fit_metrics)
            progress.timings["fit"] = time.perf_counter() - start
            ckpt = _stage_checkpoint(
                work,
                "fit",
                {"fit_done": True, "fit_metrics": fit_metrics, "time_fit_s": progress.timings["fit"]},
                fitted,
            )
            report(progress.row(**fit_metrics), ckpt)

    synthetic: Path | None = None
    fidelity: dict[str, Any] = {}
    if augmenter != "none":
        progress.stage = "augment"
        start = time.perf_counter()
        if generators is None:
            synthetic = work / "synthetic"
            if synthetic.exists():
                shutil.rmtree(synthetic)
            fidelity = {f"aug_{k}": v for k, v in stages.augment(cfg, dataset, fitted, synthetic).items()}
        else:
            synthetic, fidelity = _cached_augment(cfg, dataset, fitted, generators, stages, fit_metrics)
            _link(work / "synthetic", synthetic)  # the trial's run.json names ``synthetic``, as without the cache
        progress.timings["augment"] = time.perf_counter() - start
        report(progress.row(**fidelity), None)

    progress.stage = "evaluate"
    sources, ratio_effective = mixture(dataset, synthetic, cfg.augment.ratio, cfg.augment.budget)
    start = time.perf_counter()

    resumable = LEARNERS.get(cfg.evaluate.algorithm).resumable

    def on_eval(row: dict) -> None:
        ckpt = None
        if "normalized_return" in row:  # an evaluation (discrete or box learners); other rows are the learner's
            # losses between evaluations (and offline-only held-out rows, which play no episode)
            progress.evaluations += 1
            progress.score = float(row["normalized_return"])
            if resumable and not row.get("final"):  # the learner's progress checkpoint, for a restored trial
                partial = {"fit_done": fitted is not None, "fit_metrics": fit_metrics, "evaluate_partial": True}
                ckpt = _stage_checkpoint(work, "evaluate", partial, fitted, work / "evaluate")
        report(progress.row(**_eval_metrics(row)), ckpt)

    summary = stages.evaluate(cfg, sources, work / "evaluate", on_eval)
    progress.timings["evaluate"] = time.perf_counter() - start
    if synthetic is not None and generators is None and not keep_synthetic:  # cached ones stay for other trials
        for shard_dir in [p for p in synthetic.iterdir() if p.is_dir()]:
            shutil.rmtree(shard_dir)
    progress.stage = "done"
    final = progress.row(
        **fit_metrics,
        **fidelity,
        **_eval_metrics(summary),
        **_real_data_metrics(dataset),
        done=True,
        train_episodes=_mixture_size(sources),
        aug_ratio_effective=ratio_effective,
    )
    ckpt = _stage_checkpoint(
        work,
        "done",
        {"fit_done": fitted is not None, "fit_metrics": fit_metrics, "final": final},
        fitted,
        work / "evaluate",
    )
    report(final, ckpt)
    return final


def _cached_fit(
    cfg: RunConfig,
    dataset: Path,
    generators: Path,
    stages: Stages,
    on_fit: Callable[[dict], None],
    fit_metrics: dict[str, Any],
) -> Path:
    """The trial's generator from the cache: fitted here if no trial has fitted it yet, else reused (its fit's
    final metrics reported again, so that every trial's row carries them)."""
    key = generator_key(
        read_card(dataset).fingerprint, cfg.diffusion.model_dump(mode="json"), cfg.fit.model_dump(mode="json"), cfg.seed
    )
    directory, built = cached(
        generators,
        key,
        lambda d: stages.fit(cfg, dataset, d, on_fit),
        record=lambda: {"fit_metrics": fit_metrics, "dataset": str(dataset)},
    )
    if not built:
        done = json.loads((directory / DONE_FILE).read_text(encoding="utf-8"))
        on_fit(done.get("fit_metrics", {}))
    fit_metrics.update(generator_key=key, generator_reused=not built)
    return directory / "checkpoint"


def _cached_augment(
    cfg: RunConfig,
    dataset: Path,
    fitted: Path | None,
    cache: Path,
    stages: Stages,
    fit_metrics: dict[str, Any],
) -> tuple[Path, dict[str, Any]]:
    """The trial's synthetic dataset from the cache: made by the first trial with the same source (generator
    or real dataset), augment config and seed, reused by the others with its fidelity figures."""
    source = fit_metrics.get("generator_key") if fitted is not None else read_card(dataset).fingerprint
    augment = cfg.augment.model_dump(mode="json")
    if fitted is not None:  # the guidance scale a return-conditioned generator is sampled at (not in its key)
        augment["guidance"] = cfg.diffusion.q_weight
    key = synthetic_key(str(source), augment, cfg.seed)
    made: dict[str, Any] = {}

    def build(directory: Path) -> None:
        data = directory / "data"
        if data.exists():  # a killed attempt: start the dataset again
            shutil.rmtree(data)
        made.update({f"aug_{k}": v for k, v in stages.augment(cfg, dataset, fitted, data).items()})

    directory, built = cached(cache, key, build, record=lambda: {"fidelity": made, "dataset": str(dataset)})
    if not built:
        made = json.loads((directory / DONE_FILE).read_text(encoding="utf-8")).get("fidelity", {})
    return directory / "data", {**made, "synthetic_key": key, "synthetic_reused": not built}


def _link(path: Path, target: Path) -> None:
    """``path`` -> ``target`` as a symbolic link (replacing what was there: a restored trial's old copy)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    path.symlink_to(target.resolve(), target_is_directory=True)


def _eval_metrics(row: dict[str, Any]) -> dict[str, Any]:
    keys = {
        "win_rate": "win_rate",
        "normalized_return": "normalized_return",
        "normalized_score": "normalized_score",  # box (MPE) learners: D4RL/OMAR's 0 = random, 100 = expert
        "normalized_score_ci95_low": "normalized_score_ci95_low",
        "normalized_score_ci95_high": "normalized_score_ci95_high",
        "return_mean": "return_mean",
        "total_loss": "learner_loss",
        "td_loss": "td_loss",
        "updates": "learner_updates",
        # the evaluator's "dataset" is its training mixture (real + synthetic)
        "dataset_normalized_return": "mixture_normalized_return",
        "dataset_win_rate": "mixture_win_rate",
        "episodes": "eval_episodes",
        **{k: k for k in INTERVAL_KEYS},
    }
    return {name: row[key] for key, name in keys.items() if key in row}


def _real_data_metrics(dataset: Path) -> dict[str, float | None]:
    """The real dataset's own figures (the reference every augmenter is compared with)."""
    stats = read_card(dataset).stats
    return {
        "dataset_return_mean": stats.mean_return,
        "dataset_normalized_return": stats.normalized_return,
        "dataset_normalized_score": stats.normalized_score,
        "dataset_win_rate": stats.win_rate,
    }


def _mixture_size(sources: list[tuple[str, float]]) -> int:
    return int(sum(round(read_card(p).stats.episodes * w) for p, w in sources))


def _stage_checkpoint(
    work: Path, name: str, state: dict[str, Any], generator: Path | None, evaluate: Path | None = None
) -> Path:
    """A directory for Tune to persist: the stage state, the generator and the evaluator's outputs.

    Staged outside ``work``: Tune syncs the trial's working directory (its artifacts) in the background, and a
    staging copy deleted after ``tune.report`` while that sync reads it fails the trial (seen as a
    FileNotFoundError in the ``none`` trial of a tiny sweep)."""
    ckpt = Path(tempfile.gettempdir()) / "rayeaq-staging" / f"{work.name}-{os.getpid()}" / name
    if ckpt.exists():
        shutil.rmtree(ckpt)
    ckpt.mkdir(parents=True)
    (ckpt / STATE_FILE).write_text(json.dumps(state, indent=2, default=float), encoding="utf-8")
    if generator is not None:
        shutil.copytree(generator, ckpt / "generator")
    if evaluate is not None:
        shutil.copytree(evaluate, ckpt / "evaluate")
    return ckpt
