"""``python -m rayeaq.augment CONFIG [key=value ...] --dataset DIR [--checkpoint DIR] [--out DIR]``.

Runs ``augment.augmenter`` (none | eaq | eaq_noq | dom2_replicate | gaussian_noise) on a real dataset
and writes a synthetic dataset (same schema, ``source=synthetic``, generator fingerprint in the card)
plus ``fidelity.json`` into OUT. eaq/eaq_noq sample the ``rayeaq.fit`` checkpoint in Ray tasks.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rayeaq.augmenters import AUGMENTERS
from rayeaq.cli import base_parser, run_cli
from rayeaq.run_config import load_run_config


def default_out(cfg) -> Path:
    return Path("results") / "augment" / (cfg.name or f"{cfg.env.map}_{cfg.augment.augmenter}_seed{cfg.seed}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser("python -m rayeaq.augment", __doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="real dataset directory")
    parser.add_argument("--checkpoint", default=None, help="rayeaq.fit output dir or generator.pt (eaq, eaq_noq)")
    args = parser.parse_args(argv)
    cfg = load_run_config(args.config, args.overrides)
    out = Path(args.out) if args.out else default_out(cfg)
    from rayeaq.core.runinfo import write_run_info
    from rayeaq.stages.augment import run_augment

    write_run_info(out, cfg, "augment", {"dataset": args.dataset, "checkpoint": args.checkpoint})
    start = time.perf_counter()
    if AUGMENTERS.get(cfg.augment.augmenter).needs_generator:
        from rayeaq.core.ray_session import ray_session

        with ray_session(cfg.ray):
            report = run_augment(cfg, args.dataset, args.checkpoint, out)
    else:
        report = run_augment(cfg, args.dataset, args.checkpoint, out)
    legal = report["legal_action_share"]
    print(
        f"{cfg.augment.augmenter}: kept {report['kept']} of {report['sampled']} sampled"
        f" (share {report['share_kept']:.2f}, legal actions {'n/a' if legal is None else f'{legal:.3f}'})"
        f" | obs MMD {report.get('obs_mmd', float('nan')):.4f} | coverage {report.get('coverage', float('nan')):.2f}"
        f" | {time.perf_counter() - start:.1f}s | {out}"
    )
    return 0


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
