"""``python -m rayeaq.fit CONFIG [key=value ...] --dataset DIR [--out DIR]``: fit the EAQ generator.

Ray Train (``fit.num_workers`` DDP workers, CPU or GPU) trains the diffusion model on a real dataset
and writes ``OUT/checkpoint/generator.pt`` (model, EMA, normaliser, layout, config), ``OUT/losses.csv``
and the run info. Rerunning the same command resumes from the latest checkpoint.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from rayeaq.cli import base_parser, run_cli
from rayeaq.run_config import load_run_config
from rayeaq.stages.fit import default_out, run_fit


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser("python -m rayeaq.fit", __doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="real dataset directory (written by rayeaq.collect)")
    args = parser.parse_args(argv)
    cfg = load_run_config(args.config, args.overrides)
    out = Path(args.out) if args.out else default_out(cfg)
    from rayeaq.core.ray_session import ray_session

    with ray_session(cfg.ray):
        summary = run_fit(cfg, args.dataset, out)
    final = summary["final"]
    print(
        f"fitted {summary['step']} steps (resumed from {summary['resumed_from']}) | loss {final.get('loss', float('nan')):.4f}"
        f" | {summary['wall_seconds']:.1f}s on {summary['workers']} worker(s) | {summary['checkpoint']}"
    )
    return 0


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
