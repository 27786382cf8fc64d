"""Reading one Tune trial directory written by ``rayeaq.tune``: parameters, configs, reports, stage files.

Low-level readers behind :mod:`analysis.loader`; names and aliases of parameters and metrics live here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rayeaq.sweep.space import IGNORED_VALUE, ignored_keys

PARAMS: dict[str, tuple[str, ...]] = {
    "map": ("env.map",),
    "tier": ("collect_tier", "tune.collect_tier"),
    "augmenter": ("augment.augmenter",),
    "q_weight": ("diffusion.q_weight",),
    "horizon": ("diffusion.horizon",),
    "ratio": ("augment.ratio",),
    "seed": ("seed",),
}
"""Canonical parameter column -> the dotted keys it is read from (``rayeaq.tune``'s grid keys, then the
trial's resolved run config), first match wins."""

METRICS: tuple[str, ...] = (
    "win_rate",
    "normalized_return",
    "return_mean",
    "dataset_return_mean",
    "dataset_normalized_return",
    "dataset_win_rate",
    "mixture_normalized_return",
    "mixture_win_rate",
    "learner_loss",
)
"""Evaluation metrics given canonical columns; a reported ``evaluate/win_rate`` becomes ``win_rate`` too.
``dataset_*`` are the real dataset's own figures, ``mixture_*`` those of the evaluator's training mixture
(real + synthetic), as ``rayeaq.sweep`` reports them."""

ALIASES: dict[str, tuple[str, ...]] = {
    "learner_loss": ("learner_loss", "total_loss"),
    "step": ("learner_updates", "updates"),
}
"""Canonical name -> the reported names it is read from (``rayeaq.sweep`` vs ``rayeaq.evaluate``)."""


def ignored_by(augmenter: str) -> tuple[str, ...]:
    """Canonical parameters an augmenter does not use (its registry entry's ignored keys): NaN in its rows."""
    prefixes = ignored_keys(augmenter)
    return tuple(
        name
        for name, keys in PARAMS.items()
        if name != "augmenter" and any(k.startswith(prefixes) for k in keys if "." in k)
    )


PARAM_PREFIXES = ("point.",)
"""Prefixes ``rayeaq.tune`` nests grid points under in ``params.json`` (stripped)."""

FIDELITY_PREFIXES = ("aug_",)
"""Reported metric prefixes that hold the augment stage's fidelity figures (``rayeaq.sweep``'s ``aug_*``)."""
NOT_FIDELITY = frozenset({"aug_ratio_effective"})
"""``aug_*`` metrics that describe the training mixture, not the generator (kept as plain columns)."""

TUNE_BOOKKEEPING = frozenset(
    {
        "timestamp",
        "checkpoint_dir_name",
        "done",
        "training_iteration",
        "trial_id",
        "date",
        "time_this_iter_s",
        "time_total_s",
        "pid",
        "hostname",
        "node_ip",
        "time_since_restore",
        "iterations_since_restore",
        "config",
        "should_checkpoint",
        "logdir",
        "experiment_tag",
    }
)
"""Keys Tune adds to every reported result (kept in ``reports``, not treated as metrics)."""

FIDELITY_GLOBS = ("fidelity*.json", "*fidelity.json")
METRICS_JSONL = "metrics.jsonl"


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> one level with dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``); lists kept as is."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """JSON lines; a torn last line (a trial killed mid-write) is skipped."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return rows
    for line in lines:
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return rows


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float, np.integer, np.floating))


def _finite_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def resolve(record: Mapping[str, Any], name: str, candidates: Iterable[str] = ()) -> Any:
    """The value of canonical ``name`` in a flat record: an exact key (``candidates``, then the aliases of
    :data:`ALIASES`, then ``name``) first, then a key ending with ``/name`` or ``.name`` (a stage prefix such
    as ``evaluate/win_rate``); None when absent."""
    names = (*candidates, *ALIASES.get(name, ()), name)
    for key in names:
        if key in record and record[key] is not None:
            return record[key]
    for key, value in record.items():
        if (
            value is not None
            and not key.startswith(("config", "param"))
            and any(key.endswith("/" + n) or key.endswith("." + n) for n in names)
        ):
            return value
    return None


# ----------------------------------------------------------------------------------------------- discovery


def find_trial_dirs(root: str | Path) -> list[Path]:
    """Trial directories under ``root`` (itself included): those holding ``params.json``, sorted by path.
    Directories named ``report`` (our own output) are skipped."""
    root = Path(root)
    found = {p.parent for p in root.rglob("params.json") if "report" not in p.relative_to(root).parts[:-1]}
    return sorted(found)


def _stage_files(trial_dir: Path, pattern: str) -> list[Path]:
    """Files matching ``pattern`` anywhere under the trial directory, shallowest first."""
    return sorted(trial_dir.rglob(pattern), key=lambda p: (len(p.parts), str(p)))


def _datasets(
    trial_dir: Path, config: Mapping[str, Any], root: Path | None, map_name: Any, tier: Any
) -> dict[str, str | None]:
    """Real and synthetic dataset directories of a trial.

    First the trial's ``run.json`` files: ``real_dataset`` / ``synthetic_dataset`` (``rayeaq.tune``'s trial
    record) or ``datasets: [{path, source}]`` (``rayeaq.evaluate``'s). Then, for the synthetic one, a dataset
    card with ``source: synthetic`` under the trial directory; for the real one, ``<dataset root>/<map>/<tier>`` — the sweep's shared layout — with the dataset root from
    ``tune.dataset_dir`` or ``<results>/datasets`` next to (or above) the trial.
    """
    found: dict[str, str | None] = {"real_dataset": None, "synthetic_dataset": None}
    for run in _stage_files(trial_dir, "run.json"):
        record = _read_json(run) or {}
        for key in found:  # rayeaq.tune's trial run.json: {"real_dataset": ..., "synthetic_dataset": ...}
            if isinstance(record.get(key), str) and not found[key]:
                path = run.parent / record[key]  # relative paths are relative to the run.json
                if path.is_dir():
                    found[key] = str(path)
        for entry in record.get("datasets", []) or []:
            if not isinstance(entry, dict) or "path" not in entry:
                continue
            source = entry.get("source") or _card_field(Path(entry["path"]), "source")
            key = "synthetic_dataset" if source == "synthetic" else "real_dataset"
            found[key] = found[key] or str(entry["path"])
    for card in _stage_files(trial_dir, "card.json"):
        if (_read_json(card) or {}).get("source") == "synthetic" and not found["synthetic_dataset"]:
            found["synthetic_dataset"] = str(card.parent)
    if found["real_dataset"] is None and map_name is not None and tier is not None:
        roots = [Path(config["tune.dataset_dir"])] if config.get("tune.dataset_dir") else []
        stop = root.parent if root is not None else None
        for parent in trial_dir.parents:
            roots.append(parent / "datasets")
            if parent == stop:
                break
        for candidate in roots:
            if (candidate / str(map_name) / str(tier) / "card.json").is_file():
                found["real_dataset"] = str(candidate / str(map_name) / str(tier))
                break
    return found


def _card_field(dataset_dir: Path, key: str) -> Any:
    card = _read_json(dataset_dir / "card.json")
    return card.get(key) if isinstance(card, dict) else None


def _resolved_config(trial_dir: Path, root: Path | None) -> dict[str, Any]:
    """The run config the trial's unswept values come from, flattened: the ``config`` of the trial's own
    ``run.json`` (``rayeaq.tune`` writes the trial's resolved config there), else the shallowest
    ``config.resolved.yaml`` inside the trial, else the nearest one in the directories above it (the sweep's),
    up to ``root``'s parent. {} when none."""
    record = _read_json(trial_dir / "run.json")
    if isinstance(record, dict) and isinstance(record.get("config"), dict):
        return flatten(record["config"])
    for path in _stage_files(trial_dir, "config.resolved.yaml"):
        return flatten(_read_yaml(path))
    stop = root.parent if root is not None else None
    for parent in trial_dir.parents:
        if (parent / "config.resolved.yaml").is_file():
            return flatten(_read_yaml(parent / "config.resolved.yaml"))
        if parent == stop:
            break
    return {}


# ----------------------------------------------------------------------------------------------- one trial


def _reports(trial_dir: Path) -> list[dict[str, Any]]:
    """Rows the trial reported to Tune: ``result.json`` (JSON lines), else ``progress.csv``."""
    rows = _read_jsonl(trial_dir / "result.json")
    if not rows and (trial_dir / "progress.csv").is_file():
        try:
            rows = pd.read_csv(trial_dir / "progress.csv").to_dict("records")
        except (OSError, ValueError, pd.errors.EmptyDataError):
            rows = []
    flat = []
    for row in rows:
        row = {k: v for k, v in row.items() if k != "config"}
        flat.append({k: v for k, v in flatten(row).items() if _scalar(v)})
    return flat


def _is_eval_row(row: Mapping[str, Any]) -> bool:
    return _finite_number(resolve(row, "win_rate")) or _finite_number(resolve(row, "normalized_return"))


def _evaluator_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of the evaluator's ``metrics.jsonl`` in the sweep's names: its ``dataset_*`` figures describe its
    training mixture, so they become ``mixture_*`` (``dataset_*`` is the real dataset's, from its card)."""
    return {("mixture_" + k[len("dataset_") :] if k.startswith("dataset_") else k): v for k, v in row.items()}


def _eval_rows(trial_dir: Path, reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evaluation rows (those with a win rate or normalized return): from the Tune reports, else from the
    evaluate stage's ``metrics.jsonl``."""
    rows = [r for r in reports if _is_eval_row(r)]
    if not rows:
        for path in _stage_files(trial_dir, METRICS_JSONL):
            rows = [_evaluator_row(flatten(r)) for r in _read_jsonl(path) if _is_eval_row(flatten(r))]
            if rows:
                break
    # a resumed trial may report the same step twice: keep the last report of each step
    by_step: dict[Any, dict[str, Any]] = {}
    for i, row in enumerate(rows):
        step = resolve(row, "step")
        by_step[step if _finite_number(step) else ("iter", row.get("training_iteration", i))] = row
    return list(by_step.values())


def _fidelity(trial_dir: Path, reports: list[dict[str, Any]]) -> dict[str, float]:
    """Generator fidelity figures as ``fidelity.<name>``: the augment stage's fidelity JSON (flattened) and the
    reported metrics with a :data:`FIDELITY_PREFIXES` prefix (``aug_mmd`` -> ``fidelity.mmd``)."""
    out: dict[str, float] = {}
    for pattern in FIDELITY_GLOBS:
        for path in _stage_files(trial_dir, pattern):
            data = _read_json(path)
            if isinstance(data, dict):
                for key, value in flatten(data).items():
                    if _finite_number(value):
                        name = key if key.startswith("fidelity") else f"fidelity.{key}"
                        out.setdefault(name, float(value))
    for row in reports:
        for key, value in row.items():
            prefix = next((p for p in FIDELITY_PREFIXES if key.startswith(p)), None)
            if prefix is not None and key not in NOT_FIDELITY and _finite_number(value):
                out["fidelity." + key[len(prefix) :]] = float(value)
    return out


def _status(trial_dir: Path, evals: list[dict[str, Any]]) -> str:
    if (trial_dir / "error.txt").exists() or (trial_dir / "error.pkl").exists():
        return "error"
    return "done" if evals else "incomplete"


def _params(trial_dir: Path) -> dict[str, Any]:
    """``params.json`` flattened, with ``rayeaq.tune``'s ``point.`` nesting removed; a grid key the trial's
    augmenter ignores (``rayeaq.sweep``'s :data:`~rayeaq.sweep.space.IGNORED_VALUE`) is None (NaN)."""
    out: dict[str, Any] = {}
    for key, value in flatten(_read_json(trial_dir / "params.json") or {}).items():
        prefix = next((p for p in PARAM_PREFIXES if key.startswith(p)), "")
        if _scalar(value):
            out[key[len(prefix) :]] = None if value == IGNORED_VALUE else value
    return out


def _canonical(params: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """The :data:`PARAMS` columns: from the swept parameters, else the run config (unless the grid marks the
    key as ignored); the ones the trial's augmenter ignores are None; ``eaq_noq`` has λ = 0 by definition."""
    out: dict[str, Any] = {}
    for name, keys in PARAMS.items():
        value = next((params[k] for k in keys if params.get(k) is not None), None)
        if value is None and not any(k in params for k in keys):  # not swept (an ignored key stays None)
            value = next((config[k] for k in keys if config.get(k) is not None), None)
        out[name] = value
    out["augmenter"] = out["augmenter"] or "none"  # no augment stage: the real data only
    for name in ignored_by(str(out["augmenter"])):
        out[name] = None
    if out["augmenter"] == "eaq_noq":
        out["q_weight"] = 0.0
    return out
