"""Generator benchmarks (issue 3); prints what it measured.

(a) training steps/s of our temporal U-Net vs diffusers.UNet1DModel (about the same parameter count)
    on the same (B, F, T) batch of the SMAX 3m layout — the fair peer: the widely used 1-D diffusion U-Net doing
    the same work (same batch, same loss, Adam, 1 thread); the two are timed in interleaved rounds after a warm-up
    round, ``--repeats`` rounds of ``--unet-steps`` steps each;
(b) time to sample N episodes with DDIM vs full DDPM from a generator fitted on real SMAX 3m
    episodes, with the fidelity figures of each;
(c) Ray Train throughput (windows/s) with 1 and 2 CPU workers;
(d) ``--guidance``: decoded returns, win rate and Q-consistency as λ rises, for every objective.

    .venv/bin/python benchmarks/diffusion.py [--episodes 1000] [--fit-steps 300] [--repeats 5] [--skip-ray]
                                             [--quick] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
import numpy as np
import torch

from rayeaq.data.reader import load_dataset
from rayeaq.run_config import load_run_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Report, Stats, paired

COLLECT = textwrap.dedent(
    """
    import os, sys
    os.environ["JAX_PLATFORMS"] = "cpu"
    from rayeaq.stages.collect.core import collect_local
    from rayeaq.envs.smax.maps import smax_spec
    collect_local(smax_spec("3m"), sys.argv[1], int(sys.argv[2]), 0.3, root_seed=0, tier="medium")
    """
)


def real_dataset(directory: Path, n: int) -> Path:
    if not (directory / "card.json").is_file():
        subprocess.run([sys.executable, "-c", COLLECT, str(directory), str(n)], check=True, capture_output=True)
    return directory


def bench_unet(channels: int, rows: int, batch: int, steps: int, repeats: int) -> dict:
    """Training steps/s of both networks, ``repeats`` rounds of ``steps`` steps each, interleaved."""
    from diffusers import UNet1DModel

    from rayeaq.generators.eaq.unet import TemporalUNet

    ours = TemporalUNet(channels, 32, (1, 2, 4))
    ref = UNet1DModel(
        sample_size=rows,
        in_channels=channels,
        out_channels=channels,
        extra_in_channels=0,
        time_embedding_type="positional",
        flip_sin_to_cos=False,
        use_timestep_embedding=True,
        freq_shift=1,
        block_out_channels=(32, 64, 128),
        down_block_types=("DownResnetBlock1D",) * 3,
        up_block_types=("UpResnetBlock1D",) * 2,
        mid_block_type="MidResTemporalBlock1D",
        out_block_type="OutConv1DBlock",
        act_fn="mish",
        norm_num_groups=8,
        layers_per_block=1,
        downsample_each_block=False,
    )
    pad = (-rows) % 4  # diffusers' U-Net does not pad: give it the padded horizon ours pads internally
    x = torch.randn(batch, channels, rows)
    k = torch.randint(0, 100, (batch,))

    def trainer(net, call):
        opt = torch.optim.Adam(net.parameters(), 1e-4)

        def work() -> float:
            for _ in range(steps):
                loss = ((call() - x) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            return float(steps)

        return work

    sides = {
        "ours": (ours, trainer(ours, lambda: ours(x, k))),
        "diffusers": (ref, trainer(ref, lambda: ref(torch.nn.functional.pad(x, (0, pad)), k).sample[..., :rows])),
    }
    ours_s, ref_s = paired(sides["ours"][1], sides["diffusers"][1], repeats)
    out = {
        name: {"stats": stats, "params": sum(p.numel() for p in net.parameters())}
        for (name, (net, _)), stats in zip(sides.items(), (ours_s, ref_s), strict=True)
    }
    return out


def fit_plain(cfg, dataset_dir: Path, ckpt_dir: Path) -> float:
    from rayeaq.generators.eaq.fit_core import fit_inputs, load_real_dataset
    from rayeaq.generators.eaq.layout import Layout, Normalizer
    from rayeaq.generators.eaq.train import Trainer, prepare_data, save_checkpoint

    inputs = fit_inputs(cfg, load_real_dataset(dataset_dir))
    layout, norm = Layout.from_dict(inputs["layout"]), Normalizer.from_dict(inputs["normalizer"])
    trainer = Trainer(cfg.diffusion, cfg.fit, layout, norm)
    start = time.perf_counter()
    last = trainer.run(prepare_data(load_dataset(dataset_dir).episodes, layout, norm), seed=0)
    save_checkpoint(
        ckpt_dir,
        trainer.payload(
            {"spec": inputs["spec"], "dataset": inputs["dataset"], "history": [], "resumed_from": 0, "world_size": 1}
        ),
    )
    return {"seconds": time.perf_counter() - start, "final_loss": last["loss"]}


def bench_sampling(dataset_dir: Path, ckpt_dir: Path, n: int) -> dict:
    from rayeaq.generators.eaq.fidelity import fidelity_report
    from rayeaq.generators.eaq.sample import Generator
    from rayeaq.generators.eaq.train import load_checkpoint

    real = load_dataset(dataset_dir).episodes
    gen = Generator(load_checkpoint(ckpt_dir))
    out = {}
    for sampler, steps in (("ddim", 20), ("ddpm", gen.dcfg.n_diffusion_steps)):
        start = time.perf_counter()
        decoded, _ = gen.sample(n, sampler, steps, seed=1, batch_size=250)
        seconds = time.perf_counter() - start
        strict = decoded.valid & (decoded.legal_steps == decoded.agent_steps)
        legal = float(decoded.legal_steps.sum() / max(decoded.agent_steps.sum(), 1))
        # fidelity of what augment keeps with drop_illegal=false (decoded actions are argmax over available ones)
        rep = fidelity_report(
            real, decoded.episodes.select(decoded.valid), sampled=n, legal_share=legal, n_samples=1000, seed=0
        )
        out[sampler] = {
            "network_calls": steps,
            "seconds": seconds,
            "share_kept_strict": float(strict.mean()),
            **{k: rep[k] for k in ("share_kept", "legal_action_share")},
            "obs_mmd": rep.get("obs_mmd"),
            "coverage": rep.get("coverage"),
            "obs_w1_mean": rep.get("obs_wasserstein", {}).get("mean"),
            "return_real": rep.get("return", {}).get("real"),
            "return_synthetic": rep.get("return", {}).get("synthetic"),
        }
    out["speedup_ddim"] = out["ddpm"]["seconds"] / out["ddim"]["seconds"]
    return out


def bench_guidance(dataset_dir: Path, ckpt_dir: Path, scales: list[float], n: int, seed: int = 1) -> dict:
    """Decoded episodes of one generator as its guidance scale λ rises (sampled with λ in place of the
    checkpoint's): kept share, return, win rate and length of the kept episodes, Q-consistency residual
    ``|Q̂_t − Q̂_{t+1} − r̂_t|`` of their generated Q-total channel, legal-action share, dynamics residual
    against the simulator's floor (SMAX); the real data's return and win rate next to them."""
    from rayeaq.generators.eaq.filtering import filter_samples
    from rayeaq.generators.eaq.sample import Generator
    from rayeaq.generators.eaq.sim_fidelity import q_consistency
    from rayeaq.generators.eaq.train import load_checkpoint

    real = load_dataset(dataset_dir)
    gen = Generator(load_checkpoint(ckpt_dir))
    out: dict = {
        "objective": gen.dcfg.objective,
        "layout": gen.layout.kind,
        "real": {
            "return": float(real.episodes.episode_return.mean()),
            "win_rate": float(real.episodes.battle_won.mean()),
        },
        "scales": {},
    }
    for lam in scales:
        start = time.perf_counter()
        decoded, qtot = gen.sample(n, "ddim", 10, seed=seed, batch_size=256, guidance=lam)
        e = decoded.episodes
        keep, _ = filter_samples(
            e,
            no_action=decoded.no_action,
            legal=decoded.legal_steps,
            agent_steps=decoded.agent_steps,
            max_return=real.card.max_return,
            drop_illegal=False,
            tolerance=0.05,
        )
        kept = e.select(np.flatnonzero(keep))
        out["scales"][str(lam)] = {
            "kept": float(keep.mean()),
            "return": float(kept.episode_return.mean()) if len(kept) else None,
            "win_rate": float(kept.battle_won.mean()) if len(kept) else None,
            "length": float(kept.length.mean()) if len(kept) else None,
            "q_consistency": q_consistency(qtot[keep], kept.reward, kept.length)["mean"],
            "legal_action_share": float(decoded.legal_steps.sum() / max(decoded.agent_steps.sum(), 1)),
            "seconds": time.perf_counter() - start,
        }
        if real.card.backend == "smax" and len(kept):
            from rayeaq.generators.eaq.sim_fidelity import sim_fidelity

            sim = sim_fidelity(
                real.episodes, kept, real.card.map, real.card.episode_limit, n_keys=2, max_transitions=300
            )
            out["scales"][str(lam)]["dynamics_ratio"] = sim["dynamics_residual"].get("ratio")
    return out


GUIDANCE_FITS = (("qtot", 0.0), ("qtot", 0.1), ("qtot", 1.0), ("critic", 0.1), ("critic", 1.0), ("return", 1.0))
RETURN_SCALES = [0.0, 1.0, 2.0, 4.0]


def guidance_curves(dataset_dir: Path, work: Path, steps: int, n: int) -> dict:
    """(d) One generator per (objective, λ) of :data:`GUIDANCE_FITS` (λ acts in training for qtot/critic,
    at sampling for return, so its one fit is sampled at :data:`RETURN_SCALES`), quickstart-sized:
    state layout, horizon 32, dim 32, levels (1, 2), K = 20."""
    out = {}
    for objective, lam in GUIDANCE_FITS:
        cfg = load_run_config(
            None,
            [
                "diffusion.layout=state",
                "diffusion.horizon=32",
                "diffusion.dim=32",
                "diffusion.dim_mults=[1,2]",
                "diffusion.n_diffusion_steps=20",
                f"diffusion.objective={objective}",
                f"diffusion.q_weight={lam}",
                f"fit.steps={steps}",
                "fit.batch_size=32",
            ],
        )
        ckpt = work / f"guidance_{objective}_{lam:g}"
        torch.manual_seed(0)
        fit = fit_plain(cfg, dataset_dir, ckpt)
        scales = RETURN_SCALES if objective == "return" else [lam]
        out[f"{objective}_{lam:g}"] = {"fit": fit, **bench_guidance(dataset_dir, ckpt, scales, n)}
        print(json.dumps({f"{objective}_{lam:g}": out[f"{objective}_{lam:g}"]}), flush=True)
    return out


def bench_ray(dataset_dir: Path, work: Path, steps: int) -> dict:
    from rayeaq.core.ray_session import ray_session
    from rayeaq.stages.fit import run_fit

    out = {}
    base = [
        "diffusion.dim=32",
        f"fit.steps={steps}",
        "fit.batch_size=32",
        "fit.report_every=10",
        f"fit.checkpoint_every={steps}",
        "fit.cpus_per_worker=0.9",
        "ray.num_cpus=4",
    ]
    with ray_session(load_run_config(None, base).ray):
        for workers in (1, 2):
            cfg = load_run_config(None, base + [f"fit.workers={workers}"])
            start = time.perf_counter()
            run_fit(cfg, dataset_dir, work / f"ray{workers}")
            wall = time.perf_counter() - start
            hist = torch.load(work / f"ray{workers}" / "checkpoint" / "generator.pt", weights_only=True)["history"]
            span = hist[-1]["time"] - hist[0]["time"]
            windows = (hist[-1]["step"] - hist[0]["step"]) * 32 * workers
            out[f"{workers}_workers"] = {
                "wall_seconds": wall,
                "steps_per_s": (hist[-1]["step"] - hist[0]["step"]) / span,
                "windows_per_s": windows / span,
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=1000, help="episodes sampled per sampler in (b)")
    parser.add_argument("--real-episodes", type=int, default=200)
    parser.add_argument("--fit-steps", type=int, default=300)
    parser.add_argument("--unet-steps", type=int, default=20, help="training steps per round of the U-Net pair")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of the U-Net pair")
    parser.add_argument("--ray-steps", type=int, default=40)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument(
        "--guidance",
        action="store_true",
        help="(d) only: decoded returns/wins vs λ for every objective (state layout, quickstart-sized fits)",
    )
    parser.add_argument("--guidance-data", default=None, help="(d): a real 3m dataset dir (default: collect one)")
    parser.add_argument("--guidance-steps", type=int, default=1200, help="(d): fit steps of each generator")
    parser.add_argument("--work", default=None, help="work directory (default: a temporary one)")
    parser.add_argument("--quick", action="store_true", help="50 real episodes, 50 fit steps, no Ray Train part")
    parser.add_argument("--json", default=None, help="also write the results as JSON (benchmarks/run_all.py)")
    args = parser.parse_args()
    if args.quick:
        args.real_episodes, args.fit_steps, args.episodes, args.unet_steps, args.skip_ray = 50, 50, 100, 5, True
        args.repeats = 2
    torch.set_num_threads(1)
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_diffusion_"))
    results: dict = {"torch_threads": 1, "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M")}
    if args.guidance:
        data = Path(args.guidance_data) if args.guidance_data else real_dataset(work / "real3m", args.real_episodes)
        results["d_guidance"] = guidance_curves(data, work, args.guidance_steps, args.episodes)
        print(json.dumps(results, indent=1))
        (work / "guidance.json").write_text(json.dumps(results, indent=1))
        return
    dataset = real_dataset(work / "real3m", args.real_episodes)
    card = load_dataset(dataset).card
    cfg = load_run_config(None, ["diffusion.dim=32", f"fit.steps={args.fit_steps}", "fit.batch_size=32", "fit.lr=1e-3"])
    from rayeaq.generators.eaq.layout import Layout

    layout = Layout.for_dataset(card, None, True, True)
    results["layout"] = {"F": layout.channels, "T": layout.rows, "real_episodes": card.stats.episodes}
    unet = bench_unet(layout.channels, layout.rows, 32, args.unet_steps, args.repeats)
    results["a_unet"] = {n: {"steps_per_s": u["stats"].values, "params": u["params"]} for n, u in unet.items()}
    print(json.dumps({"a_unet": results["a_unet"]}, indent=1), flush=True)
    results["b_fit_plain"] = fit_plain(cfg, dataset, work / "ckpt")
    results["b_sampling"] = bench_sampling(dataset, work / "ckpt", args.episodes)
    print(json.dumps({"b": results["b_sampling"]}, indent=1), flush=True)
    if not args.skip_ray:
        results["c_ray_train"] = bench_ray(dataset, work, args.ray_steps)
    print(json.dumps(results, indent=1))
    (work / "results.json").write_text(json.dumps(results, indent=1))
    print(f"written {work / 'results.json'}")
    report = Report(f"EAQ generator: U-Net training, fit and sampling (3m, F={layout.channels}, T={layout.rows})")
    diff = "diffusers UNet1DModel"
    report.add(f"{diff} ({unet['diffusers']['params']:,} params)", unet["diffusers"]["stats"], "steps/s")
    report.add(f"ours TemporalUNet ({unet['ours']['params']:,} params)", unet["ours"]["stats"], "steps/s")
    report.figures[-1].reference = report.figures[-2].name
    sampling = results["b_sampling"]
    names = {k: f"sampling {k.upper()} ({sampling[k]['network_calls']} network calls)" for k in ("ddpm", "ddim")}
    for sampler in ("ddpm", "ddim"):
        row = sampling[sampler]
        report.add(
            names[sampler],
            Stats([args.episodes / row["seconds"]]),
            "episodes/s",
            reference=names["ddpm"] if sampler == "ddim" else None,
            note=f"kept {row['share_kept']:.2f}, legal {row['legal_action_share']:.3f}, obs MMD {row['obs_mmd']}",
        )
    for workers, row in results.get("c_ray_train", {}).items():
        report.add(f"Ray Train fit, {workers.replace('_', ' ')}", Stats([row["windows_per_s"]]), "windows/s")
    report.notes.append(
        f"U-Nets: batch (32, {layout.channels}, {layout.rows}), {args.unet_steps} steps per round, paired; "
        f"fit ({args.fit_steps} steps, {results['b_fit_plain']['seconds']:.0f} s) and sampling: one timing each"
    )
    print(report.text())
    if args.json:
        report.save(args.json)


if __name__ == "__main__":
    main()
