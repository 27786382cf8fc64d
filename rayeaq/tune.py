"""``python -m rayeaq.tune CONFIG [key.path=value ...] [--out DIR] [--resume] [--dashboard]``.

Runs a Ray Tune sweep in which each trial fits the EAQ generator (Ray Train), augments the shared
dataset, mixes real and synthetic episodes at ``augment.ratio`` and scores the mixture with the offline
learner (RLlib). The search space is the config's ``tune.space`` (see ``rayeaq/sweep/config.py`` and
``tune_configs/quickstart.yaml``). Results: ``DIR/<trial>/`` (params, progress, checkpoints, stage
outputs), ``DIR/summary.csv`` and a table at the end. ``--resume`` continues an interrupted sweep.
Exit code 0 when every trial finished, 1 when some failed for good, 130 when interrupted.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rayeaq.cli import Command


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted sweep in the results directory (finished trials kept)",
    )
    parser.add_argument(
        "--dashboard", action="store_true", help="start the Ray dashboard on 127.0.0.1 (local Ray) and print its URL"
    )
    parser.add_argument(
        "--allow-change",
        nargs="+",
        default=[],
        metavar="KEY",
        help="with --resume: config keys (globs such as ray.* or tune.max_concurrent_trials) that may differ",
    )


def _execute(cfg: Any, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    from rayeaq.sweep.driver import run_sweep  # checks, collects, runs Tune and prints the results table

    code = run_sweep(args.config, list(args.overrides), args.out, args.resume, args.dashboard, args.allow_change)
    return {"exit_code": code}


def _default_out(cfg: Any) -> Path:
    from rayeaq.sweep.driver import plan

    return plan(cfg, None).local_dir


COMMAND = Command(
    prog="python -m rayeaq.tune",
    description=__doc__.splitlines()[0],
    stage="tune",
    execute=_execute,
    summary=lambda result, out: "",
    default_out=_default_out,
    arguments=_arguments,
    run_info=None,
    uses_ray=lambda cfg: False,
    on_interrupt="rerun the same command with --resume to continue",
)
main = COMMAND.main

if __name__ == "__main__":
    COMMAND.run()
