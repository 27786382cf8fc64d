"""Peak memory (RSS) of each stage as a user runs it, and of the reader streaming vs loading a dataset.

Each stage is its command (``python -m rayeaq.collect|fit|augment|evaluate`` on the quickstart config, small
budgets) in its own process; its process tree (the command, Ray's raylet/GCS and every worker it starts) is
sampled with psutil every 0.1 s: "tree" is the peak of the summed RSS (shared pages counted once per process, an
upper bound), "largest" the peak of the biggest single process. Collection runs ``--episodes`` episodes (100 000
by default, 2 000 with ``--quick``) in shards of 1 000: its memory should not depend on the episode count. The
reader figures are ``ru_maxrss`` of a process that streams the collected dataset shard by shard
(``reader.iter_dataset``) or loads it whole (``reader.load_dataset``, what fit/evaluate do): the first is bounded
by a shard, the second grows with the dataset (measured up to 10 000 episodes). Fit, augment and evaluate hold
their training data by design; they run on the quickstart's 200 episodes.

    python benchmarks/memory.py [--episodes 100000] [--quick] [--json OUT]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Report, Stats, run_process

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "tune_configs" / "quickstart.yaml")
MIB = 2**20
LOAD_MAX = 10_000
"""Largest dataset read whole for the comparison (100 000 padded 3m episodes are ~7.6 GB in memory)."""

READ = textwrap.dedent(
    """
    import resource, sys
    from rayeaq.data.reader import iter_dataset, load_dataset
    if sys.argv[1] == "stream":
        n = sum(len(batch) for batch in iter_dataset(sys.argv[2]))
    else:
        n = len(load_dataset(sys.argv[2]).episodes)
    print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    """
)


def stage(report: Report, name: str, args: list[str]) -> None:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    env.pop("RAY_ADDRESS", None)
    proc = run_process([sys.executable, *args], cwd=ROOT, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-2000:]}")
    report.add(f"{name}: peak RSS, process tree", Stats([proc.peak_tree_rss / MIB]), "MiB")
    report.add(f"{name}: peak RSS, largest process", Stats([proc.peak_process_rss / MIB]), "MiB")
    report.add(f"{name}: wall time", Stats([proc.wall_s]), "s")
    report.notes.append(f"{name}: {proc.stdout.strip().splitlines()[-1][:240]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="2 000 episodes, tiny fit/augment/evaluate budgets")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.quick:
        args.episodes = 2000
    steps, updates = (50, 20) if args.quick else (300, 200)
    report = Report(f"Peak memory per stage (quickstart config, SMAX 3m, {args.episodes:,} collected episodes)")
    with tempfile.TemporaryDirectory() as tmp:
        data, fit, aug = Path(tmp) / "data", Path(tmp) / "fit", Path(tmp) / "aug"
        collect = ["-m", "rayeaq.collect", CONFIG, "--out", str(data), f"collect.episodes={args.episodes}"]
        stage(report, "collect", [*collect, "collect.shard_episodes=1000", "collect.workers=1"])
        dataset = str(data / "medium")
        for mode in ("stream", "load") if args.episodes <= LOAD_MAX else ("stream",):
            proc = run_process([sys.executable, "-c", READ, mode, dataset], cwd=ROOT)
            if proc.returncode != 0:
                raise SystemExit(f"reader failed:\n{proc.stderr[-2000:]}")
            n, rss = proc.stdout.split()[-2:]
            what = "iter_dataset, one shard at a time" if mode == "stream" else "load_dataset, everything"
            report.add(f"reader ({what}): peak RSS", Stats([int(rss) / MIB]), "MiB", note=f"{int(n):,} episodes")
        # fit, augment and evaluate hold their whole training set by design: they run on 200 episodes
        stage(report, "collect (200 episodes)", ["-m", "rayeaq.collect", CONFIG, "--out", str(Path(tmp) / "small")])
        dataset = str(Path(tmp) / "small" / "medium")
        small = [f"fit.steps={steps}", f"fit.checkpoint_every={steps}", "ray.num_cpus=4"]
        stage(report, "fit", ["-m", "rayeaq.fit", CONFIG, "--dataset", dataset, "--out", str(fit), *small])
        stage(
            report,
            "augment",
            ["-m", "rayeaq.augment", CONFIG, "--dataset", dataset, "--checkpoint", str(fit), "--out", str(aug)]
            + ["augment.augmenter=eaq", "ray.num_cpus=4"],
        )
        stage(
            report,
            "evaluate",
            ["-m", "rayeaq.evaluate", CONFIG, "--dataset", dataset, "--dataset", f"{aug}:0.5", "--out"]
            + [str(Path(tmp) / "eval"), f"evaluate.updates={updates}", "evaluate.eval_interval=10", "ray.num_cpus=4"],
        )
    print(report.text())
    if args.json:
        report.save(args.json)


if __name__ == "__main__":
    main()
