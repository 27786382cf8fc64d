"""Tune adapter: the ``Tuner`` of a sweep (new or restored), its scheduler, search algorithm and console table.

Only this module and :mod:`rayeaq.sweep.ray_trial` import Ray Tune. Each trial reserves
``tune.resources`` for its own process (a small CPU share by default); the Train workers, learners
and rollout actors it starts reserve their own, so concurrent trials never starve them.
"""

from __future__ import annotations

import os
from typing import Any

from ray import tune
from ray.tune import CLIReporter, PlacementGroupFactory
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

from rayeaq.augmenters import AUGMENTERS
from rayeaq.core.errors import ConfigError
from rayeaq.run_config import RunConfig
from rayeaq.sweep.ray_trial import make_trainable
from rayeaq.sweep.space import label, random_dims, trial_config, trial_params

METRIC_COLUMNS = {
    "stage": "stage",
    "score": "score",
    "win_rate": "win",
    "gen_loss": "gen_loss",
    "learner_loss": "q_loss",
    "aug_share_kept": "kept",
    "time_total_s": "s",
}


def param_space(cfg: RunConfig, points: list[dict[str, Any]]) -> dict[str, Any]:
    """Tune's param space: the (deduplicated) grid points under ``point``, random dimensions beside them."""
    space: dict[str, Any] = {"point": tune.grid_search(points)}
    for key, (kind, arg) in random_dims(cfg.tune).items():
        space[key] = tune.choice(list(arg)) if kind == "choice" else getattr(tune, kind)(*arg)
    return space


def trial_bundles(cfg: RunConfig) -> list[dict[str, float]]:
    """The trial's placement-group bundles: its own process, then what its stages start inside the group.

    Tune places a trial's child tasks and actors in the trial's placement group, so the augment sampling
    tasks (eaq, eaq_noq), remote RLlib learners and rollout actors each get a bundle here. Ray Train's
    workers schedule in a placement group of their own (``fit.cpus_per_worker``, ``fit.use_gpu``).
    """

    def bundle(cpu: float, gpu: float = 0.0) -> dict[str, float]:
        return {"CPU": cpu, **({"GPU": gpu} if gpu > 0 else {})}

    r, a, e = cfg.tune.resources, cfg.augment, cfg.evaluate
    bundles = [bundle(r.cpu, r.gpu)]
    if AUGMENTERS.get(a.augmenter).needs_generator:
        bundles += [bundle(a.cpus_per_worker)] * a.workers
    bundles += [bundle(e.cpus_per_learner, e.gpus_per_learner)] * e.learners
    bundles += [bundle(e.cpus_per_rollout_worker)] * e.rollout_workers
    return bundles


def generators_root(cfg: RunConfig, experiment_path: str) -> str:
    """Where the sweep's generators are cached: ``tune.generator_dir``, else ``<experiment>/generators``; for an
    experiment in a bucket, ``results/generators`` on each node (nodes share fits only through generator_dir)."""
    if cfg.tune.generator_dir is not None:
        return cfg.tune.generator_dir
    if "://" in experiment_path:
        return os.path.abspath(os.path.join("results", "generators"))
    return os.path.join(os.path.abspath(experiment_path), "generators")


def _trainable(
    cfg: RunConfig, base: dict[str, Any], datasets_root: str, experiment_path: str, allow_change: tuple[str, ...] = ()
):
    fn = make_trainable(
        base, datasets_root, cfg.tune.keep_synthetic, generators_root(cfg, experiment_path), allow_change
    )

    def resources(config: dict[str, Any]) -> PlacementGroupFactory:
        params = trial_params(config)
        return PlacementGroupFactory(trial_bundles(trial_config(base, params)), strategy="PACK")

    return tune.with_resources(fn, resources)


def _scheduler(cfg: RunConfig):
    t = cfg.tune
    if t.scheduler == "asha":
        return ASHAScheduler(
            time_attr="evaluations",
            grace_period=t.asha.grace_period,
            reduction_factor=t.asha.reduction_factor,
            max_t=t.asha.max_t,
        )
    return FIFOScheduler()


def _search_alg(cfg: RunConfig):
    t = cfg.tune
    try:
        if t.search_alg == "optuna":
            from ray.tune.search.optuna import OptunaSearch

            return OptunaSearch()
        if t.search_alg == "hyperopt":
            from ray.tune.search.hyperopt import HyperOptSearch

            return HyperOptSearch()
    except (ImportError, AssertionError) as err:
        raise ConfigError(f"tune.search_alg: {t.search_alg} needs its package installed ({err})") from None
    return None  # BasicVariantGenerator: grid + random sampling


def _reporter(points: list[dict[str, Any]]) -> CLIReporter:
    keys = sorted({k for p in points for k in p})
    params = {f"point/{k}": k.rsplit(".", 1)[-1] for k in keys}
    return CLIReporter(
        parameter_columns=params,
        metric_columns=METRIC_COLUMNS,
        max_report_frequency=20,
        sort_by_metric=False,
        max_progress_rows=40,
    )


def _trial_name(trial) -> str:
    return f"{trial.trial_id}_{label(trial.config.get('point', {}))}"


def build_tuner(
    cfg: RunConfig, base: dict[str, Any], points: list[dict[str, Any]], datasets_root: str, storage_path: str, name: str
) -> tune.Tuner:
    """A new Tuner for the sweep."""
    t = cfg.tune
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", str(t.checkpoint_period_s))
    tune_config = tune.TuneConfig(
        metric=t.metric,
        mode=t.mode,
        num_samples=t.num_samples,
        max_concurrent_trials=t.max_concurrent_trials,
        scheduler=_scheduler(cfg),
        search_alg=_search_alg(cfg),
        trial_name_creator=_trial_name,
        trial_dirname_creator=_trial_name,
    )
    run_config = tune.RunConfig(
        name=name,
        storage_path=storage_path,
        verbose=t.verbose,
        progress_reporter=_reporter(points),
        failure_config=tune.FailureConfig(max_failures=t.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        sync_config=tune.SyncConfig(sync_artifacts=True),
    )
    experiment = f"{storage_path.rstrip('/')}/{name}"
    return tune.Tuner(
        _trainable(cfg, base, datasets_root, experiment),
        param_space=param_space(cfg, points),
        tune_config=tune_config,
        run_config=run_config,
    )


def can_restore(experiment_path: str) -> bool:
    return tune.Tuner.can_restore(experiment_path)


def restore_tuner(
    cfg: RunConfig, base: dict[str, Any], experiment_path: str, datasets_root: str, allow_change: tuple[str, ...] = ()
) -> tune.Tuner:
    """The Tuner of an interrupted sweep: finished trials kept, unfinished resumed, errored per the policy.
    ``allow_change``: the key patterns ``--resume --allow-change`` accepted, passed to each trial's fit resume."""
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", str(cfg.tune.checkpoint_period_s))
    policy = cfg.tune.on_resume_errored
    return tune.Tuner.restore(
        experiment_path,
        trainable=_trainable(cfg, base, datasets_root, experiment_path, allow_change),
        resume_unfinished=True,
        resume_errored=policy == "resume",
        restart_errored=policy == "restart",
    )


def fit(tuner: tune.Tuner):
    """Run the sweep; returns Tune's ResultGrid."""
    return tuner.fit()


def result_rows(results) -> list[dict[str, Any]]:
    """Plain summary rows from a ResultGrid (see :func:`rayeaq.sweep.summary.trial_row`)."""
    from rayeaq.sweep.summary import trial_row

    rows = []
    for result in results:
        metrics = dict(result.metrics or {})
        config = result.config or {}
        params = trial_params(config)
        error = None if result.error is None else f"{type(result.error).__name__}: {result.error}"
        status = "ERROR" if error else ("TERMINATED" if metrics.get("done") else "STOPPED")
        name = os.path.basename(str(result.path).rstrip("/"))
        rows.append(trial_row(name, status, params, metrics, error, str(result.path)))
    return rows


def upload(local_file, experiment_path: str) -> None:
    """Copy a driver-side file (summary.csv) into a bucket experiment directory."""
    import pyarrow.fs

    fs, root = pyarrow.fs.FileSystem.from_uri(experiment_path)
    with open(local_file, "rb") as src, fs.open_output_stream(f"{root}/{os.path.basename(str(local_file))}") as dst:
        dst.write(src.read())
