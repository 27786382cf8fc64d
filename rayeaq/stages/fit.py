"""The fit stage: fit the EAQ generator with Ray Train on a real dataset and export its checkpoint.

A rerun into the same ``out`` resumes from Ray Train's latest checkpoint there, so it must be the same
experiment: the stored ``seed``, ``diffusion`` and ``fit`` sections, code version and dataset fingerprint
are compared first (:func:`rayeaq.core.resume.check_resume`); keys that only change how the fit runs
(:data:`RUN_ONLY_KEYS`) may change, others only when ``allow_change`` names them, and the accepted changes
are recorded in ``run.json``. ``out`` is locked for the whole run, and the Ray cluster must be able to hold
the Train workers (:func:`rayeaq.core.resources.check_resources`) before anything starts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from rayeaq.core.errors import UserError

FIT_SECTIONS = ("seed", "diffusion", "fit")
"""Run-config sections a fit's result depends on (compared on resume)."""
RUN_ONLY_KEYS = (
    "fit.steps",
    "fit.cpus_per_worker",
    "fit.torch_threads",
    "fit.keep_checkpoints",
    "fit.report_every",
    "fit.checkpoint_every",
)
"""Keys a rerun may change without ``allow_change`` (recorded in ``run.json``): how the fit runs, and
``fit.steps``, since continuing a fit to more steps is what a rerun is for."""


SNAPSHOT_FILE = "checkpoint_manager_snapshot.json"
"""Ray Train's record of the checkpoints it registered (what a rerun restores from)."""


class FitFailedError(UserError):
    """A Ray Train worker died (killed, OOM, node lost); the latest checkpoint stays for a rerun to resume from."""


def default_out(cfg) -> Path:
    d = cfg.diffusion
    name = cfg.name or f"{cfg.env.map}_{d.objective}_q{d.q_weight:g}_h{d.horizon or 'ep'}_seed{cfg.seed}"
    return Path("results") / "fit" / name


def run_fit(
    cfg,
    dataset_dir: str | Path,
    out: str | Path,
    callbacks: list | None = None,
    allow_change: Sequence[str] = (),
    progress: bool = False,
) -> dict:
    """Fit (needs a started Ray), export the checkpoint, write ``OUT/fit.json``; returns the summary.

    ``callbacks`` are Ray Train ``RunConfig`` callbacks (a Tune trial passes one that forwards every
    loss report to Tune as it comes). ``allow_change`` lists key patterns a resume may change (``fit.lr``).
    ``progress`` draws a progress bar (step, loss) on the terminal (the command line's fit).
    """
    from rayeaq.core.outlock import out_lock
    from rayeaq.core.resources import check_resources
    from rayeaq.core.resume import check_resume
    from rayeaq.core.runinfo import record_resume, write_run_info
    from rayeaq.data.card import read_card
    from rayeaq.generators.eaq.fit_core import export_checkpoint, fit_inputs, load_real_dataset
    from rayeaq.generators.eaq.ray_fit import fit_with_ray, progress_callback
    from rayeaq.stages.requests import fit_requests

    out = Path(out)
    with out_lock(out, f"fit of {dataset_dir}"):
        card = read_card(dataset_dir)
        changes = check_resume(
            out,
            cfg.model_dump(mode="json"),
            (*RUN_ONLY_KEYS, *allow_change),
            sections=FIT_SECTIONS,
            inputs={"stage": "fit", "dataset.fingerprint": card.fingerprint},
            what="fit",
        )
        check_resources(fit_requests(cfg), wait_s=cfg.ray.resource_wait_s)
        dataset = load_real_dataset(dataset_dir)
        inputs = fit_inputs(cfg, dataset)
        write_run_info(out, cfg, "fit", {"dataset": inputs["dataset"], "layout": inputs["layout"]})
        if changes:
            record_resume(out, changes, list(allow_change))
        start = time.perf_counter()
        if progress:
            callbacks = [*(callbacks or []), progress_callback(cfg.fit.steps)]
        result = _fit_or_explain(fit_with_ray, cfg, inputs, out, callbacks)
        if result.checkpoint is None:
            raise RuntimeError("Ray Train finished without a checkpoint")
        with result.checkpoint.as_directory() as directory:
            summary = export_checkpoint(directory, out)
        summary.update(wall_seconds=time.perf_counter() - start, workers=cfg.fit.workers, dataset=inputs["dataset"])
        (out / "fit.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _fit_or_explain(fit_with_ray, cfg, inputs: dict, out: Path, callbacks: list | None):
    """Run the fit; a dead Train worker becomes one line saying where the rerun resumes."""
    from ray.train.v2.api.exceptions import WorkerGroupError

    try:
        return fit_with_ray(cfg, inputs, out, callbacks=callbacks)
    except WorkerGroupError as err:
        reasons = sorted({f"rank {rank}: {_first_line(failure)}" for rank, failure in err.worker_failures.items()})
        step = last_checkpoint_step(out)
        resume = (
            f"rerun the same command to resume from step {step}" if step else "rerun the same command to start again"
        )
        raise FitFailedError(
            f"fit: Ray Train worker failed ({'; '.join(reasons)[:300]}); {resume} "
            f"(checkpoints under {out / 'ray_train'})"
        ) from None


def _first_line(failure: BaseException) -> str:
    for line in str(failure).splitlines():
        line = line.strip()
        if line and not line.startswith(("Traceback", "File ", "[Rank")):
            return f"{type(failure).__name__}: {line}"[:160]
    return type(failure).__name__


def last_checkpoint_step(out: Path) -> int | None:
    """The step of the newest checkpoint Ray Train registered under ``out`` (what a rerun resumes from), if any.

    A checkpoint directory that Ray Train's checkpoint-manager snapshot does not list (the worker died while
    reporting it) is not resumed from, so it does not count."""
    from rayeaq.generators.eaq.ray_fit import RUN_NAME
    from rayeaq.generators.eaq.train import CHECKPOINT_FILE, load_checkpoint

    root = out / "ray_train" / RUN_NAME
    try:
        snapshot = (root / SNAPSHOT_FILE).read_text(encoding="utf-8")
    except OSError:
        return None
    steps = []
    for file in root.glob(f"checkpoint_*/{CHECKPOINT_FILE}"):
        if file.parent.name in snapshot:
            try:
                steps.append(int(load_checkpoint(file)["step"]))
            except (UserError, KeyError, ValueError):
                continue
    return max(steps) if steps else None
