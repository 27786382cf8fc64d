"""``python -m rayeaq.collect CONFIG [key=value ...] [--out DIR] [--list-maps]``.

Collects one dataset per quality tier into ``OUT/<tier>/`` with Ray actors. Rerunning the same
command resumes: finished tiers are kept, finished shards are not collected again.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rayeaq.cli import base_parser, run_cli
from rayeaq.envs import BACKENDS
from rayeaq.run_config import load_run_config


def default_out(cfg) -> Path:
    return Path("results") / "datasets" / f"{cfg.env.backend}_{cfg.env.map}_seed{cfg.seed}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser("python -m rayeaq.collect", __doc__.splitlines()[0], config_required=False)
    parser.add_argument("--list-maps", action="store_true", help="list the maps with their sizes and exit")
    args = parser.parse_args(argv)
    if args.list_maps:
        print("\n\n".join(backend.maps_table() for _, backend in BACKENDS.items()))
        return 0
    if args.config is None:
        parser.error("CONFIG is required (e.g. tune_configs/collect_3m.yaml)")
    cfg = load_run_config(args.config, args.overrides)
    out = Path(args.out) if args.out else default_out(cfg)

    from rayeaq.stages.collect.driver import collect_all

    start = time.perf_counter()
    summary = collect_all(cfg, out)
    wall = time.perf_counter() - start
    steps_per_s = summary["collected_steps"] / max(summary["collect_seconds"], 1e-9)
    print(
        f"collected {summary['episodes']} episodes, {summary['transitions']} transitions "
        f"({', '.join(summary['tiers'])}) | win rate {summary['win_rate']:.3f} | mean return "
        f"{summary['mean_return']:.3f} | wall {wall:.1f}s | {steps_per_s:,.0f} env-steps/s | {out}"
    )
    return 0


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
