"""Paper layout vs state-derived layout (``diffusion.layout``) on the same small fit; prints fidelity.

For each layout: fit the plain training core (no Ray) on real SMAX 3m episodes, sample with DDIM
(trailing spacing), filter as ``augment`` does (drop_illegal=false, return tolerance 0.05) and measure
the kept episodes: share kept, length / return / win rate next to the real data's, and the simulator
figures (dynamics residual / real floor, consistency, memorisation).

    .venv/bin/python benchmarks/diffusion_layouts.py [--real-episodes 200] [--fit-steps 1200] [--samples 150]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rayeaq.data.reader import load_dataset
from rayeaq.run_config import load_run_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real-episodes", type=int, default=200)
    parser.add_argument("--epsilon", type=float, default=0.3)
    parser.add_argument("--fit-steps", type=int, default=1200)
    parser.add_argument("--samples", type=int, default=150)
    parser.add_argument("--horizon", default="32")
    parser.add_argument("--layouts", default="paper,state")
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from benchmarks.diffusion import fit_plain
    from rayeaq.envs.smax.maps import smax_spec
    from rayeaq.generators.eaq.fidelity import fidelity_report
    from rayeaq.generators.eaq.filtering import filter_samples
    from rayeaq.generators.eaq.sample import Generator
    from rayeaq.generators.eaq.sim_fidelity import sim_fidelity
    from rayeaq.generators.eaq.train import load_checkpoint
    from rayeaq.stages.collect.core import collect_local

    work = Path(args.work or tempfile.mkdtemp(prefix="bench_layouts_"))
    real_dir = work / "real3m"
    if not (real_dir / "card.json").is_file():
        collect_local(smax_spec("3m"), real_dir, args.real_episodes, args.epsilon, root_seed=0, tier="medium")
    real = load_dataset(real_dir)
    results: dict = {
        "real": {
            "episodes": len(real.episodes),
            "length": float(real.episodes.length.mean()),
            "return": float(real.episodes.episode_return.mean()),
            "win_rate": float(real.episodes.battle_won.mean()),
        }
    }
    print(json.dumps(results), flush=True)
    for layout in args.layouts.split(","):
        cfg = load_run_config(
            None,
            [
                f"diffusion.layout={layout}",
                f"diffusion.horizon={args.horizon}",
                "diffusion.dim=32",
                "diffusion.dim_mults=[1,2]",
                "diffusion.n_diffusion_steps=20",
                f"fit.steps={args.fit_steps}",
                "fit.batch_size=32",
                "diffusion.q_weight=0.1",
            ],
        )
        ckpt = work / f"ckpt_{layout}"
        fit = fit_plain(cfg, real_dir, ckpt)
        gen = Generator(load_checkpoint(ckpt))
        start = time.perf_counter()
        decoded, _qtot = gen.sample(args.samples, "ddim", 5, seed=1, batch_size=args.samples)
        sample_s = time.perf_counter() - start
        keep, filtered = filter_samples(
            decoded.episodes,
            no_action=decoded.no_action,
            legal=decoded.legal_steps,
            agent_steps=decoded.agent_steps,
            max_return=2.0,
            drop_illegal=False,
            tolerance=0.05,
        )
        kept = decoded.episodes.select(np.flatnonzero(keep))
        rep = fidelity_report(
            real.episodes,
            kept,
            sampled=args.samples,
            legal_share=float(decoded.legal_steps.sum() / max(decoded.agent_steps.sum(), 1)),
            n_samples=500,
            seed=0,
        )
        sim = (
            sim_fidelity(real.episodes, kept, "3m", real.card.episode_limit, n_keys=4, max_transitions=1000)
            if len(kept)
            else {}
        )
        row = {
            "channels": gen.layout.channels,
            "fit_seconds": fit["seconds"],
            "final_loss": fit["final_loss"],
            "sample_seconds": sample_s,
            "share_kept": rep["share_kept"],
            "legal_action_share": rep["legal_action_share"],
            "dropped": filtered["dropped"],
            "length": rep.get("length"),
            "return": rep.get("return"),
            "win_rate": rep.get("win_rate"),
            "obs_mmd": rep.get("obs_mmd"),
            "simulator": sim,
        }
        results[layout] = row
        print(json.dumps({layout: row}, indent=1), flush=True)
    (work / "layouts.json").write_text(json.dumps(results, indent=1))
    print(f"written {work / 'layouts.json'}")


if __name__ == "__main__":
    main()
