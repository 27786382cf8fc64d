"""Driver of ``python -m rayeaq.tune``: check the config, prepare the datasets, run or resume Tune, summarise.

Order: every user mistake (unknown key, empty grid, unknown augmenter or map, missing dataset, no
shared ``tune.dataset_dir`` on a cluster or with bucket storage) is found before Ray starts; then the
shared datasets are collected where missing (``collect_all`` into ``<datasets>/<map>/<tier>``); then the
Tuner runs (or is restored with ``--resume``); finally ``summary.csv`` and a table. The results directory is
locked for the whole run (:mod:`rayeaq.core.outlock`); ``--resume`` first compares the stored resolved config
and code version with the new one (:mod:`rayeaq.core.resume`; ``allow_change`` lists what may differ, and the
accepted changes go to ``run.json``); once Ray is up, the cluster must be able to hold the collectors and the
concurrent trials with their Train workers (:mod:`rayeaq.sweep.resources`), or the sweep stops with one line. Exit code 0 when every
trial finished, 1 when some failed for good, 130 when the sweep was interrupted (rerun with ``--resume``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from rayeaq.core.config import validate
from rayeaq.core.errors import ConfigError, DatasetError
from rayeaq.core.outlock import out_lock
from rayeaq.core.resume import check_resume
from rayeaq.core.runinfo import record_resume, write_run_info
from rayeaq.data.card import read_card
from rayeaq.run_config import RunConfig, load_run_config
from rayeaq.sweep.space import check_space, grid_points, needed_datasets, trial_config, trial_params
from rayeaq.sweep.splits import check_pool, write_splits
from rayeaq.sweep.summary import format_table, write_summary

EXIT_OK, EXIT_TRIALS_FAILED, EXIT_INTERRUPTED = 0, 1, 130
RUN_ONLY_KEYS = ("ray.dashboard",)
"""Keys a ``--resume`` may always change (the ``--dashboard`` flag sets ``ray.dashboard``); recorded like others."""


@dataclass(frozen=True)
class Plan:
    """Where the sweep writes and reads, resolved before Ray starts."""

    storage_path: str
    """Tune's storage path (a local absolute directory or a bucket URI)."""
    name: str
    """Experiment name (the results directory under storage_path)."""
    local_dir: Path
    """Local directory for run info, summary.csv and (by default) the datasets."""
    datasets_root: Path
    """Root of the shared datasets, laid out <map>/<tier>/."""

    @property
    def experiment_path(self) -> str:
        return f"{self.storage_path.rstrip('/')}/{self.name}"

    @property
    def remote(self) -> bool:
        return "://" in self.storage_path


def plan(cfg: RunConfig, out: str | None) -> Plan:
    """Resolve the results directory (``--out`` wins over ``tune.storage_path``/``name``)."""
    if out is not None:
        exp = Path(out).expanduser().resolve()
        storage, name, local = str(exp.parent), exp.name, exp
    else:
        name = cfg.name or "sweep"
        storage = cfg.tune.storage_path
        if "://" in storage:
            local = Path("results/tune-driver").resolve() / name
        else:
            storage = str(Path(storage).expanduser().resolve())
            local = Path(storage) / name
    root = Path(cfg.tune.dataset_dir).expanduser().resolve() if cfg.tune.dataset_dir else local / "datasets"
    return Plan(storage, name, local, root)


def check_shared_datasets(cfg: RunConfig, p: Plan) -> None:
    """On a cluster or with bucket storage, the datasets must be where every node reads them: ``tune.dataset_dir``."""
    if cfg.tune.dataset_dir is not None:
        return
    address = os.environ.get("RAY_ADDRESS") or cfg.ray.address
    if p.remote or address:
        why = f"tune.storage_path is {p.storage_path}" if p.remote else f"Ray joins the cluster at {address}"
        raise ConfigError(
            f"tune.dataset_dir: expected a directory every node can read ({why}, so datasets under "
            f"{p.datasets_root} on the driver's disk would be unreadable from other nodes)"
        )


def load_sweep(config: str, overrides: list[str]) -> tuple[RunConfig, list[dict]]:
    """The validated sweep config and its grid points; raises a one-line ConfigError otherwise."""
    cfg = load_run_config(config, overrides)
    base = cfg.model_dump(mode="python")
    check_space(base, cfg.tune, config)
    points = grid_points(cfg.tune)
    if not points:
        raise ConfigError(f"{config}: tune.space: the grid is empty")
    return cfg, points


def check_datasets(cfg: RunConfig, points: list[dict], p: Plan) -> dict[str, list[str]]:
    """Map -> tiers to collect (into ``tune.dataset_dir`` when given: that directory itself must exist)."""
    if cfg.tune.dataset_dir is not None and not p.datasets_root.is_dir():
        raise DatasetError(
            f"{p.datasets_root}: tune.dataset_dir does not exist (create it, shared by every node, "
            "and the sweep collects the missing <map>/<tier> datasets into it)"
        )
    missing: dict[str, list[str]] = {}
    for map_name, tiers in sorted(needed_datasets(cfg, points).items()):
        for tier in sorted(tiers):
            directory = p.datasets_root / map_name / tier
            if (directory / "card.json").is_file():
                card = read_card(directory)
                if card.map != map_name:
                    raise DatasetError(f"{directory}: dataset is of map {card.map!r}, expected {map_name!r}")
                if cfg.tune.seed_datasets:
                    check_pool(directory, cfg.collect.episodes, cfg.tune.seed_datasets)
                continue
            if cfg.env.backend == "mpe":
                raise DatasetError(
                    f"{directory}: no dataset (the sweep collects SMAX/SC2 only; collect MPE tiers with "
                    f"python -m rayeaq.collect_mpe tune_configs/collect_mpe.yaml --out {p.datasets_root / map_name})"
                )
            missing.setdefault(map_name, []).append(tier)
    return missing


def collect_missing(cfg: RunConfig, missing: dict[str, list[str]], root: Path) -> None:
    """Collect the missing datasets with the config's collect section (inside the sweep's Ray session)."""
    from rayeaq.stages.collect.driver import collect_all

    for map_name, tiers in missing.items():
        data = cfg.model_dump(mode="python")
        data["env"]["map"] = map_name
        data["collect"]["tiers"] = tiers
        data["collect"]["episodes"] = cfg.collect.episodes * max(1, cfg.tune.seed_datasets)  # the pool of the splits
        ccfg = validate(RunConfig, data, f"tune datasets for {map_name}")
        print(f"tune: collecting {', '.join(tiers)} on {map_name} -> {root / map_name}", flush=True)
        totals = collect_all(ccfg, root / map_name)
        print(f"tune: collected {totals['episodes']} episodes ({'; '.join(totals['tiers'])})", flush=True)


def write_seed_splits(cfg: RunConfig, points: list[dict], root: Path) -> None:
    """With ``tune.seed_datasets``: the missing per-seed splits of every tier's pool (:mod:`rayeaq.sweep.splits`)."""
    if not cfg.tune.seed_datasets:
        return
    for map_name, tiers in sorted(needed_datasets(cfg, points).items()):
        for tier in sorted(tiers):
            write_splits(root / map_name / tier, cfg.collect.episodes, cfg.tune.seed_datasets)


def write_timings(directory: Path, timings: dict[str, float]) -> None:
    """``timings.json``: the driver's phases (Ray start, collection, Tune, Ray stop), for the benchmark."""
    (directory / "timings.json").write_text(
        json.dumps({k: round(v, 2) for k, v in timings.items()}, indent=2), encoding="utf-8"
    )


def check_sweep_resources(cfg: RunConfig, points: list[dict], missing: dict[str, list[str]]) -> None:
    """Fail fast (one line) unless the cluster can hold the collectors and the concurrent trials (Ray started)."""
    from rayeaq.core.resources import check_resources, cluster_view
    from rayeaq.stages.requests import collect_requests
    from rayeaq.sweep.resources import sweep_requests

    wait = cfg.ray.resource_wait_s
    if missing:
        check_resources(collect_requests(cfg), wait_s=wait)
    base = cfg.model_dump(mode="python")
    trial_cfgs = {
        json.dumps(trial_params({"point": p}), sort_keys=True, default=str): trial_config(
            base, trial_params({"point": p})
        )
        for p in points
    }
    view = cluster_view()
    assert view is not None  # Ray is started (see the docstring)
    seen: set[str] = set()
    for requests in sweep_requests(list(trial_cfgs.values()), len(points) * cfg.tune.num_samples, view):
        key = repr(requests)
        if key not in seen:
            seen.add(key)
            check_resources(requests, wait_s=wait)


def check_sweep_resume(cfg: RunConfig, p: Plan, allow_change: tuple[str, ...] | list[str]) -> dict:
    """``--resume``: the stored resolved config and code version must match, or the changes be allowed."""
    changes = check_resume(
        p.local_dir,
        cfg.model_dump(mode="json"),
        (*RUN_ONLY_KEYS, *allow_change),
        inputs={"stage": "tune"},
        what="sweep",
        required=True,
    )
    return changes or {}


def run_sweep(
    config: str,
    overrides: list[str],
    out: str | None,
    resume: bool,
    dashboard: bool,
    allow_change: tuple[str, ...] | list[str] = (),
) -> int:
    """The whole command; returns the exit code. ``allow_change``: key patterns a ``--resume`` may change."""
    if allow_change and not resume:
        raise ConfigError("--allow-change: only meaningful with --resume")
    cfg, points = load_sweep(config, overrides)
    if dashboard:
        cfg = cfg.model_copy(update={"ray": cfg.ray.model_copy(update={"dashboard": True})})
    p = plan(cfg, out)
    check_shared_datasets(cfg, p)
    with out_lock(p.local_dir, f"sweep {config}"):
        return _run_locked(config, cfg, points, p, resume, dashboard, allow_change)


def _run_locked(
    config: str,
    cfg: RunConfig,
    points: list[dict],
    p: Plan,
    resume: bool,
    dashboard: bool,
    allow_change: tuple[str, ...] | list[str],
) -> int:
    changes = check_sweep_resume(cfg, p, allow_change) if resume else {}  # first: a changed experiment never starts
    # before Ray starts, so that a local Ray's workers inherit them too
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's classic status table with our columns
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")
    missing = check_datasets(cfg, points, p)

    from rayeaq.sweep import ray_tune  # Ray Tune only from here on

    exists = ray_tune.can_restore(p.experiment_path)
    if resume and not exists:
        raise ConfigError(f"--resume: no sweep to resume at {p.experiment_path}")
    if not resume and exists:
        raise ConfigError(
            f"{p.experiment_path} holds a sweep already; add --resume to continue it, or choose another --out"
        )
    write_run_info(
        p.local_dir,
        cfg,
        "tune",
        {
            "experiment_path": p.experiment_path,
            "datasets_root": str(p.datasets_root),
            "grid_points": len(points),
            "resume": resume,
        },
    )
    if resume:
        record_resume(p.local_dir, changes, list(allow_change))
    from rayeaq.core.ray_session import ray_session

    start = time.perf_counter()
    timings: dict[str, float] = {}
    with ray_session(cfg.ray) as info:
        timings["ray_start_s"] = time.perf_counter() - start
        if dashboard:
            from rayeaq.core.dashboard import announce

            announce(info)
        check_sweep_resources(cfg, points, missing)
        mark = time.perf_counter()
        collect_missing(cfg, missing, p.datasets_root)
        write_seed_splits(cfg, points, p.datasets_root)
        timings["collect_s"] = time.perf_counter() - mark
        mark = time.perf_counter()
        base = cfg.model_dump(mode="python")
        if resume:
            print(f"tune: resuming {p.experiment_path}", flush=True)
            # the trials' own fit resumes accept the same changes (a changed code version, say)
            tuner = ray_tune.restore_tuner(cfg, base, p.experiment_path, str(p.datasets_root), tuple(allow_change))
        else:
            print(
                f"tune: {len(points)} grid point(s) x {cfg.tune.num_samples} sample(s) -> {p.experiment_path}",
                flush=True,
            )
            tuner = ray_tune.build_tuner(cfg, base, points, str(p.datasets_root), p.storage_path, p.name)
        results = ray_tune.fit(tuner)
        rows = ray_tune.result_rows(results)
        timings["tune_fit_s"] = time.perf_counter() - mark
        mark = time.perf_counter()
    timings["ray_stop_s"] = time.perf_counter() - mark
    timings["total_s"] = time.perf_counter() - start
    write_timings(p.local_dir, timings)
    summary = write_summary(rows, p.local_dir)
    if p.remote:
        ray_tune.upload(summary, p.experiment_path)
    print(format_table(rows, cfg.tune.metric, cfg.tune.mode))
    failed = [r for r in rows if r["status"] == "ERROR"]
    unfinished = [r for r in rows if r["status"] == "STOPPED"] if cfg.tune.scheduler == "fifo" else []
    print(
        f"tune: {len(rows)} trials in {time.perf_counter() - start:.0f} s: {len(rows) - len(failed) - len(unfinished)} "
        f"finished, {len(failed)} failed, {len(unfinished)} unfinished; summary {summary}",
        flush=True,
    )
    if unfinished:
        print(f"tune: interrupted; continue with: python -m rayeaq.tune {config} ... --resume", flush=True)
        return EXIT_INTERRUPTED
    return EXIT_TRIALS_FAILED if failed else EXIT_OK
