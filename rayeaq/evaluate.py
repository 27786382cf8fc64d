"""``python -m rayeaq.evaluate CONFIG [key=value ...] --dataset DIR[:weight] ... --out DIR``.

Trains the registered offline learner ``evaluate.algorithm`` (qmix: offline QMIX, QMIX+CQL when
``evaluate.cql``; bc: behaviour cloning) on the dataset mixture through RLlib, evaluates greedy
decentralised rollouts every ``evaluate.eval_interval`` updates on ``evaluate.eval_episodes`` fixed episodes
(``evaluate.final_eval_episodes`` at the end), writes ``metrics.jsonl``, ``marl_eval.json``,
``summary.json`` and an RLlib checkpoint, and prints a one-line summary. ``--resume`` continues an interrupted
run in ``--out`` from its last intermediate evaluation (refused if the config, code or data changed, unless
``--allow-change KEY`` names the changed keys); without it a run starts afresh.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rayeaq.cli import Command


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset",
        action="append",
        required=True,
        metavar="DIR[:WEIGHT]",
        help="dataset directory, optionally with a mixture weight (1 = all episodes once); repeatable",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted evaluation in --out from its last evaluation (same config, code and data)",
    )
    parser.add_argument(
        "--allow-change",
        nargs="+",
        default=[],
        metavar="KEY",
        help="with --resume, config keys (globs such as evaluate.eval_*) that may differ from the stored run",
    )


def _sources(args: argparse.Namespace) -> list[tuple[str, float]]:
    from rayeaq.data.reader import parse_dataset_arg

    return [parse_dataset_arg(text) for text in args.dataset]


def _run_info(cfg: Any, args: argparse.Namespace) -> dict[str, Any]:
    from rayeaq.data.card import read_card

    sources = _sources(args)
    cards = [read_card(path) for path, _ in sources]  # fails fast on a bad path, before Ray starts
    datasets = [
        {"path": str(p), "weight": w, "fingerprint": c.fingerprint, "source": c.source, "tier": c.tier}
        for (p, w), c in zip(sources, cards, strict=True)
    ]
    if args.resume:  # compared before the new run info replaces the stored one
        from rayeaq.stages.evaluate import check_evaluate_resume

        check_evaluate_resume(cfg, _out(cfg, args), datasets, args.allow_change)
    return {"datasets": datasets}


def _out(cfg: Any, args: argparse.Namespace) -> Path:
    return Path(args.out) if args.out else _default_out(cfg)


def _execute(cfg: Any, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    from rayeaq.stages.evaluate import run_evaluation

    return run_evaluation(cfg, _sources(args), out, resume=args.resume)


def _summary(s: dict[str, Any], out: Path) -> str:
    if s.get("offline_only"):  # no simulator here: held-out scores instead of played episodes
        td = f"TD loss {s['heldout_td_loss']:.4g}, " if "heldout_td_loss" in s else ""
        return (
            f"evaluate: {s['algorithm']} {s['map']} seed {s['seed']} after {s['updates']} updates, offline only "
            f"(no simulator): {td}BC accuracy {s['heldout_bc_accuracy']:.3f} on {int(s['heldout_episodes'])} "
            f"held-out episodes; dataset return {s['dataset_return_mean']:.3f} (win rate "
            f"{s['dataset_win_rate']:.3f}); out {out}"
        )
    if "win_rate" not in s:  # box-action (MPE) learners: no win, a D4RL/OMAR normalized score
        return (
            f"evaluate: {s['algorithm']} {s['map']} seed {s['seed']} after {s['updates']} updates: "
            f"return {s['return_mean']:.2f} (normalized score {_opt(s.get('normalized_score'))}) over "
            f"{s['episodes']} episodes; dataset return {s['dataset_return_mean']:.2f} "
            f"(normalized score {_opt(s.get('dataset_normalized_score'))}); out {out}"
        )
    return (
        f"evaluate: {s['algorithm']} {s['map']} seed {s['seed']} after {s['updates']} updates: "
        f"win rate {s['win_rate']:.3f}, return {s['return_mean']:.3f} (normalized {s['normalized_return']:.3f}) "
        f"over {s['episodes']} episodes; dataset return {s['dataset_return_mean']:.3f} "
        f"(normalized {s['dataset_normalized_return']:.3f}, win rate {s['dataset_win_rate']:.3f}); out {out}"
    )


def _opt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _default_out(cfg: Any) -> Path:
    from rayeaq.stages.evaluate import algo_name

    return Path("results") / "evaluate" / (cfg.name or f"{algo_name(cfg)}_seed{cfg.seed}")


COMMAND = Command(
    prog="python -m rayeaq.evaluate",
    description=__doc__.splitlines()[0],
    stage="evaluate",
    execute=_execute,
    summary=_summary,
    default_out=_default_out,
    arguments=_arguments,
    run_info=_run_info,
    on_interrupt="rerun the same command with --resume to continue",
)
main = COMMAND.main

if __name__ == "__main__":
    COMMAND.run()
