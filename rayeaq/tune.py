"""``python -m rayeaq.tune CONFIG [key.path=value ...] [--out DIR] [--resume] [--dashboard]``.

Runs a Ray Tune sweep in which each trial fits the EAQ generator (Ray Train), augments the shared
dataset, mixes real and synthetic episodes at ``augment.ratio`` and scores the mixture with offline
QMIX (RLlib). The search space is the config's ``tune.space`` (see ``rayeaq/sweep/config.py`` and
``tune_configs/quickstart.yaml``). Results: ``DIR/<trial>/`` (params, progress, checkpoints, stage
outputs), ``DIR/summary.csv`` and a table at the end. ``--resume`` continues an interrupted sweep.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from rayeaq.cli import base_parser, run_cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser("rayeaq.tune", "Ray Tune sweep: fit -> augment -> mix -> offline QMIX per trial.")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted sweep in the results directory (finished trials kept)",
    )
    parser.add_argument(
        "--dashboard", action="store_true", help="start the Ray dashboard on 127.0.0.1 (local Ray) and print its URL"
    )
    args = parser.parse_args(argv)

    from rayeaq.sweep.driver import run_sweep

    return run_sweep(args.config, list(args.overrides), args.out, args.resume, args.dashboard)


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
