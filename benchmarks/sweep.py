"""Quickstart sweep wall time on this machine, and where it goes: Ray start-up/scheduling vs stage work.

Runs ``python -m rayeaq.tune tune_configs/quickstart.yaml`` as a subprocess (its own local Ray, datasets
collected by the command itself), then splits the wall time with the driver's ``timings.json`` (Ray
start, collection, Tune, Ray stop) and the per-trial stage timings in ``summary.csv`` (fit, augment,
evaluate as timed inside each trial). "Ray overhead" = wall - collection - the sum of stage times
(trials run one at a time in the quickstart), i.e. process start, Ray/Tune start-up, trial actor
start, scheduling and result handling. The fit stage itself includes Ray Train's worker-group start.

    python benchmarks/sweep.py [--out DIR] [extra overrides ...]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _f(value: str) -> float:
    return float(value) if value not in ("", None) else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="results dir (default: a temp dir)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="sweep-bench-")) / "quickstart"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.setdefault("RAY_AUTH_MODE", "disabled")
    env.setdefault("JAX_PLATFORMS", "cpu")
    cmd = [
        sys.executable,
        "-m",
        "rayeaq.tune",
        str(REPO / "tune_configs/quickstart.yaml"),
        *args.overrides,
        "--out",
        str(out),
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        print(proc.stdout[-4000:], proc.stderr[-4000:], sep="\n")
        return proc.returncode
    timings = json.loads((out / "timings.json").read_text())
    with (out / "summary.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    stages = {s: sum(_f(r.get(f"time_{s}_s", "")) for r in rows) for s in ("fit", "augment", "evaluate")}
    stage_total = sum(stages.values())
    trial_total = sum(_f(r.get("time_total_s", "")) for r in rows)
    overhead = wall - timings["collect_s"] - stage_total
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "trials": len(rows),
        "finished": sum(r["status"] == "TERMINATED" for r in rows),
        "wall_s": round(wall, 1),
        "driver": timings,
        "stage_s": {k: round(v, 1) for k, v in stages.items()},
        "trial_time_total_s": round(trial_total, 1),
        "in_trial_outside_stages_s": round(trial_total - stage_total, 1),
        "ray_overhead_s": round(overhead, 1),
        "share": {
            "collect": round(timings["collect_s"] / wall, 3),
            "stages": round(stage_total / wall, 3),
            "ray_startup_scheduling": round(overhead / wall, 3),
        },
        "per_trial": [
            {
                "trial": r["trial"],
                "status": r["status"],
                "score": r["score"],
                **{f"{s}_s": r.get(f"time_{s}_s", "") for s in ("fit", "augment", "evaluate")},
                "total_s": r.get("time_total_s", ""),
            }
            for r in rows
        ],
    }
    print(json.dumps(result, indent=2))
    print(
        f"quickstart: {wall:.0f} s wall (goal < 600 s) for {len(rows)} trials; collection {timings['collect_s']:.0f} s, "
        f"stages {stage_total:.0f} s ({stage_total / wall:.0%}), Ray start-up/scheduling/other {overhead:.0f} s "
        f"({overhead / wall:.0%})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
