"""Learning comparison of the evaluator's settings on a good + poor mixture of two scripted policies.

    python benchmarks/qmix_learning.py --out results/bench/qmix_learning --poor retreat --poor-weight 3 \
        --seeds 0 1 2 --updates 1000

Data (SMAX 3m, collected once into ``OUT/data``): ``--good`` and ``--poor`` scripted policies of
``rayeaq.policies`` (``random`` = uniform legal actions) played with ``--noise``, ``--episodes`` each; the poor
episodes weighted ``--poor-weight``. Arms: QMIX + joint term, QMIX + agent term (TD + BC on Q-logits), plain
QMIX, BC, on ``tune_configs/evaluate_3m.yaml`` (so with its ``td_lambda``; ``--set`` overrides every arm, ``--tag``
names such runs); every arm on the same data and evaluation seeds per seed. Prints per-run figures with their
Wilson / bootstrap intervals and, per arm, the IQM over seeds with a bootstrap interval; with
``--set evaluate.eval_interval=N`` (and ``evaluate.eval_episodes``) also the learning curve, the IQM over seeds at
every evaluation, and the updates after which it stays at or above ``--level``; writes
``OUT/results.json`` (runs keyed by arm, seed, updates and mixture; reruns skip what is there).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import numpy as np

ARMS = {
    "qmix_cql_joint": ["evaluate.algorithm=qmix", "evaluate.cql.kind=joint", "evaluate.cql.weight=1.0"],
    "qmix_cql_agent": ["evaluate.algorithm=qmix", "evaluate.cql.kind=agent", "evaluate.cql.weight=1.0"],
    "qmix": ["evaluate.algorithm=qmix", "evaluate.cql.weight=0"],
    "bc": ["evaluate.algorithm=bc"],
}


def iqm(x: np.ndarray) -> float:
    """Interquartile mean (the middle 50 % of the sorted values; all of them for fewer than 4)."""
    x = np.sort(np.asarray(x, float))
    k = len(x) // 4
    return float(x[k : len(x) - k].mean())


def iqm_interval(x: np.ndarray, seed: int = 0, resamples: int = 2000) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    x = np.asarray(x, float)
    stats = [iqm(x[rng.integers(0, len(x), len(x))]) for _ in range(resamples)]
    return float(np.quantile(stats, 0.025)), float(np.quantile(stats, 0.975))


def curve(run_dir: Path) -> dict[int, tuple[float, float]]:
    """``{updates: (win rate, mean return)}`` of every evaluation of a run (its ``metrics.jsonl``)."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {int(r["updates"]): (float(r["win_rate"]), float(r["return_mean"])) for r in rows if "win_rate" in r}


def updates_to_level(points: dict[int, float], level: float) -> int | None:
    """The first evaluation from which the IQM win rate stays >= ``level`` at every later one (None: never)."""
    reached = None
    for updates in sorted(points):
        if points[updates] < level:
            reached = None
        elif reached is None:
            reached = updates
    return reached


def print_curves(runs: Path, arms: list[str], seeds: list[int], updates: int, level: float) -> dict[str, int | None]:
    """Per arm, the IQM over seeds at every evaluation (runs with ``evaluate.eval_interval`` < updates), and the
    updates after which it stays at or above ``level``; returns those (what ``benchmarks/qmix.py`` turns into
    time-to-level)."""
    found: dict[str, int | None] = {}
    for arm in arms:
        dirs = [runs / f"{arm}_s{seed}_u{updates}" for seed in seeds]
        curves = [curve(d) for d in dirs if (d / "metrics.jsonl").is_file()]
        points = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
        if len(points) < 2:
            continue
        win = {u: iqm(np.array([c[u][0] for c in curves])) for u in points}
        ret = {u: iqm(np.array([c[u][1] for c in curves])) for u in points}
        found[arm] = (updates_to_level(win, level), win[points[-1]])
        print(
            f"\n{arm}, {len(curves)} seeds: IQM win rate (return) by updates; stays >= {level:.3f} from "
            f"{found[arm][0]} updates"
        )
        print("  " + ", ".join(f"{u}: {win[u]:.3f} ({ret[u]:.2f})" for u in points))
    return found


def collect(data: Path, name: str, episodes: int, noise: float, root_seed: int) -> Path:
    """``episodes`` of scripted policy ``name`` (``random`` = uniform legal actions) played with ``noise``, once."""
    from rayeaq.envs.smax.maps import smax_spec
    from rayeaq.policies.config import PolicyConfig
    from rayeaq.policies.members import scripted
    from rayeaq.stages.collect.config import CollectConfig
    from rayeaq.stages.collect.core import collect_local

    out = data / f"{name}_n{noise:g}_e{episodes}"
    if not (out / "card.json").is_file():
        kind = "random" if name == "random" else name
        cfg = CollectConfig(episodes=episodes, tiers=[], policy=PolicyConfig(kind=kind, noise=noise))
        candidate = None if name == "random" else scripted(name, noise)
        if candidate is None:
            collect_local(smax_spec("3m"), out, episodes, 1.0, root_seed=root_seed, tier="poor", cfg=cfg)
        else:
            collect_local(smax_spec("3m"), out, episodes, root_seed=root_seed, tier=name, cfg=cfg, candidate=candidate)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/bench/qmix_learning"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--good", default="focus_team", help="scripted policy of the good part")
    parser.add_argument("--poor", default="random", help="scripted policy of the poor part (random = uniform)")
    parser.add_argument("--noise", type=float, default=0.05, help="noise of both scripted policies")
    parser.add_argument("--poor-weight", type=float, default=1.0, help="copies of the poor episodes per good one")
    parser.add_argument("--eval-episodes", type=int, default=128)
    parser.add_argument("--arms", nargs="+", default=list(ARMS))
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="extra run-config overrides for every arm (e.g. evaluate.reward_scale=1)",
    )
    parser.add_argument("--tag", default="", help="suffix of the arm names in results.json (runs with --set)")
    parser.add_argument(
        "--level",
        type=float,
        default=None,
        help="win rate whose first lasting crossing the curves report (default: 0.9 x the good data's own)",
    )
    args = parser.parse_args(argv)

    import ray
    import torch

    from rayeaq.run_config import load_run_config
    from rayeaq.stages.evaluate import run_evaluation

    torch.set_num_threads(1)
    good = collect(args.out / "data", args.good, args.episodes, args.noise, root_seed=1234)
    poor = collect(args.out / "data", args.poor, args.episodes, args.noise, root_seed=4321)
    mixture = f"{args.good}+{args.poor}x{args.poor_weight:g}"
    cards = {name: json.loads((d / "card.json").read_text())["stats"] for name, d in (("good", good), ("poor", poor))}
    print("data:", {k: {m: round(v[m], 3) for m in ("win_rate", "mean_return")} for k, v in cards.items()})
    ray.init(num_cpus=4, include_dashboard=False, logging_level="WARNING")
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {"data": {}, "runs": []}
    results["data"].update({f"{k}:{getattr(args, k)}": v for k, v in cards.items()})
    done = {(r["arm"], r["seed"], r["updates"], r["mixture"]) for r in results["runs"]}
    for seed in args.seeds:
        for base in args.arms:
            arm = base + args.tag
            if (arm, seed, args.updates, mixture) in done:
                continue
            cfg = load_run_config(
                "tune_configs/evaluate_3m.yaml",
                [
                    f"seed={seed}",
                    f"evaluate.updates={args.updates}",
                    f"evaluate.eval_interval={args.updates}",
                    f"evaluate.final_eval_episodes={args.eval_episodes}",
                    "evaluate.checkpoint=false",
                    *ARMS[base],
                    *args.set,
                ],
            )
            sources = [(str(good), 1.0), (str(poor), args.poor_weight)]
            s = run_evaluation(cfg, sources, args.out / "runs" / mixture / f"{arm}_s{seed}_u{args.updates}")
            keep = (
                "win_rate",
                "win_rate_ci95_low",
                "win_rate_ci95_high",
                "return_mean",
                "return_ci95_low",
                "return_ci95_high",
                "episodes",
                "time_s",
                "reward_scale",
                "td_lambda",
            )
            run = {"arm": arm, "seed": seed, "updates": args.updates, "mixture": mixture, "set": args.set}
            results["runs"].append({**run, **{k: s[k] for k in keep}})
            results_path.write_text(json.dumps(results, indent=2))
            print(arm, seed, {k: round(s[k], 3) for k in keep if isinstance(s[k], float)})
    ray.shutdown()
    level = args.level if args.level is not None else 0.9 * cards["good"]["win_rate"]
    print_curves(args.out / "runs" / mixture, [a + args.tag for a in args.arms], args.seeds, args.updates, level)
    print("\n| arm | seeds | IQM win rate [95 % CI] | IQM return [95 % CI] |\n|---|---|---|---|")
    for arm in [a + args.tag for a in args.arms]:
        runs = [
            r
            for r in results["runs"]
            if r["arm"] == arm and r["updates"] == args.updates and r["mixture"] == mixture and r["seed"] in args.seeds
        ]
        if runs:
            w, r = np.array([x["win_rate"] for x in runs]), np.array([x["return_mean"] for x in runs])
            wl, wh = iqm_interval(w)
            rl, rh = iqm_interval(r)
            print(f"| {arm} | {len(runs)} | {iqm(w):.3f} [{wl:.3f}, {wh:.3f}] | {iqm(r):.3f} [{rl:.3f}, {rh:.3f}] |")


if __name__ == "__main__":
    main()
