"""The CPU recipe curve of the EAQ generator (issue 10, item 7): fidelity of the decoded episodes against fit steps
and model width, on 1 000 medium-tier SMAX 3m episodes.

One fit per width, in process on one core (torch 1 thread, the fit a 1-worker Ray Train run does), with the
shipped recipe (`tune_configs/fit_3m.yaml`: state layout, whole episodes, K = 100, return-conditioned); at each
step of ``--at`` the EMA weights are checkpointed and ``--episodes`` episodes are sampled (DDIM 20 steps, trailing)
at guidance λ = 0 (unconditional, EAQ⁻Q) and λ = 1 (guided), decoded and filtered as ``augment`` does, and compared
with the real data against item 7's goals:

- kept share ≥ 0.90 (``augment.drop_illegal=false``, wins at the bound kept);
- win rate within 0.10 and mean return within 10 % of the real data's (at λ = 0: the unconditional samples are
  the ones that should look like the data; λ = 1 guides toward wins on purpose);
- dynamics residual ≤ 2 × the simulator's floor (``sim_fidelity``: generated state + joint action re-stepped in
  SMAX over 2 keys, against the same figure on real transitions);
- no illegal action: the share of agent-steps whose raw action argmax is unavailable in the generated state
  (decoding picks the best *available* action, so written episodes are legal; this measures how often it had to).

    python benchmarks/diffusion_recipe.py --data DIR/medium [--dims 32 64] [--at 500 1000 2000 4000] [--json OUT]

The fit's wall seconds are printed with the load average: on a shared machine they are not throughput figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
import torch

from rayeaq.data.reader import load_dataset
from rayeaq.run_config import load_run_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diffusion import bench_guidance
from harness import machine

REPO = Path(__file__).resolve().parents[1]


def goals(real: dict, row: dict) -> dict:
    """Item 7's goals met (True/False) by one sampled row (λ = 0)."""
    ret, win = row.get("return"), row.get("win_rate")
    return {
        "kept>=0.9": row["kept"] >= 0.9,
        "win_within_0.1": win is not None and abs(win - real["win_rate"]) <= 0.10,
        "return_within_10%": ret is not None and abs(ret - real["return"]) <= 0.10 * real["return"],
        "dynamics<=2x": (row.get("dynamics_ratio") or 1e9) <= 2.0,
        "no_illegal_argmax": row["legal_action_share"] >= 1.0,
    }


def curve(data: Path, work: Path, dim: int, at: list[int], n: int, seed: int) -> list[dict]:
    from rayeaq.generators.eaq.fit_core import fit_inputs, load_real_dataset
    from rayeaq.generators.eaq.layout import Layout, Normalizer
    from rayeaq.generators.eaq.train import Trainer, prepare_data, save_checkpoint

    cfg = load_run_config(REPO / "tune_configs/fit_3m.yaml", [f"diffusion.dim={dim}", f"fit.steps={max(at)}"])
    inputs = fit_inputs(cfg, load_real_dataset(data))
    layout, norm = Layout.from_dict(inputs["layout"]), Normalizer.from_dict(inputs["normalizer"])
    torch.manual_seed(seed)
    trainer = Trainer(cfg.diffusion, cfg.fit, layout, norm)
    params = sum(p.numel() for p in trainer.model.denoiser.parameters())
    train_data = prepare_data(load_dataset(data).episodes, layout, norm)
    rows: list[dict] = []
    clock = {"fit": 0.0, "since": time.perf_counter()}

    def on_step(t: Trainer, metrics: dict[str, float]) -> None:
        if t.step not in at:
            return
        clock["fit"] += time.perf_counter() - clock["since"]
        ckpt = work / f"dim{dim}_step{t.step}"
        extra = {"spec": inputs["spec"], "dataset": inputs["dataset"], "history": [], "resumed_from": 0}
        save_checkpoint(ckpt, t.payload({**extra, "world_size": 1}))
        start = time.perf_counter()
        out = bench_guidance(data, ckpt, [0.0, 1.0], n)
        row = {
            "dim": dim,
            "params": params,
            "steps": t.step,
            "loss": metrics["loss"],
            "fit_seconds": clock["fit"],
            "eval_seconds": time.perf_counter() - start,
            "load": os.getloadavg(),
            "real": out["real"],
            "scales": out["scales"],
            "goals_lambda0": goals(out["real"], out["scales"]["0.0"]),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        clock["since"] = time.perf_counter()

    trainer.run(train_data, seed=seed, on_step=on_step)
    return rows


FEATURES = ("health", "x", "y", "cooldown")
"""The per-unit features that move in SMAX's world state (the 6 type bits after them never change)."""


def dynamics_breakdown(data: Path, ckpt: Path, n: int, lam: float = 0.0, seed: int = 1) -> dict:
    """Where the dynamics residual comes from: per moving feature, the mean squared scaled distance between
    SMAX's next state (from the generated state + joint action, 2 keys) and the generated next state, for real
    and generated transitions (λ = ``lam``), and their ratio. The squared distances add up to the residual's
    square (up to the type bits), so the largest ratio with a large share is what a better model must fix."""

    from rayeaq.envs.smax.replay import StateReplay, simulate_steps
    from rayeaq.generators.eaq.sample import Generator
    from rayeaq.generators.eaq.sim_fidelity import _n_units, state_scale, transitions
    from rayeaq.generators.eaq.train import load_checkpoint

    real = load_dataset(data)
    decoded, _ = Generator(load_checkpoint(ckpt)).sample(n, "ddim", 20, seed=seed, batch_size=256, guidance=lam)
    synthetic = decoded.episodes.select(decoded.valid)
    replay = StateReplay(real.card.map, real.card.episode_limit)
    n_units = _n_units(real.episodes)
    scale = state_scale(real.episodes, n_units)
    out: dict = {}
    for name, batch in (("real", real.episodes), ("synthetic", synthetic)):
        ep, row = transitions(batch, 300, 0)
        simulated = simulate_steps(replay, batch, ep, row, 2, 0)
        block = simulated[..., : n_units * 10] - batch.state[ep, row + 1][:, None, : n_units * 10]
        d = (block / scale).reshape(len(ep), 2, n_units, 10) ** 2  # [S, K, U, 10]
        out[name] = {f: float(d[..., i].mean()) for i, f in enumerate(FEATURES)}
    out["ratio"] = {f: out["synthetic"][f] / max(out["real"][f], 1e-9) for f in FEATURES}
    total = sum(out["synthetic"].values())
    out["share_of_synthetic"] = {f: out["synthetic"][f] / max(total, 1e-12) for f in FEATURES}
    return out


def table(rows: list[dict]) -> str:
    real = rows[0]["real"]
    lines = [
        f"real data: return {real['return']:.3f}, win rate {real['win_rate']:.3f}",
        "| dim | params | fit steps | fit s | λ | kept | return | win | length | legal argmax | dynamics / floor |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for lam, s in r["scales"].items():
            f = lambda v, p=3: "–" if v is None else f"{v:.{p}f}"  # noqa: E731
            lines.append(
                f"| {r['dim']} | {r['params']:,} | {r['steps']} | {r['fit_seconds']:.0f} | {float(lam):g} | "
                f"{s['kept']:.2f} | {f(s['return'])} | {f(s['win_rate'])} | {f(s['length'], 1)} | "
                f"{s['legal_action_share']:.3f} | {f(s.get('dynamics_ratio'), 2)} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a real SMAX 3m dataset directory (1 000 medium episodes)")
    parser.add_argument("--work", default="/tmp/diffusion_recipe")
    parser.add_argument("--dims", type=int, nargs="+", default=[32])
    parser.add_argument("--at", type=int, nargs="+", default=[500, 1000, 2000, 4000])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    parser.add_argument("--breakdown", default=None, help="a checkpoint: per-feature dynamics residual (no fit)")
    args = parser.parse_args()
    if args.breakdown:
        print(json.dumps(dynamics_breakdown(Path(args.data), Path(args.breakdown), args.episodes), indent=1))
        return
    torch.set_num_threads(1)
    print(json.dumps(machine()), flush=True)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = [
        r for dim in args.dims for r in curve(Path(args.data), work, dim, sorted(args.at), args.episodes, args.seed)
    ]
    text = table(rows)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "text": text}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
