"""``python -m rayeaq.fit CONFIG [key=value ...] --dataset DIR [--out DIR]``: fit the EAQ generator.

Ray Train (``fit.num_workers`` DDP workers, CPU or GPU) trains the diffusion model on a real dataset
and writes ``OUT/checkpoint/generator.pt`` (model, EMA, normaliser, layout, config), ``OUT/losses.csv``
and the run info. Rerunning the same command resumes from the latest checkpoint.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Sequence

from rayeaq.cli import base_parser, run_cli
from rayeaq.config import load_run_config


def default_out(cfg) -> Path:
    d = cfg.diffusion
    name = cfg.name or f"{cfg.env.map}_{d.objective}_q{d.q_weight:g}_h{d.horizon or 'ep'}_seed{cfg.seed}"
    return Path("results") / "fit" / name


def run_fit(cfg, dataset_dir: str | Path, out: str | Path, callbacks: list | None = None) -> dict:
    """Fit (needs a started Ray), export the checkpoint, write ``OUT/fit.json``; returns the summary.

    ``callbacks`` are Ray Train ``RunConfig`` callbacks (a Tune trial passes one that forwards every
    loss report to Tune as it comes).
    """
    from rayeaq.diffusion.fit_core import check_out_dir, export_checkpoint, fit_inputs, load_real_dataset
    from rayeaq.diffusion.ray_fit import fit_with_ray
    from rayeaq.runinfo import write_run_info

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser("python -m rayeaq.fit", __doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="real dataset directory (written by rayeaq.collect)")
    args = parser.parse_args(argv)
    cfg = load_run_config(args.config, args.overrides)
    out = Path(args.out) if args.out else default_out(cfg)
    from rayeaq.ray_session import ray_session

    with ray_session(cfg.ray):
        summary = run_fit(cfg, args.dataset, out)
    final = summary["final"]
    print(f"fitted {summary['step']} steps (resumed from {summary['resumed_from']}) | loss {final.get('loss', float('nan')):.4f}"
          f" | {summary['wall_seconds']:.1f}s on {summary['workers']} worker(s) | {summary['checkpoint']}")
    return 0


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
