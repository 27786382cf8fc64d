"""``python -m rayeaq.fit CONFIG [key=value ...] --dataset DIR [--out DIR]``: fit the EAQ generator.

Ray Train (``fit.workers`` DDP workers, CPU or GPU) trains the diffusion model on a real dataset
and writes ``OUT/checkpoint/generator.pt`` (model, EMA, normaliser, layout, config), ``OUT/losses.csv``
and the run info. Rerunning the same command resumes from the latest checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rayeaq.cli import Command


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="real dataset directory (written by rayeaq.collect)")
    parser.add_argument(
        "--allow-change",
        nargs="+",
        default=[],
        metavar="KEY",
        help="on a rerun/resume, config keys (globs such as ray.*) that may differ from the stored run",
    )


def _execute(cfg: Any, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    from rayeaq.stages.fit import run_fit

    return run_fit(cfg, args.dataset, out, allow_change=args.allow_change, progress=True)


def _summary(s: dict[str, Any], out: Path) -> str:
    return (
        f"fitted {s['step']} steps (resumed from {s['resumed_from']}) | loss {s['final'].get('loss', float('nan')):.4f}"
        f" | {s['wall_seconds']:.1f}s on {s['workers']} worker(s) | {s['checkpoint']}"
    )


def _default_out(cfg: Any) -> Path:
    from rayeaq.stages.fit import default_out

    return default_out(cfg)


COMMAND = Command(
    prog="python -m rayeaq.fit",
    description=__doc__.splitlines()[0],
    stage="fit",
    execute=_execute,
    summary=_summary,
    default_out=_default_out,
    arguments=_arguments,
    run_info=None,
)
main = COMMAND.main

if __name__ == "__main__":
    COMMAND.run()
