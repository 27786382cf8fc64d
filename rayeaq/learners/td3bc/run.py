"""One offline continuous-action run (MA-TD3+BC or MA-CQL): train on a mixture of box-action datasets, evaluate
greedily on the vmapped MPE, write ``metrics.jsonl`` (one row per evaluation), ``summary.json`` and
``checkpoint/`` (RLlib) into ``out``. Needs Ray initialised (the LearnerGroup is RLlib's; ``num_learners=0`` keeps
the learner in this process)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rayeaq.core.errors import DatasetError
from rayeaq.core.runinfo import derive_seed
from rayeaq.data.card import read_card
from rayeaq.learners.td3bc.config import ContinuousSettings, TD3BCSettings
from rayeaq.learners.td3bc.networks import NetSpec

STAT_KEYS = ("critic_loss", "actor_loss", "bc_mse", "q_mean", "cql_gap")
"""Learner statistics copied into each metrics row (those the learner reports)."""


def build_config(
    settings: ContinuousSettings,
    sources: list[tuple[str, float]],
    seed: int,
    updates_per_iteration: int,
    config_class: type | None = None,
):
    """The RLlib config (``config_class``, default :class:`TD3BCConfig`) of the settings and a dataset mixture
    (sizes and map from the first card)."""
    from rayeaq.learners.td3bc.ray_algorithm import TD3BCConfig

    if not sources:
        raise DatasetError("no dataset given (use --dataset DIR[:weight])")
    card = read_card(sources[0][0])
    space = card.resolved_action_space()
    if space["kind"] != "box":
        raise DatasetError(f"{sources[0][0]}: this learner needs box (continuous) actions, the dataset's are {space}")
    net = NetSpec(
        n_agents=card.n_agents,
        obs_dim=card.obs_shape,
        action_dim=space["dim"],
        action_low=space["low"],
        action_high=space["high"],
        hidden_dim=settings.hidden_dim,
    )
    s = settings
    return (
        (config_class or TD3BCConfig)()
        .training(lr=s.lr_schedule(), gamma=s.gamma)
        .evaluation(evaluation_duration=s.eval_episodes, evaluation_duration_unit="episodes")
        .debugging(seed=derive_seed(seed, "evaluate", "torch"), log_level="ERROR")
        .offline(
            tau=s.tau,
            batch_size_transitions=s.batch_size,
            updates_per_iteration=updates_per_iteration,
            net=net,
            datasets=[(str(Path(p).resolve()), w) for p, w in sources],
            data_seed=derive_seed(seed, "evaluate", "sampler"),
            mixture_seed=derive_seed(seed, "evaluate", "mixture"),
            map_name=card.map,
            eval_envs=s.eval_envs,
            eval_seed=derive_seed(seed, "evaluate", "episodes"),
            torch_threads=s.torch_threads,
            reward_scale=s.reward_scale,
            **s.loss_options(),
        )
    )


def run_continuous(
    name: str,
    config_cls: type,
    settings: ContinuousSettings,
    sources: list[tuple[str, float]],
    out: str | Path,
    seed: int,
    report: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train learner ``name`` (its RLlib config class ``config_cls``) for ``settings.updates`` updates, evaluating
    every ``eval_interval``; returns the final summary."""
    from rayeaq.learners.td3bc.ray_module import MODULE_ID

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    chunk = min(100, settings.eval_interval)
    while settings.eval_interval % chunk or settings.updates % chunk:
        chunk -= 1
    algo = build_config(settings, sources, seed, chunk, config_cls).build_algo()
    metrics_path = out / "metrics.jsonl"
    metrics_path.write_text("", encoding="utf-8")
    start, rows, updates = time.perf_counter(), [], 0
    try:
        while updates < settings.updates:
            result = algo.train()
            updates += chunk
            if updates % settings.eval_interval == 0 or updates >= settings.updates:
                learner = result.get("learners", {}).get(MODULE_ID, {})
                stats = {k: float(learner[k]) for k in STAT_KEYS if k in learner}
                row = {
                    "updates": updates,
                    **algo.evaluate_episodes(settings.eval_episodes),
                    **stats,
                    "time_s": round(time.perf_counter() - start, 2),
                }
                rows.append(row)
                with metrics_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
                if report is not None:
                    report(row)
        checkpoint = str(algo.save_to_path(str((out / "checkpoint").resolve()))) if settings.checkpoint else None
        summary = {
            "algorithm": name,
            "map": algo.config.map_name,
            "seed": seed,
            **rows[-1],
            "datasets": [{"path": str(p), "weight": w} for p, w in sources],
            "checkpoint": checkpoint,
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        return summary
    finally:
        algo.stop()


def run_td3bc(
    settings: TD3BCSettings,
    sources: list[tuple[str, float]],
    out: str | Path,
    seed: int,
    report: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """:func:`run_continuous` of MA-TD3+BC."""
    from rayeaq.learners.td3bc.ray_algorithm import TD3BCConfig

    return run_continuous("td3bc", TD3BCConfig, settings, sources, out, seed, report)
