"""The fit stage: fit the EAQ generator with Ray Train on a real dataset and export its checkpoint."""

from __future__ import annotations

import json
import time
from pathlib import Path


def default_out(cfg) -> Path:
    d = cfg.diffusion
    name = cfg.name or f"{cfg.env.map}_{d.objective}_q{d.q_weight:g}_h{d.horizon or 'ep'}_seed{cfg.seed}"
    return Path("results") / "fit" / name


def run_fit(cfg, dataset_dir: str | Path, out: str | Path, callbacks: list | None = None) -> dict:
    """Fit (needs a started Ray), export the checkpoint, write ``OUT/fit.json``; returns the summary.

    ``callbacks`` are Ray Train ``RunConfig`` callbacks (a Tune trial passes one that forwards every
    loss report to Tune as it comes).
    """
    from rayeaq.core.runinfo import write_run_info
    from rayeaq.generators.eaq.fit_core import (
        check_out_dir,
        export_checkpoint,
        fit_inputs,
        load_real_dataset,
    )
    from rayeaq.generators.eaq.ray_fit import fit_with_ray

    out = Path(out)
    dataset = load_real_dataset(dataset_dir)
    inputs = fit_inputs(cfg, dataset)
    check_out_dir(out, cfg, inputs)
    write_run_info(out, cfg, "fit", {"dataset": inputs["dataset"], "layout": inputs["layout"]})
    start = time.perf_counter()
    result = fit_with_ray(cfg, inputs, out, callbacks=callbacks)
    if result.checkpoint is None:
        raise RuntimeError("Ray Train finished without a checkpoint")
    with result.checkpoint.as_directory() as directory:
        summary = export_checkpoint(directory, out)
    summary.update(wall_seconds=time.perf_counter() - start, workers=cfg.fit.num_workers, dataset=inputs["dataset"])
    (out / "fit.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
