"""Own win rate of every scripted SMAX policy (rayeaq.policies), played by the fused collector.

    python benchmarks/scripted_policies.py [--map 3m] [--episodes 256] [--noise 0.05,0.0]

Episode seeds 777 .. 777 + episodes - 1 (the same for every policy). Prints one line per policy and noise.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np


def main() -> None:
    from rayeaq.envs.smax.maps import smax_spec
    from rayeaq.policies import scripted_names
    from rayeaq.stages.collect.rollout import run_episodes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map", default="3m")
    parser.add_argument("--episodes", type=int, default=256)
    parser.add_argument("--noise", default="0.05,0.0", help="comma-separated per-agent uniform-action noise")
    parser.add_argument("--policies", default=",".join(scripted_names()))
    args = parser.parse_args()
    spec = smax_spec(args.map)
    seeds = np.arange(args.episodes) + 777
    start = time.perf_counter()
    for name in args.policies.split(","):
        for noise in (float(x) for x in args.noise.split(",")):
            for _, last_stats in run_episodes(spec, seeds, noise, script=name, n_slots=128, stats_only=True):
                stats = last_stats
            print(
                f"{args.map} {name:14s} noise={noise:.2f} win={stats['won'].mean():.3f} "
                f"return={stats['return'].mean():.3f} length={stats['length'].mean():.1f} "
                f"t={time.perf_counter() - start:.0f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
