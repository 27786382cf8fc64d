"""``python -m rayeaq.augment CONFIG [key=value ...] --dataset DIR [--checkpoint DIR] [--out DIR]``.

Runs the registered ``augment.augmenter`` (none | eaq | eaq_noq | dom2_replicate | gaussian_noise) on a real
dataset and writes a synthetic dataset (same schema, ``source=synthetic``, generator fingerprint in the card)
plus ``fidelity.json`` into OUT. eaq/eaq_noq sample the ``rayeaq.fit`` checkpoint in Ray tasks.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rayeaq.augmenters import AUGMENTERS
from rayeaq.cli import Command


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="real dataset directory")
    parser.add_argument("--checkpoint", default=None, help="rayeaq.fit output dir or generator.pt (eaq, eaq_noq)")


def _execute(cfg: Any, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    from rayeaq.stages.augment import run_augment

    start = time.perf_counter()
    report = run_augment(cfg, args.dataset, args.checkpoint, out)
    return {**report, "wall_seconds": time.perf_counter() - start}


def _summary(r: dict[str, Any], out: Path) -> str:
    legal = r["legal_action_share"]
    return (
        f"{r['augmenter']}: kept {r['kept']} of {r['sampled']} sampled"
        f" (share {r['share_kept']:.2f}, legal actions {'n/a' if legal is None else f'{legal:.3f}'})"
        f" | obs MMD {r.get('obs_mmd', float('nan')):.4f} | coverage {r.get('coverage', float('nan')):.2f}"
        f" | {r['wall_seconds']:.1f}s | {out}"
    )


def _default_out(cfg: Any) -> Path:
    return Path("results") / "augment" / (cfg.name or f"{cfg.env.map}_{cfg.augment.augmenter}_seed{cfg.seed}")


COMMAND = Command(
    prog="python -m rayeaq.augment",
    description=__doc__.splitlines()[0],
    stage="augment",
    execute=_execute,
    summary=_summary,
    default_out=_default_out,
    arguments=_arguments,
    run_info=lambda cfg, args: {"dataset": args.dataset, "checkpoint": args.checkpoint},
    uses_ray=lambda cfg: AUGMENTERS.get(cfg.augment.augmenter).needs_generator,
)
main = COMMAND.main

if __name__ == "__main__":
    COMMAND.run()
