"""A workload that needs more CPUs than the head has: run it against an autoscaling cluster and watch nodes join.

    RAY_ADDRESS=<head-ip>:6379 python deploy/autoscale_demo.py --actors 4

Starts ``--actors`` actors of 1 CPU each and keeps them all alive at once (so the cluster needs that many CPUs
simultaneously), has each burn ``--work-s`` seconds of CPU, and prints one JSON line: which node each actor ran
on and the cluster's nodes before and after. Exit 1 if the actors could not all start within ``--timeout-s``.
Used by docs/cluster.md and tests/test_autoscaler.py (which swaps in a real sweep later).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import ray


@ray.remote(num_cpus=1)
class Burner:
    """Holds one CPU while alive; ``work`` spins for a while and says where it ran."""

    def node(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def work(self, seconds: float) -> int:
        end, n = time.monotonic() + seconds, 0
        while time.monotonic() < end:
            n += 1
        return n


def alive_nodes() -> list[dict]:
    """Alive nodes as ``{"id", "cpu"}``."""
    return [{"id": n["NodeID"], "cpu": n["Resources"].get("CPU", 0)} for n in ray.nodes() if n["Alive"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actors", type=int, default=4, help="1-CPU actors alive at once")
    parser.add_argument("--work-s", type=float, default=2.0, help="seconds of CPU each actor burns")
    parser.add_argument("--timeout-s", type=float, default=240.0, help="give up when actors cannot start")
    args = parser.parse_args(argv)

    ray.init(address=os.environ.get("RAY_ADDRESS", "auto"), logging_level="WARNING")
    before = alive_nodes()
    print(
        f"cluster before: {len(before)} node(s), {sum(n['cpu'] for n in before)} CPU; "
        f"starting {args.actors} x 1-CPU actors",
        file=sys.stderr,
        flush=True,
    )
    actors = [Burner.remote() for _ in range(args.actors)]
    try:
        nodes = ray.get([a.node.remote() for a in actors], timeout=args.timeout_s)
    except ray.exceptions.GetTimeoutError:
        print(f"actors did not all start within {args.timeout_s}s (is the autoscaler running?)", file=sys.stderr)
        return 1
    ray.get([a.work.remote(args.work_s) for a in actors])
    after = alive_nodes()
    print(json.dumps({"actors": args.actors, "actor_nodes": nodes, "nodes_before": before, "nodes_after": after}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
