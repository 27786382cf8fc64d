"""``python -m rayeaq.collect CONFIG [key=value ...] [--out DIR] [--list-maps]``.

Collects one dataset per quality tier into ``OUT/<tier>/`` with Ray actors. Rerunning the same
command resumes: finished tiers are kept, finished shards are not collected again.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rayeaq.cli import Command


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list-maps", action="store_true", help="list the maps with their sizes and exit")


def _early(args: argparse.Namespace) -> int | None:
    if not args.list_maps:
        return None
    from rayeaq.envs import BACKENDS

    print("\n\n".join(backend.maps_table() for _, backend in BACKENDS.items()))
    return 0


def _execute(cfg: Any, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    from rayeaq.stages.collect.driver import (
        collect_all,  # starts its Ray session after checking the output
    )

    start = time.perf_counter()
    summary = collect_all(cfg, out)
    return {**summary, "wall_seconds": time.perf_counter() - start}


def _summary(s: dict[str, Any], out: Path) -> str:
    steps_per_s = s["collected_steps"] / max(s["collect_seconds"], 1e-9)
    win = "n/a" if s["win_rate"] is None else f"{s['win_rate']:.3f}"  # MPE maps have no win
    return (
        f"collected {s['episodes']} episodes, {s['transitions']} transitions ({', '.join(s['tiers'])}) | "
        f"win rate {win} | mean return {s['mean_return']:.3f} | wall {s['wall_seconds']:.1f}s | "
        f"{steps_per_s:,.0f} env-steps/s | {out}"
    )


def _default_out(cfg: Any) -> Path:
    return Path("results") / "datasets" / f"{cfg.env.backend}_{cfg.env.map}_seed{cfg.seed}"


COMMAND = Command(
    prog="python -m rayeaq.collect",
    description=__doc__.splitlines()[0],
    stage="collect",
    execute=_execute,
    summary=_summary,
    default_out=_default_out,
    arguments=_arguments,
    run_info=None,
    uses_ray=lambda cfg: False,
    early=_early,
    config_required=False,
)
main = COMMAND.main

if __name__ == "__main__":
    COMMAND.run()
