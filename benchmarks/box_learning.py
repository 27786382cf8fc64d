"""Learning comparison of the box-action learners on ``omar_spread`` medium: box BC, DOM2, omsd (IQM over seeds).

    python benchmarks/box_learning.py [--data DIR] [--out results/bench/box_learning] [--seeds 0 1 2]
        [--updates N] [--learners box_bc dom2 omsd] [--set KEY=VALUE ...] [--quick] [--json OUT]

Data: an ``omar_spread`` medium dataset (``--data``), else collected once into ``OUT/data/medium`` by
``python -m rayeaq.collect tune_configs/collect_mpe.yaml`` (medium tier only, 1 000 episodes, seed 0). The data are
ours (JaxMARL's MPE with OMAR's equations, our scripted expert with an epsilon-mixture), not OMAR's.

Every learner runs through its registry entry (``LEARNERS.get(name).run``, what ``rayeaq.evaluate`` calls) on
``tune_configs/evaluate_mpe.yaml`` with the run config's ``dom2``/``omsd`` defaults (``--set`` overrides), with
``--updates`` updates (omsd: as many stage-2 rounds, and ``--stage1-updates`` critic and score-model updates per
unit, in this process), evaluated once at the end with ``--eval-episodes`` greedy episodes on held-out seeds
(``derive_seed(seed, "evaluate", "episodes") + i``: the same seeds for every learner of a seed). The score is the
normalized score of the card (D4RL/OMAR: 100 (R - R_random) / (R_expert - R_random)). Per learner: IQM over seeds
with a 95 % stratified-bootstrap interval (``analysis.stats``), the mean return, wall time per run; beside them the
dataset's own score and DOM2 Table 1's Cooperative Navigation medium row (papers/003; mean return +- std over 5
seeds on OMAR's data). Runs are kept in ``OUT/runs`` and ``OUT/results.json``; a rerun skips what is there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # analysis.stats when run as a script

import numpy as np  # noqa: E402
from harness import Report, Stats  # noqa: E402

LEARNERS = ("box_bc", "dom2", "omsd")
PAPER_MEDIUM = {"MA-CQL": (275.4, 29.5), "OMAR": (348.7, 51.7), "MA-SfBC": (276.3, 8.8), "DOM2": (358.9, 25.2)}
"""DOM2 (papers/003) Table 1, Cooperative Navigation, Medium: mean episode return +- std over 5 seeds."""
FULL = {"updates": 1000, "stage1_updates": 1000, "eval_episodes": 200}
"""The full mode's budget: 3 learners x 3 seeds in about 30 min on 2 cores at the update rates measured with
torch threads 1 (DOM2 4.2 updates/s at batch 256, omsd 29 stage-1 unit updates/s and 5.3 rounds/s, box BC 176
updates/s; benchmarks/RESULTS.md, "DOM2 and sequential score decomposition")."""
SAME_BATCH = ["dom2.batch_size=256"]
"""Every learner on minibatches of 256 transitions (box BC's and omsd's defaults, TD3+BC's and IQL's): DOM2's
default 1024 (OMAR's) costs 3.7x the time per update on a CPU (1.1 against 4.2 updates/s); ``--set`` overrides."""
QUICK = {"updates": 20, "stage1_updates": 20, "eval_episodes": 20, "episodes": 200}


def collect_medium(out: Path, episodes: int) -> Path:
    """``OUT/data/medium``: the medium tier of ``tune_configs/collect_mpe.yaml`` (``episodes`` episodes), once."""
    root = out / "data"
    if not (root / "medium" / "card.json").is_file():
        command = [
            sys.executable,
            "-m",
            "rayeaq.collect",
            str(ROOT / "tune_configs" / "collect_mpe.yaml"),
            "collect.mpe.tiers=[medium]",
            f"collect.episodes={episodes}",
            "--out",
            str(root),
        ]
        print("collect:", " ".join(command[2:]), flush=True)
        subprocess.run(command, check=True, cwd=ROOT)
    return root / "medium"


def run_one(learner: str, seed: int, data: Path, run_dir: Path, args: argparse.Namespace) -> dict:
    """One learner on one seed through its registry entry; the summary's figures and the wall time."""
    import torch

    from rayeaq.learners import LEARNERS as REGISTRY
    from rayeaq.run_config import load_run_config

    cfg = load_run_config(
        str(ROOT / "tune_configs" / "evaluate_mpe.yaml"),
        [
            f"seed={seed}",
            f"evaluate.algorithm={learner}",
            f"evaluate.updates={args.updates}",
            f"evaluate.eval_interval={args.updates}",
            f"evaluate.final_eval_episodes={args.eval_episodes}",
            f"evaluate.eval_envs={min(args.eval_episodes, 100)}",
            "evaluate.checkpoint=false",
            "evaluate.learners=0",  # omsd's stage 1 in this process: no Ray in the comparison
            f"omsd.critic_updates={args.stage1_updates}",
            f"omsd.score_updates={args.stage1_updates}",
            f"omsd.stage1_dir={run_dir.parent / 'omsd_stage1'}",
            *SAME_BATCH,
            *args.set,
        ],
    )
    torch.set_num_threads(1)
    start = time.perf_counter()
    s = REGISTRY.get(learner).run(cfg, [(str(data), 1.0)], run_dir, None)
    wall = time.perf_counter() - start
    keep = ("return_mean", "normalized_score", "normalized_return", "episodes", "dataset_normalized_score")
    row = {"learner": learner, "seed": seed, **{k: s[k] for k in keep}, "wall_s": round(wall, 1)}
    row["train_s"], row["stage1_fit_s"] = s["train_s"], s.get("stage1", {}).get("fit_s")  # omsd: stage 2 / stage 1
    return row


def table(runs: list[dict], learners: list[str], seeds: list[int], dataset_score: float, tier: str) -> list[str]:
    from analysis.stats import bootstrap_ci

    lines = [
        "| learner | seeds | IQM normalized score [95 % CI] | mean return | wall s per run (median) |",
        "|---|---|---|---|---|",
    ]
    for name in learners:
        rows = [r for r in runs if r["learner"] == name and r["seed"] in seeds]
        if not rows:
            continue
        scores = np.array([r["normalized_score"] for r in rows])
        point, low, high = bootstrap_ci(scores[:, None], seed=0)
        ret = float(np.mean([r["return_mean"] for r in rows]))
        wall = float(np.median([r["wall_s"] for r in rows]))
        lines.append(f"| {name} | {len(rows)} | {point:.1f} [{low:.1f}, {high:.1f}] | {ret:.1f} | {wall:.1f} |")
    lines.append(f"| dataset ({tier}, ours) | - | {dataset_score:.1f} | - | - |")
    lines.append("")
    lines.append("DOM2 Table 1, Cooperative Navigation, Medium (OMAR's data, mean return +- std over 5 seeds):")
    lines.append("  " + ", ".join(f"{k} {m} +- {s}" for k, (m, s) in PAPER_MEDIUM.items()))
    lines.append("The data here are ours (JaxMARL MPE with OMAR's equations, our scripted behaviour), not OMAR's:")
    lines.append("returns are in the same units, the datasets and budgets are not the paper's.")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None, help="an omar_spread medium dataset (default: collect one)")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "box_learning")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=LEARNERS)
    p.add_argument("--updates", type=int, default=None, help=f"updates per run (full: {FULL['updates']})")
    p.add_argument("--stage1-updates", type=int, default=None, help="omsd critic / score-model updates each")
    p.add_argument("--eval-episodes", type=int, default=None, help="final greedy episodes per run")
    p.add_argument("--episodes", type=int, default=1000, help="episodes when collecting the dataset")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="run-config overrides for every run")
    p.add_argument("--quick", action="store_true", help="20 updates, 20 episodes, 200-episode data: a sanity pass")
    p.add_argument("--json", default=None, help="also write the report as JSON (benchmarks/run_all.py)")
    args = p.parse_args(argv)
    budget = QUICK if args.quick else FULL
    args.updates = args.updates or budget["updates"]
    args.stage1_updates = args.stage1_updates if args.stage1_updates is not None else budget["stage1_updates"]
    args.eval_episodes = args.eval_episodes or budget["eval_episodes"]
    if args.quick:
        args.episodes = QUICK["episodes"]
        args.out = args.out / "quick"
    data = args.data or collect_medium(args.out, args.episodes)
    if not (Path(data) / "card.json").is_file():
        print(
            f"box_learning: {data}: no card.json (expected a dataset directory written by rayeaq.collect)",
            file=sys.stderr,
        )
        return 2
    card = json.loads((Path(data) / "card.json").read_text())
    if card.get("map") != "omar_spread":
        print(f"box_learning: {data}: expected an omar_spread dataset, got map {card.get('map')!r}", file=sys.stderr)
        return 2
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {"runs": []}
    key = {"data": str(Path(data).resolve()), "updates": args.updates, "stage1_updates": args.stage1_updates}
    key |= {"eval_episodes": args.eval_episodes, "set": SAME_BATCH + args.set}
    runs = [r for r in results["runs"] if r["key"] == key]
    for seed in args.seeds:
        for learner in args.learners:
            if any(r["learner"] == learner and r["seed"] == seed for r in runs):
                continue
            run_dir = args.out / "runs" / f"u{args.updates}" / f"{learner}_s{seed}"
            row = {**run_one(learner, seed, Path(data), run_dir, args), "key": key}
            print(json.dumps({k: v for k, v in row.items() if k != "key"}), flush=True)
            runs.append(row)
            results["runs"].append(row)
            args.out.mkdir(parents=True, exist_ok=True)
            results_path.write_text(json.dumps(results, indent=2))
    dataset_score = float(runs[0]["dataset_normalized_score"])
    report = Report("Box-action learners on omar_spread medium (benchmarks/box_learning.py)")
    for name in args.learners:
        walls = [r["wall_s"] for r in runs if r["learner"] == name and r["seed"] in args.seeds]
        report.add(f"{name} runs/hour", Stats([3600.0 / max(w, 1e-9) for w in walls]), "runs/h")
    report.notes.append(
        f"data {data} ({card['stats'].get('episodes', '?')} episodes); seeds {args.seeds}; "
        f"{args.updates} updates (omsd: + {args.stage1_updates} stage-1 updates per unit); "
        f"{args.eval_episodes} final evaluation episodes; overrides {SAME_BATCH + args.set}; torch threads 1"
    )
    report.notes.extend(table(runs, args.learners, args.seeds, dataset_score, str(card.get("tier"))))
    print(report.text())
    if args.json:
        report.save(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
