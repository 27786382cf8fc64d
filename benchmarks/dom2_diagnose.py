"""What DOM2's diffusion actor has learned on an ``omar_spread`` dataset: a curve over updates.

    python benchmarks/dom2_diagnose.py --data DIR [--mode bc|full] [--updates 8000] [--evals 2000 4000 8000]
        [--set eta=1.0 actor_lr=1e-3 ...] [--episodes 50]

``--mode bc`` runs only the actor's step of the learner (``BatchedDom2Learner.update_actor`` with eta = 0: Eq. 3,
pure diffusion behaviour cloning, several times the rate of a full update); ``--mode full`` runs Algorithm 2
(``Dom2Run.update``, what ``evaluate.algorithm: dom2`` runs) with the ``dom2`` settings of ``--set``. At every
``--evals`` point, on 2 000 training observations: the sampled actions' std per dimension, the fraction within
0.1 (max-norm) of the scripted expert's action (computed from the transitions' global state; the medium tier's
data: 1 - epsilon of them; uniform random actions: 0.01), the fraction at the box edge (|a| > 0.95); in full mode
the critic's Q at the data's, the expert's and the policy's actions; then the greedy return of ``--episodes``
held-out episodes through the evaluation path of every box learner (``box_offline.evaluate_learner``).
Torch threads 1; seed 0 unless ``--seed``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def action_stats(a: np.ndarray, expert: np.ndarray) -> dict[str, object]:
    """``a, expert [M, N, Da]`` in [-1, 1] -> std per dimension, near-expert and at-edge fractions."""
    return {
        "std": [round(float(x), 3) for x in a.std((0, 1))],
        "near_expert": round(float((np.abs(a - expert).max(-1) < 0.1).mean()), 4),
        "at_edge": round(float((np.abs(a) > 0.95).mean()), 4),
    }


def probe(arrays: dict[str, np.ndarray], size: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``size`` training transitions (seed 0) of an ``omar_spread`` mixture -> (obs ``[M, N, Do]``, the data's
    actions ``[M, N, Da]``, the scripted expert's actions ``[M, N, Da]`` recomputed from the global state)."""
    import jax
    import jax.numpy as jnp

    from rayeaq.envs.mpe.maps import MPE_MAPS
    from rayeaq.policies.mpe import spread_directions

    idx = np.random.default_rng(0).choice(len(arrays["obs"]), size, replace=False)
    m = MPE_MAPS["omar_spread"]
    expert = np.asarray(jax.vmap(lambda s: spread_directions(m, s))(jnp.asarray(arrays["state"][idx])))
    return arrays["obs"][idx], arrays["actions"][idx], expert


def actor_step(learner, batch: dict) -> dict[str, float]:
    """The DOM2 actor's step alone (``BatchedDom2Learner.update_actor``) on a batch laid out as ``Dom2Run.update``
    lays it out."""
    per_agent = {**batch, "agent_reward": batch["reward"], "reward": batch["team_reward"]}
    return learner.update_actor(learner._stack(per_agent))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="an omar_spread dataset directory")
    p.add_argument("--mode", choices=("bc", "full"), default="bc")
    p.add_argument("--updates", type=int, default=8000)
    p.add_argument("--evals", type=int, nargs="+", default=[2000, 4000, 8000])
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="dom2 settings (JSON values)")
    args = p.parse_args(argv)

    import torch

    from rayeaq.learners.box_offline import evaluate_learner, load_box_data
    from rayeaq.learners.dom2.config import Dom2Config
    from rayeaq.learners.dom2.run import Dom2Run

    torch.set_num_threads(1)
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    cfg = Dom2Config(**{"batch_size": 256, **overrides, **({"eta": 0.0} if args.mode == "bc" else {})})
    data = load_box_data([(str(args.data), 1.0)], args.seed, "dom2", cfg.replicate_thresholds)
    if data.card.map != "omar_spread":
        print(f"dom2_diagnose: {args.data}: expected an omar_spread dataset, got {data.card.map!r}", file=sys.stderr)
        return 2
    probe_obs, acts, expert = probe(data.sampler.arrays)
    obs = torch.from_numpy(probe_obs).float()
    print(json.dumps({"data": action_stats(acts, expert), "settings": cfg.model_dump(), "mode": args.mode}))
    run = Dom2Run(cfg, data, args.seed)
    learner = run.learner
    start, eval_s = time.perf_counter(), 0.0
    for update in range(1, args.updates + 1):
        batch = data.sample(cfg.batch_size)
        metrics = actor_step(learner, batch) if args.mode == "bc" else run.update(batch)
        if update not in args.evals:
            continue
        train_s = time.perf_counter() - start - eval_s
        t0 = time.perf_counter()
        a = run.act_unit(obs).numpy()
        row: dict[str, object] = {"updates": update, "train_s": round(train_s, 1), **action_stats(a, expert)}
        row |= {k: round(v, 4) for k, v in metrics.items()}
        if args.mode == "full":
            with torch.no_grad():
                o = obs.transpose(0, 1)
                for name, x in (("data", acts), ("expert", expert), ("policy", a)):
                    row[f"q_{name}"] = round(
                        float(learner.critic(o, torch.from_numpy(x).float().transpose(0, 1))[0].mean()), 2
                    )
        ev = evaluate_learner(run, data, args.seed, args.episodes, min(args.episodes, 100))["row"]
        row |= {"return": round(ev["return_mean"], 1), "normalized_score": round(ev["normalized_score"], 1)}
        print(json.dumps(row), flush=True)
        eval_s += time.perf_counter() - t0
    return 0


if __name__ == "__main__":
    sys.exit(main())
