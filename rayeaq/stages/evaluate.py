"""The evaluate stage: train the registered offline learner (``evaluate.algorithm``) on a dataset mixture.

Needs Ray initialised (:func:`rayeaq.core.ray_session.ray_session`). The learner writes ``metrics.jsonl``,
``marl_eval.json``, ``summary.json`` and its checkpoint into ``out`` and returns the summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from rayeaq.core.errors import ConfigError, UserError
from rayeaq.core.ray_config import RayConfig
from rayeaq.core.resources import check_resources
from rayeaq.core.runinfo import Dumpable
from rayeaq.data.card import read_card
from rayeaq.learners import LEARNERS
from rayeaq.learners.qmix.config import EvaluateConfig
from rayeaq.learners.registry import LearnerDiedError, OfflineLearner, Report


class EvaluateRun(Protocol):
    """The run-config sections the evaluate stage reads (a :class:`rayeaq.run_config.RunConfig` is one)."""

    seed: int
    evaluate: EvaluateConfig
    ray: RayConfig


EVALUATE_SECTIONS = ("seed", "evaluate")
"""Run-config sections an evaluation's result depends on (compared on resume; the env is the data's own)."""
RUN_ONLY_KEYS = ("evaluate.rollout_workers", "evaluate.cpus_per_rollout_worker", "evaluate.cpus_per_learner")
"""Keys a resume may change without ``--allow-change``: where the work runs, not what it computes."""


def check_evaluate_resume(
    cfg: Dumpable, out: Path, datasets: list[dict[str, Any]], allow_change: Sequence[str] = ()
) -> None:
    """Refuse (one line) to resume ``out`` unless it holds an evaluation of the same config, code and datasets
    (``datasets``: what ``run.json`` records); accepted changes are recorded in ``run.json``."""
    from rayeaq.core.resume import check_resume
    from rayeaq.core.runinfo import record_resume

    config = cfg.model_dump(mode="json")
    _resumable(LEARNERS.get(config["evaluate"]["algorithm"]))
    changes = check_resume(
        out,
        config,
        (*RUN_ONLY_KEYS, *allow_change),
        sections=EVALUATE_SECTIONS,
        inputs={"stage": "evaluate", "datasets": datasets},
        what="evaluation",
        required=True,
    )
    if changes:
        record_resume(out, changes, list(allow_change))


def _check_actions(learner: OfflineLearner, sources: list[tuple[str, float]]) -> None:
    """One line when a dataset's action space is not the learner's (e.g. discrete QMIX on MPE's box actions)."""
    for directory, _ in sources:
        kind = read_card(directory).resolved_action_space()["kind"]
        if kind != learner.actions:
            fits = ", ".join(n for n in LEARNERS.names() if LEARNERS.get(n).actions == kind)
            raise ConfigError(
                f"evaluate.algorithm: {learner.name} learns {learner.actions} actions; {directory} holds {kind} "
                f"actions (expected one of: {fits})"
            )


def _resumable(learner: OfflineLearner) -> None:
    if not learner.resumable:
        raise ConfigError(f"evaluate.algorithm {learner.name}: cannot resume (rerun without --resume)")


def algo_name(cfg: EvaluateRun) -> str:
    """The run's learner label (e.g. ``qmix_cql``)."""
    return LEARNERS.get(cfg.evaluate.algorithm).label(cfg)


def run_evaluation(
    cfg: EvaluateRun,
    sources: list[tuple[str, float]],
    out: str | Path,
    report: Report | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Train and score ``evaluate.algorithm`` on the mixture; returns its final summary.

    ``resume``: continue from the progress checkpoint an interrupted run left in ``out`` (the caller has compared
    the configs: :func:`check_evaluate_resume`); otherwise any such checkpoint is removed and the run starts afresh.
    Fails fast (one line) when the cluster cannot hold the learners and rollout actors."""
    from rayeaq.stages.requests import evaluate_requests

    learner = LEARNERS.get(cfg.evaluate.algorithm)
    if resume:
        _resumable(learner)
    else:
        learner.clear_progress(Path(out))
    check_resources(evaluate_requests(cfg), wait_s=cfg.ray.resource_wait_s)
    _check_actions(learner, sources)
    from ray.exceptions import RayActorError

    from rayeaq.core.ray_actors import actor_ids, died_since

    before = actor_ids()
    try:
        return learner.run(cfg, sources, Path(out), report)
    except (RayActorError, LearnerDiedError) as err:  # a learner or rollout actor died (killed, OOM, node lost)
        # the GCS names the dead process even where RLlib's error does not (ActorUnavailableError, no result)
        dead = "; ".join(died_since(before)) or _actor(err)
        raise EvaluateFailedError(
            f"evaluate: a Ray actor died mid-run ({dead}); the run in {out} is "
            "incomplete: rerun the same command with --resume to continue from its last evaluation"
        ) from None


class EvaluateFailedError(UserError):
    """A learner or rollout actor died; the run's outputs are incomplete (no ``summary.json``)."""


def _actor(err: BaseException) -> str:
    """``class _WrappedExecutable, pid 123`` from Ray's multi-line actor error."""
    fields = dict(
        line.strip().split(": ", 1)
        for line in str(err).splitlines()
        if ": " in line.strip() and line.strip().split(": ", 1)[0] in ("class_name", "pid")
    )
    if isinstance(err, LearnerDiedError):
        return str(err)
    name = fields.get("class_name", type(err).__name__).rsplit(".", 1)[-1]
    return f"class {name}, pid {fields.get('pid', '?')}"
