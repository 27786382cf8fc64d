"""Where a collector's start-up goes, and what tracing once per process saves.

In one fresh process (as a Ray actor starts): importing JAX and SMAX, then the first collection call (tracing the
jitted chunk and slot initialisation, compiling them or loading them from JAX's persistent compilation cache).
Then, paired and interleaved, the same small collection call (``--episodes`` episodes, stats only) made
- with a new SMAX env object, as every call did before envs were kept per process: the jitted functions take the
  env as a static argument, so each call traced them again (every calibration candidate, tier, shard group);
- with the process's env (``rollout.process_env``): traced once, the call only runs.
The difference is the start-up each later call of an actor no longer pays.

Then the floor of any Ray command that collects with JAX, whatever its collector: ``--floor-repeats`` fresh
processes that start Ray as ``python -m rayeaq.collect`` does (``ray_session``, 4 logical CPUs), start one actor that
imports JAX and SMAX and answers, and shut Ray down -- no tracing, no stepping, no writing. Set against the ceiling's
time for the same work it bounds the whole command's ratio to the ceiling from above: a command cannot be faster
than this floor plus the ceiling's own time.

    python benchmarks/collect_startup.py [--map 3m] [--episodes 128] [--repeats 5] [--floor-repeats 3] [--quick]
        [--json OUT]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Report, Stats, paired

FLOOR = """
import os, time
start = time.perf_counter()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import ray
from rayeaq.core.ray_config import RayConfig
from rayeaq.core.ray_session import ray_session

@ray.remote(num_cpus=1)
class Importer:
    def ready(self):
        import jax  # noqa: F401
        from rayeaq.envs.smax import core  # noqa: F401
        return True

with ray_session(RayConfig(num_cpus=4)):
    ray.get(Importer.remote().ready.remote())
print(time.perf_counter() - start)
"""
"""A command's unavoidable part: interpreter, Ray started and stopped, one actor importing JAX and SMAX."""


def ray_floor(repeats: int) -> tuple[Stats, Stats]:
    """(wall seconds of the whole child process, seconds inside it from its first line) over ``repeats`` runs."""
    walls, inner = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", FLOOR], capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - start)
        inner.append(float(out.stdout.strip().splitlines()[-1]))
    return Stats(walls), Stats(inner)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map", default="3m")
    parser.add_argument("--episodes", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--floor-repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3 repeats, 1 floor run")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.floor_repeats = 3, 1
    start = time.perf_counter()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax  # noqa: F401
    import numpy as np

    from rayeaq.envs.smax.maps import smax_spec
    from rayeaq.stages.collect import rollout

    imports = time.perf_counter() - start
    spec = smax_spec(args.map)
    seeds = np.arange(args.episodes) + 10_000

    def call() -> float:
        for _ in rollout.run_episodes(spec, seeds, 0.1, n_slots=128, stats_only=True):
            pass
        return 1.0

    start = time.perf_counter()
    call()
    first = time.perf_counter() - start

    def fresh_env() -> float:
        rollout._ENVS.clear()  # a new env object for this call: what every call did before
        return call()

    fresh, reused = paired(fresh_env, call, args.repeats, warmup=0)
    report = Report(f"Collector start-up: {args.map}, {args.episodes} episodes per call, 128 envs")
    report.add("import JAX + SMAX files", Stats([imports]), "s")
    report.add("first call in a process (trace, compile or cache load, run)", Stats([first]), "s")
    # paired() gives calls/s; report seconds per call
    report.add("later call, new env object (traced again)", Stats([1 / v for v in fresh.values]), "s")
    report.add("later call, the process's env (traced once)", Stats([1 / v for v in reused.values]), "s")
    floor_wall, floor_inner = ray_floor(args.floor_repeats)
    report.add("floor: a process that starts Ray, one JAX actor, stops Ray", floor_wall, "s")
    report.add("  of it from the interpreter's first line", floor_inner, "s")
    print(report.text())
    if args.json:
        report.save(args.json)


if __name__ == "__main__":
    main()
