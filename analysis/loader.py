"""Ray Tune results directories -> tidy pandas frames for the analysis notebooks.

A results directory is anything that holds Tune trial directories (a directory with ``params.json``,
``result.json`` and/or ``progress.csv``) at any depth: one experiment, a storage path with several, or a
``rayeaq.tune`` output with its ``summary.csv``. :func:`load_results` returns a :class:`Results` with

- ``trials``: one row per trial — the trial's parameters flattened to dotted keys (``augment.ratio``), the
  canonical columns of :data:`PARAMS` (``map, tier, augmenter, q_weight, horizon, ratio, seed``), the final
  evaluation (``win_rate``, ``normalized_return``, the dataset's own ``dataset_return_mean`` ...), the last value
  of every other reported metric (generator loss, learner loss), the generator's fidelity figures
  (``fidelity.*``) and the datasets the trial used (``real_dataset``, ``synthetic_dataset``);
- ``steps``: one row per trial × evaluation step (``step`` = learner updates) with the trial's parameters;
- ``reports``: every row the trial reported to Tune, unfiltered.

Parameters missing from ``params.json`` (not swept) are read from the trial's resolved run config
(``config.resolved.yaml`` written by every stage) and, for the tier, from the real dataset's card.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.trial_files import (
    METRICS,
    PARAMS,
    TUNE_BOOKKEEPING,
    _canonical,
    _datasets,
    _eval_rows,
    _fidelity,
    _finite_number,
    _params,
    _read_json,
    _read_yaml,
    _reports,
    _resolved_config,
    _status,
    find_trial_dirs,
    flatten,
    resolve,
)
from rayeaq.core.errors import UserError


class ResultsError(UserError):
    """A results directory is missing, empty or holds no readable trial."""


@dataclass
class Results:
    """The tidy frames of one or more results directories (see the module docstring)."""

    trials: pd.DataFrame
    steps: pd.DataFrame
    reports: pd.DataFrame
    roots: list[Path] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    """The sweep's resolved run config (``<root>/config.resolved.yaml``, flattened) of the first root; {} if none."""

    @property
    def defaults(self) -> dict[str, Any]:
        """The base config's λ, horizon and ratio (what a trial uses when the sweep does not vary them)."""
        return {
            name: next((self.config[k] for k in PARAMS[name] if self.config.get(k) is not None), None)
            for name in ("q_weight", "horizon", "ratio")
        }

    @property
    def augmenters(self) -> list[str]:
        """Augmenters present, ``none`` first."""
        names = sorted(self.trials["augmenter"].dropna().astype(str).unique()) if "augmenter" in self.trials else []
        return sorted(names, key=lambda a: (a != "none", a))


def load_trial(trial_dir: str | Path, root: str | Path | None = None) -> tuple[dict[str, Any], list[dict], list[dict]]:
    """One trial directory -> (trial row, evaluation-step rows, all reported rows)."""
    trial_dir = Path(trial_dir)
    root = Path(root) if root is not None else None
    params = _params(trial_dir)
    config = _resolved_config(trial_dir, root)
    reports = _reports(trial_dir)
    evals = _eval_rows(trial_dir, reports)
    trial_id = next((r["trial_id"] for r in reports if r.get("trial_id")), trial_dir.name)
    experiment = trial_dir.parent.relative_to(root) if root is not None and root in trial_dir.parents else None
    base: dict[str, Any] = {
        "trial_id": str(trial_id),
        "trial_dir": str(trial_dir),
        "experiment": str(experiment) if experiment not in (None, Path(".")) else trial_dir.parent.name,
    }
    base.update({f"param.{k}" if k in METRICS or k in PARAMS else k: v for k, v in params.items()})
    base.update(_canonical(params, config))
    datasets = _datasets(trial_dir, config, root, base["map"], base["tier"])
    real_card = _read_json(Path(datasets["real_dataset"]) / "card.json") if datasets["real_dataset"] else None
    if isinstance(real_card, dict):
        base["map"] = base["map"] or real_card.get("map")
        base["tier"] = base["tier"] or real_card.get("tier")

    trial = dict(base)
    for row in reports:  # last value of every reported metric (generator loss, learner loss, ...)
        trial.update(
            {k: v for k, v in row.items() if k not in TUNE_BOOKKEEPING and k not in base and _finite_number(v)}
        )
    final = next((r for r in evals if r.get("final") is True or r.get("done") is True), evals[-1] if evals else {})
    for name in METRICS:
        value = resolve(final, name)
        trial[name] = float(value) if _finite_number(value) else np.nan
    if isinstance(real_card, dict):  # the dataset's own figures, from its card when not reported
        card_stats = real_card.get("stats", {})
        for name, key in (
            ("dataset_return_mean", "mean_return"),
            ("dataset_normalized_return", "normalized_return"),
            ("dataset_win_rate", "win_rate"),
        ):
            if not np.isfinite(trial[name]) and _finite_number(card_stats.get(key)):
                trial[name] = float(card_stats[key])
        trial["max_return"] = real_card.get("max_return")
    trial["final_step"] = resolve(final, "step")
    trial.update(_fidelity(trial_dir, reports))
    trial.update(datasets)
    trial["n_eval_steps"] = len(evals)
    trial["status"] = _status(trial_dir, evals)

    steps = []
    for i, row in enumerate(evals):
        step = resolve(row, "step")
        entry = dict(base, step=step if _finite_number(step) else i + 1, eval_index=i)
        for name in METRICS:
            value = resolve(row, name)
            entry[name] = float(value) if _finite_number(value) else np.nan
        steps.append(entry)
    return trial, steps, [dict(base, **r) for r in reports]


# ----------------------------------------------------------------------------------------------- many


def load_results(*roots: str | Path, require_eval: bool = True) -> Results:
    """Load every trial under ``roots``. A missing root, or roots without a single trial (with an evaluation,
    when ``require_eval``), is a :class:`ResultsError`."""
    if not roots:
        raise ResultsError("no results directory given")
    trials, steps, reports = [], [], []
    for root in map(Path, roots):
        if not root.is_dir():
            raise ResultsError(f"{root}: results directory not found")
        dirs = find_trial_dirs(root)
        if not dirs:
            raise ResultsError(f"{root}: no Tune trial directories (params.json) found; is this a results directory?")
        for d in dirs:
            t, s, r = load_trial(d, root)
            trials.append(t)
            steps.extend(s)
            reports.extend(r)
    trial_df = _typed(pd.DataFrame(trials))
    if require_eval and not (trial_df["status"] == "done").any():
        raise ResultsError(f"{', '.join(map(str, roots))}: no trial has reported an evaluation yet")
    step_df = _typed(pd.DataFrame(steps, columns=list(steps[0]) if steps else ["trial_id", "step", *METRICS]))
    config = _read_yaml(Path(roots[0]) / "config.resolved.yaml")
    return Results(
        trials=trial_df,
        steps=step_df,
        reports=pd.DataFrame(reports),
        roots=[Path(r) for r in roots],
        config=flatten(config),
    )


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Numeric canonical parameters as floats (horizon None -> NaN), strings for the categorical ones."""
    for col in ("q_weight", "ratio", "horizon"):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    if "seed" in df:
        df["seed"] = pd.to_numeric(df["seed"], errors="coerce").astype("Int64")
    for col in ("map", "tier", "augmenter"):
        if col in df:
            df[col] = df[col].astype("string")
    return df
