"""``python -m rayeaq.collect CONFIG [key=value ...] [--out DIR] [--list-maps] [--check-tiers]``.

Collects one dataset per quality tier into ``OUT/<tier>/`` with Ray actors. Rerunning the same
command resumes: finished tiers are kept, finished shards are not collected again.

``--check-tiers`` then trains behaviour cloning on every tier (the budget is the config's ``evaluate`` section)
and writes ``OUT/check/tiers.{json,md}``: BC's greedy win rate next to the data's. The command exits 1 when a
check fails (BC on ``poor`` above the poor band's upper bound + 0.15, BC on ``good`` below the good band's lower
bound: :func:`rayeaq.stages.collect.check.verdicts`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rayeaq.cli import Command


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list-maps", action="store_true", help="list the maps with their sizes and exit")
    parser.add_argument(
        "--check-tiers",
        action="store_true",
        help="after collecting, train BC on each tier and write OUT/check/tiers.{json,md} (exit 1 if a check fails)",
    )


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
    summary["wall_seconds"] = time.perf_counter() - start
    if args.check_tiers:
        summary.update(_check(cfg, out))
    return summary


def _check(cfg: Any, out: Path) -> dict[str, Any]:
    """BC on every collected tier: prints the table; the exit code says whether the checks pass."""
    from rayeaq.core.ray_session import ray_session
    from rayeaq.stages.collect.check import check_tiers, markdown, verdicts

    with ray_session(cfg.ray):
        rows = check_tiers(cfg, out, out / "check")
    print(markdown(rows), end="", flush=True)
    checks = verdicts(rows)
    return {"tier_checks": checks, "exit_code": 0 if all(checks.values()) else 1}


def _summary(s: dict[str, Any], out: Path) -> str:
    steps_per_s = s["collected_steps"] / max(s["collect_seconds"], 1e-9)
    win = "n/a" if s["win_rate"] is None else f"{s['win_rate']:.3f}"  # MPE maps have no win
    warm = f"; warm-up {s['warmup_seconds']:.1f}s apart" if "warmup_seconds" in s else ""
    line = (
        f"collected {s['episodes']} episodes, {s['transitions']} transitions ({', '.join(s['tiers'])}) | "
        f"win rate {win} | mean return {s['mean_return']:.3f} | wall {s['wall_seconds']:.1f}s | "
        f"{steps_per_s:,.0f} env-steps/s (collection{warm}) | {out}"
    )
    if "tier_checks" in s:
        checks = ", ".join(f"{k} {'pass' if v else 'FAIL'}" for k, v in s["tier_checks"].items())
        line += f" | tier check: {checks or 'no good/poor tier'} -> {out / 'check' / 'tiers.md'}"
    return line


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
