"""``python -m rayeaq.evaluate CONFIG [key=value ...] --dataset DIR[:weight] ... --out DIR``.

Trains offline QMIX (``evaluate.cql_weight > 0``: QMIX+CQL; ``evaluate.algorithm=bc``: behaviour cloning)
on the dataset mixture through RLlib, evaluates greedy decentralised rollouts every
``evaluate.eval_interval`` updates on ``evaluate.eval_episodes`` fixed episodes
(``evaluate.final_eval_episodes`` at the end), writes ``metrics.jsonl``, ``marl_eval.json``,
``summary.json`` and an RLlib checkpoint, and prints a one-line summary.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from rayeaq.cli import base_parser, run_cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser("rayeaq.evaluate", "Offline QMIX/BC on a dataset mixture, scored by greedy rollouts.")
    parser.add_argument(
        "--dataset",
        action="append",
        required=True,
        metavar="DIR[:WEIGHT]",
        help="dataset directory, optionally with a mixture weight (1 = all episodes once); repeatable",
    )
    args = parser.parse_args(argv)

    from rayeaq.core.ray_session import ray_session
    from rayeaq.core.runinfo import write_run_info
    from rayeaq.data.card import read_card
    from rayeaq.data.reader import parse_dataset_arg
    from rayeaq.run_config import load_run_config
    from rayeaq.stages.evaluate import algo_name, run_evaluation

    cfg = load_run_config(args.config, args.overrides)
    sources = [parse_dataset_arg(text) for text in args.dataset]
    cards = [read_card(path) for path, _ in sources]  # fail fast on a bad path, before Ray starts
    out = Path(args.out or Path("results") / "evaluate" / (cfg.name or f"{algo_name(cfg)}_seed{cfg.seed}"))
    write_run_info(
        out,
        cfg,
        "evaluate",
        extra={
            "datasets": [
                {"path": str(p), "weight": w, "fingerprint": c.fingerprint, "source": c.source, "tier": c.tier}
                for (p, w), c in zip(sources, cards)
            ],
        },
    )
    with ray_session(cfg.ray):
        s = run_evaluation(cfg, sources, out)
    print(
        f"evaluate: {s['algorithm']} {s['map']} seed {s['seed']} after {s['updates']} updates: "
        f"win rate {s['win_rate']:.3f}, return {s['return_mean']:.3f} (normalized {s['normalized_return']:.3f}) "
        f"over {s['episodes']} episodes; dataset return {s['dataset_return_mean']:.3f} "
        f"(normalized {s['dataset_normalized_return']:.3f}, win rate {s['dataset_win_rate']:.3f}); out {out}"
    )
    return 0


if __name__ == "__main__":
    run_cli(main)
