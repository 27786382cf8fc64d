"""One evaluation run: train offline QMIX/BC on a dataset mixture, evaluate greedily, write metrics.

Called by ``python -m rayeaq.evaluate`` and usable from a Tune trial. Needs Ray initialised
(:func:`rayeaq.ray_session.ray_session`). Writes into ``out``:

- ``metrics.jsonl``: one JSON object per evaluation (``updates``, win rate with its Wilson 95 % interval,
  mean return with its bootstrap interval, ``episodes``, losses, the dataset's own mean return beside them,
  wall time);
- ``learner.jsonl``: the learner's losses after every training iteration (visible before the first evaluation);
- ``marl_eval.json``: marl-eval's shape ``{env: {task: {algo: {"seed_S": {"step_i": {...},
  "absolute_metrics": {...}}}}}}`` with per-episode returns;
- ``summary.json`` (with each dataset's fingerprint) and ``checkpoint/`` (RLlib checkpoint;
  ``rayeaq.qmix.policy.load_greedy_policy`` reads it).
- ``progress/`` while the run goes: the state at the latest intermediate evaluation, which a rerun with
  ``--resume`` continues from (:mod:`rayeaq.learners.qmix.progress`); removed when the run completes.

``report`` (a Tune trial's) gets every evaluation row and, between evaluations, the learner's losses after each
training iteration (rows without ``win_rate``).

When the data's simulator is not here (sc2 without the game) nothing is played: one line says so, a tenth of
the episodes is held out and every evaluation row holds offline-only metrics on them instead (``heldout_td_loss``,
``heldout_bc_accuracy``; :mod:`rayeaq.learners.qmix.heldout`), with no ``marl_eval.json``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from rayeaq.core.errors import DatasetError, EnvUnavailableError
from rayeaq.core.runinfo import derive_seed
from rayeaq.data.card import DatasetCard, read_card
from rayeaq.envs import BACKENDS
from rayeaq.envs.config import EnvConfig
from rayeaq.learners.qmix.config import EvaluateConfig
from rayeaq.learners.qmix.networks import NetSpec
from rayeaq.learners.qmix.progress import clear_progress, load_progress, save_progress


class EvaluateRun(Protocol):
    """The run-config sections QMIX reads (a :class:`rayeaq.run_config.RunConfig` is one)."""

    seed: int
    evaluate: EvaluateConfig


def algo_name(cfg: EvaluateRun) -> str:
    """``bc``, ``qmix`` (no conservative term), ``qmix_cql`` (per-agent term) or ``qmix_cql_joint``."""
    e = cfg.evaluate
    if e.algorithm == "bc":
        return "bc"
    if e.cql.weight == 0:
        return "qmix"
    return "qmix_cql" if e.cql.kind == "agent" else "qmix_cql_joint"


def net_spec(cfg: EvaluateRun, card: DatasetCard) -> NetSpec:
    e = cfg.evaluate
    return NetSpec(
        n_agents=card.n_agents,
        n_actions=card.n_actions,
        obs_dim=card.obs_shape,
        state_dim=card.state_shape,
        hidden_dim=e.hidden_dim,
        mixing_embed_dim=e.mixing_embed_dim,
        hypernet_embed=e.hypernet_embed,
        obs_last_action=e.obs_last_action,
        obs_agent_id=e.obs_agent_id,
        mixer=e.algorithm == "qmix",
    )


def env_for(card: DatasetCard) -> EnvConfig:
    """The environment the dataset came from (evaluation always plays the data's own map and limit)."""
    return EnvConfig(backend=card.backend, map=card.map, episode_limit=card.episode_limit)


def dataset_names(sources: list[tuple[str, float]]) -> dict[str, Any]:
    """How a run's config (and so its checkpoint) names its datasets: ``datasets`` relative to ``data_root``
    (their common parent), ``dataset_fingerprints`` from their cards."""
    dirs = [Path(p).resolve() for p, _ in sources]
    root = Path(os.path.commonpath([d.parent for d in dirs]))
    return {
        "data_root": str(root),
        "datasets": [(str(d.relative_to(root)), w) for d, (_, w) in zip(dirs, sources, strict=True)],
        "dataset_fingerprints": [read_card(d).fingerprint for d in dirs],
    }


def build_config(cfg: EvaluateRun, sources: list[tuple[str, float]], updates_per_iteration: int):
    """The :class:`QMIXConfig` of a run config and a dataset mixture."""
    from rayeaq.learners.qmix.ray_algorithm import QMIXConfig

    if not sources:
        raise DatasetError("no dataset given (use --dataset DIR[:weight])")
    card = read_card(sources[0][0])
    e = cfg.evaluate
    return (
        QMIXConfig()
        .training(lr=e.lr, gamma=e.gamma, grad_clip=e.grad_clip)
        .learners(
            num_learners=e.learners,
            num_gpus_per_learner=e.gpus_per_learner,
            num_cpus_per_learner=e.cpus_per_learner if e.learners > 0 else "auto",
        )
        .evaluation(evaluation_duration=e.eval_episodes, evaluation_duration_unit="episodes")
        .debugging(seed=derive_seed(cfg.seed, "evaluate", "torch"), log_level="ERROR")
        .qmix(
            qmix_algorithm=e.algorithm,
            cql_kind=e.cql.kind,
            cql_weight=e.cql.weight,
            cql_temperature=e.cql.temperature,
            cql_samples=e.cql.samples,
            td_lambda=e.td_lambda,
            reward_scale=e.resolved_reward_scale(card.max_return),
            double_q=e.double_q,
            target_update_interval=e.target_update_interval,
            batch_size_episodes=e.batch_size,
            updates_per_iteration=updates_per_iteration,
            net=net_spec(cfg, card),
            **dataset_names(sources),
            data_seed=derive_seed(cfg.seed, "evaluate", "sampler"),
            mixture_seed=derive_seed(cfg.seed, "evaluate", "mixture"),
            env_config=env_for(card),
            eval_envs=e.eval_envs,
            eval_seed=derive_seed(cfg.seed, "evaluate", "episodes"),
            rollout_workers=e.rollout_workers,
            cpus_per_rollout_worker=e.cpus_per_rollout_worker,
            torch_threads=e.torch_threads,
        )
    )


def _learner_stats(result: dict) -> dict[str, float]:
    learner = result.get("learners", {}).get("qmix", {})
    keys = ("total_loss", "td_loss", "cql_loss", "bc_loss", "bc_accuracy", "q_taken_mean", "target_mean")
    return {k: float(np.asarray(learner[k])) for k in keys if k in learner}


def simulator_missing(backend: str) -> str | None:
    """Why greedy episodes of ``backend`` cannot be played here (one line), or None when they can."""
    member = BACKENDS.get(backend)
    if member.batch_env is None:
        return f"env.backend {backend} has no batched environment for greedy rollouts"
    if member.check_available is not None:
        try:
            member.check_available()
        except EnvUnavailableError as err:
            return str(err)
    return None


def _offline_only(qcfg: Any, card: DatasetCard, missing: str, heldout_seed: int):
    """The algorithm trained on the mixture minus held-out episodes, and its scorer on those episodes
    (:mod:`rayeaq.learners.qmix.heldout`): ``score(n) -> (metrics, None)``, nothing played."""
    from rayeaq.data.reader import load_mixture
    from rayeaq.learners.qmix.heldout import heldout_metrics, split_heldout
    from rayeaq.learners.qmix.ray_algorithm import dataset_sources

    episodes, _ = load_mixture(dataset_sources(qcfg), seed=qcfg.mixture_seed)
    train, held = split_heldout(episodes, heldout_seed)
    print(
        f"evaluate: greedy episodes skipped ({missing}); offline-only metrics instead: TD loss and BC accuracy "
        f"on {len(held)} held-out episodes (trained on the other {len(train)})"
    )
    algo = qcfg.qmix(datasets=[]).build_algo()  # the split's training part only
    algo.set_episodes(train, max_return=card.max_return)

    def score(episodes_asked: int) -> tuple[dict[str, Any], None]:
        metrics = heldout_metrics(
            qcfg.net,
            algo.net_state(),
            held,
            gamma=qcfg.gamma,
            double_q=qcfg.double_q,
            td_lambda=qcfg.td_lambda,
            reward_scale=qcfg.reward_scale,
        )
        return {**metrics, **algo.dataset_stats, "offline_only": True}, None

    return algo, score


def _resume(algo: Any, out: Path, metrics_path: Path, learner_path: Path) -> dict[str, Any]:
    """Restore ``algo`` from ``OUT/progress`` when it holds one (cutting ``metrics.jsonl`` and ``learner.jsonl``
    back to its update count) and return the loop's state there; a fresh state (and empty files) otherwise."""
    found = load_progress(out)
    if found is None:
        metrics_path.write_text("", encoding="utf-8")
        learner_path.write_text("", encoding="utf-8")
        return {"updates": 0, "step_index": 0, "rows": [], "marl_runs": {}, "last": {}, "time_s": 0.0}
    state, checkpoint = found
    algo.restore_from_path(str(checkpoint.resolve()))
    print(f"evaluate: resuming from update {state['updates']} ({checkpoint.parent})", flush=True)
    metrics_path.write_text("".join(json.dumps(r) + "\n" for r in state["rows"]), encoding="utf-8")
    lines = learner_path.read_text(encoding="utf-8").splitlines() if learner_path.is_file() else []
    kept = [line for line in lines if _updates_of(line) <= state["updates"]]
    learner_path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    return state


def _updates_of(line: str) -> float:
    """The ``updates`` of a ``learner.jsonl`` line; infinity for a line cut short by the interruption."""
    try:
        return float(json.loads(line)["updates"])
    except (ValueError, KeyError, TypeError):
        return float("inf")


def run_evaluation(
    cfg: EvaluateRun,
    sources: list[tuple[str, float]],
    out: str | Path,
    report: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train for ``evaluate.updates`` updates, evaluating every ``eval_interval``; returns the final summary.

    Continues from ``OUT/progress`` when it holds one (:mod:`rayeaq.learners.qmix.progress`; written at every
    intermediate evaluation): the resumed run draws the batches and reaches the parameters and metrics rows of an
    uninterrupted one. The caller decides whether a run resumes (:func:`rayeaq.stages.evaluate.run_evaluation`
    clears it for a fresh start)."""
    e = cfg.evaluate
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    chunk = int(np.gcd(e.updates, e.eval_interval))
    chunk = max(d for d in range(1, min(chunk, 100) + 1) if chunk % d == 0)
    qcfg = build_config(cfg, sources, chunk)
    card = read_card(sources[0][0])
    missing = simulator_missing(card.backend)
    if missing is None:
        algo = qcfg.build_algo()
        score = algo.evaluate_episodes
    else:
        algo, score = _offline_only(qcfg, card, missing, derive_seed(cfg.seed, "evaluate", "heldout"))
    metrics_path, learner_path = out / "metrics.jsonl", out / "learner.jsonl"
    resumed = _resume(algo, out, metrics_path, learner_path)
    updates, step_index = resumed["updates"], resumed["step_index"]
    rows: list[dict[str, Any]] = resumed["rows"]
    marl_runs: dict[str, Any] = resumed["marl_runs"]
    last: dict[str, float] = resumed["last"]
    last_win = rows[-1].get("win_rate") if rows else None
    start = time.perf_counter() - resumed["time_s"]
    bar = tqdm(total=e.updates, initial=updates, desc=algo_name(cfg), unit="upd", dynamic_ncols=True, mininterval=1.0)
    try:
        while updates < e.updates:
            last = _learner_stats(algo.train())
            updates += chunk
            bar.update(chunk)
            with learner_path.open("a", encoding="utf-8") as f:
                f.write(
                    json.dumps({"updates": updates, **last, "time_s": round(time.perf_counter() - start, 2)}) + "\n"
                )
            bar.set_postfix(
                loss=f"{last.get('total_loss', float('nan')):.4g}",
                win=("-" if last_win is None else f"{last_win:.3f}"),
                refresh=False,
            )
            final = updates >= e.updates
            if not (final or updates % e.eval_interval == 0):
                if report is not None:  # the learner's losses as they come (a row without win_rate)
                    report({"updates": updates, **last})
                continue
            n = e.final_eval_episodes if final else e.eval_episodes
            ev, episodes = score(n)
            row = {
                "updates": updates,
                "final": final,
                **ev,
                **last,
                "time_s": round(time.perf_counter() - start, 2),
            }
            rows.append(row)
            last_win = ev.get("win_rate")
            with metrics_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            if episodes is not None:  # None: offline-only (no simulator), nothing was played
                marl_runs[f"step_{step_index}"] = {
                    "step_count": updates,
                    "return": episodes.returns.tolist(),
                    "win_rate": [ev["win_rate"]],
                    "normalized_return": [ev["normalized_return"]],
                }
                step_index += 1
            if not final:  # what a resumed run continues from (rayeaq.evaluate --resume)
                progress = {"updates": updates, "step_index": step_index, "rows": rows, "marl_runs": marl_runs}
                progress.update(last=last, time_s=round(time.perf_counter() - start, 2))
                save_progress(out, algo.save_to_path, progress)
            if report is not None:
                report(row)
        final_row = rows[-1]
        if marl_runs:
            marl_runs["absolute_metrics"] = {
                "return": marl_runs[f"step_{step_index - 1}"]["return"],
                "win_rate": [final_row["win_rate"]],
                "normalized_return": [final_row["normalized_return"]],
            }
            marl = {card.backend: {card.map: {algo_name(cfg): {f"seed_{cfg.seed}": marl_runs}}}}
            (out / "marl_eval.json").write_text(json.dumps(marl), encoding="utf-8")
        checkpoint = None
        if e.checkpoint:
            checkpoint = str(algo.save_to_path(str((out / "checkpoint").resolve())))
        summary = {
            "algorithm": algo_name(cfg),
            "map": card.map,
            "seed": cfg.seed,
            "updates": updates,
            "reward_scale": qcfg.reward_scale,
            "cql": e.cql.model_dump(),
            "td_lambda": e.td_lambda,
            "datasets": [
                {"path": str(p), "weight": w, "fingerprint": f}
                for (p, w), f in zip(sources, qcfg.dataset_fingerprints, strict=True)
            ],
            **({"simulator_missing": missing} if missing is not None else {}),
            **{k: final_row[k] for k in final_row if k not in ("final",)},
            "checkpoint": checkpoint,
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        clear_progress(out)  # complete: the final state is OUT/checkpoint
        return summary
    finally:
        bar.close()
        algo.stop()
