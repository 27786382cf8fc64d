"""CPU cost of one evaluator update: the baseline code and defaults against this code's, on real batches.

    git archive ff92900 | tar -x -C /tmp/base        # the baseline: main as issue 12 item 6 found it
    python benchmarks/qmix.py --versus-baseline /tmp/base --data DIR:1 DIR:3 [--new evaluate.lr=0.001 ...] \
        [--learning OUT --base-arm ARM --new-arm ARM --updates 250]

Each side runs in its own process (``PYTHONPATH`` = the baseline checkout or this one), so the two codes never
share a module; the processes alternate, ``--rounds`` each, and each times ``--window`` CPU seconds of plain-torch
updates (``QMIXNetworks.train_outputs`` + ``qmix_loss`` + Adam + clipping, torch 1 thread) on batches the evaluator's
sampler draws from the mixture (same seed on both sides) after a warm-up. The CPU clock of the process, not the
wall clock: on a shared machine the wall clock measures the queue for a core. ``--learning``: the learning curves of
``benchmarks/qmix_learning.py`` for the baseline's arm and the first ``--new`` settings' arm (IQM over seeds at
every evaluation, the final one, and the updates after which it stays at ``--level``), each turned into CPU
seconds of updates by its side's cost: the CPU time to equal learning.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve()


def settings(code: Path, overrides: list[str]) -> dict:
    """The update's settings from ``code``'s ``tune_configs/evaluate_3m.yaml`` (read by the code under test) with
    ``overrides``."""
    from rayeaq.run_config import load_run_config

    e = load_run_config(str(code / "tune_configs" / "evaluate_3m.yaml"), overrides).evaluate
    samples = e.cql.samples if e.cql.kind == "joint" and e.cql.weight > 0 else 0
    return dict(
        batch_size=e.batch_size,
        lr=e.lr,
        td_lambda=e.td_lambda,
        double_q=e.double_q,
        cql_samples=samples,
        cql_weight=e.cql.weight,
        cql_kind=e.cql.kind,
        target_update_interval=e.target_update_interval,
    )


def worker(request: dict) -> dict:
    """Times updates of the code on ``sys.path`` (run in a child process): CPU seconds per update."""
    import time

    import numpy as np
    import torch

    from rayeaq.data.reader import load_mixture
    from rayeaq.learners.qmix.losses import qmix_loss
    from rayeaq.learners.qmix.networks import NetSpec, QMIXNetworks
    from rayeaq.learners.qmix.sampler import EpisodeSampler

    torch.set_num_threads(1)
    torch.manual_seed(0)
    s = settings(Path(request["code"]), request["overrides"])
    episodes, datasets = load_mixture([(p, w) for p, w in request["data"]], seed=0)
    card = datasets[0].card
    nets = QMIXNetworks(NetSpec(card.n_agents, card.n_actions, card.obs_shape, card.state_shape))
    nets.fit_state_normaliser(torch.from_numpy(episodes.state[episodes.filled]))
    params = [p for p in nets.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=s["lr"])
    sampler = EpisodeSampler(episodes, seed=1)
    scale = np.float32(20.0 / card.max_return)  # reward_scale auto
    batches = []
    for _ in range(64):
        arrays = sampler.sample(s["batch_size"])
        arrays["reward"] = arrays["reward"] * scale
        batches.append({k: torch.from_numpy(v) for k, v in arrays.items()})
    done = [0]

    def step() -> None:
        batch = batches[done[0] % len(batches)]
        out = nets.train_outputs(
            batch, 0.99, double_q=s["double_q"], td_lambda=s["td_lambda"], cql_samples=s["cql_samples"]
        )
        loss, _ = qmix_loss(out, s["cql_weight"], s["cql_kind"])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        done[0] += 1
        if done[0] % s["target_update_interval"] == 0:
            nets.update_targets()

    for _ in range(20):
        step()
    n, start = 0, time.process_time()
    while time.process_time() - start < request["window"]:
        step()
        n += 1
    return {"cpu_s_per_update": (time.process_time() - start) / n, "updates": n, "settings": s}


def run_side(code: Path, data: list[tuple[str, float]], overrides: list[str], window: float) -> dict:
    request = json.dumps({"code": str(code), "data": data, "overrides": overrides, "window": window})
    env = dict(os.environ, PYTHONPATH=str(code), JAX_PLATFORMS="cpu")
    done = subprocess.run(
        [sys.executable, str(HERE), "--worker", request], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(
    baseline: Path, data: list[tuple[str, float]], new: list[list[str]], rounds: int, window: float
) -> dict[str, dict]:
    """CPU seconds per update (median over ``rounds`` alternating processes) of the baseline code with its
    defaults, this code with the same settings (the exact levers alone) and this code with each ``new`` list of
    overrides (sides ``new``, ``new2``, ...)."""
    this = HERE.parents[1]
    sides = {"baseline": (baseline, []), "levers": (this, [])}
    sides.update({"new" + (str(i + 1) if i else ""): (this, n) for i, n in enumerate(new)})
    times: dict[str, list[float]] = {name: [] for name in sides}
    info: dict[str, dict] = {}
    for _ in range(rounds):
        for name, (code, overrides) in sides.items():
            got = run_side(code, data, overrides, window)
            times[name].append(got["cpu_s_per_update"])
            info[name] = got["settings"]
    return {
        name: {"cpu_s_per_update": statistics.median(t), "min": min(t), "max": max(t), "settings": info[name]}
        for name, t in times.items()
    }


def add_arguments(parser) -> None:
    """The options of ``benchmarks/qmix.py --versus-baseline``."""
    parser.add_argument("--versus-baseline", type=Path, default=None, metavar="DIR", help="a checkout of the baseline")
    parser.add_argument("--data", nargs="+", default=[], metavar="DIR:WEIGHT", help="the mixture batches come from")
    parser.add_argument(
        "--new", nargs="*", action="append", default=[], metavar="KEY=VALUE", help="settings to time (repeatable)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="processes per side, alternating")
    parser.add_argument("--window", type=float, default=10.0, help="CPU seconds timed per process")
    parser.add_argument("--learning", type=Path, default=None, metavar="OUT", help="qmix_learning.py's --out")
    parser.add_argument("--base-arm", default="qmix_cql_joint_base", help="the baseline's arm in --learning")
    parser.add_argument("--new-arm", default="qmix_cql_joint_b8", help="the first --new settings' arm in --learning")
    parser.add_argument("--updates", type=int, default=1000, help="the runs' length in --learning")
    parser.add_argument("--mixture", default="focus_team+retreatx3", help="the runs' mixture in --learning")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--level", type=float, default=0.444, help="win rate the curves must stay at (0.9 x 0.493)")


def versus_baseline(args) -> dict:
    """Prints (and returns) the three sides' CPU seconds per update and, with ``--learning``, the CPU time to the
    learning level for the baseline and the new settings."""
    import platform

    sys.path.insert(0, str(HERE.parent))
    from qmix_learning import print_curves

    data = [(p.rsplit(":", 1)[0], float(p.rsplit(":", 1)[1]) if ":" in p else 1.0) for p in args.data]
    print(f"load average before: {os.getloadavg()}, {platform.machine()} {os.cpu_count()} cores, torch 1 thread")
    got = compare(args.versus_baseline, data, args.new, args.rounds, args.window)
    print(f"load average after: {os.getloadavg()}")
    base = got["baseline"]["cpu_s_per_update"]
    for name, g in got.items():
        rate, lo, hi = 1 / g["cpu_s_per_update"], 1 / g["max"], 1 / g["min"]
        print(f"{name:9s} {rate:6.1f} updates per CPU-second [{lo:.1f}, {hi:.1f}]  x{base / g['cpu_s_per_update']:.2f}")
        print(f"          {g['settings']}")
    if args.learning is not None:
        runs = args.learning / "runs" / args.mixture
        found = print_curves(runs, [args.base_arm, args.new_arm], args.seeds, args.updates, args.level)
        side = {args.base_arm: "baseline", args.new_arm: "new"}
        figures = {}
        for arm, (n, final) in found.items():
            per_update = got[side[arm]]["cpu_s_per_update"]
            reach = "never" if n is None else f"from {n} updates = {n * per_update:.1f} CPU-s"
            print(
                f"{arm}: IQM win rate {final:.3f} after {args.updates} updates = {args.updates * per_update:.1f} "
                f"CPU-s of updates; stays >= {args.level:.3f} {reach}"
            )
            figures[arm] = {"final_iqm_win_rate": final, "cpu_s": args.updates * per_update, "updates_to_level": n}
        if len(figures) == 2:
            ratio = figures[args.base_arm]["cpu_s"] / figures[args.new_arm]["cpu_s"]
            print(f"CPU time for {args.updates} updates, baseline / new: {ratio:.2f}x (compare the final IQMs)")
            got["learning"] = {**figures, "speedup": ratio}
    return got


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    print(json.dumps(worker(json.loads(sys.argv[2]))))
