"""The sweep's summary: one row per trial (parameters and final metrics), as ``summary.csv`` and a console table.

Rows are plain dicts built by the driver from Tune's results; this module needs no Ray.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PARAM_PREFIX = "param/"
STATISTICS = (
    "eval_episodes",
    "win_rate_ci95_low",
    "win_rate_ci95_high",
    "return_ci95_low",
    "return_ci95_high",
    "normalized_return_ci95_low",
    "normalized_return_ci95_high",
)
"""How sure each trial's final figures are: evaluation episodes, Wilson 95 % interval of the win rate, bootstrap
95 % intervals of the mean (normalized) return (:mod:`rayeaq.learners.qmix.intervals`)."""
FINAL_METRICS = (
    "score",
    "win_rate",
    *STATISTICS[1:3],
    "normalized_return",
    *STATISTICS[5:],
    "normalized_score",
    "normalized_score_ci95_low",
    "normalized_score_ci95_high",
    "return_mean",
    *STATISTICS[3:5],
    STATISTICS[0],
    "learner_loss",
    "gen_loss",
    "aug_share_kept",
    "aug_legal_action_share",
    "aug_obs_mmd",
    "aug_ratio_effective",
    "train_episodes",
    "dataset_normalized_return",
    "dataset_normalized_score",
    "generator_key",
    "generator_reused",
    "synthetic_key",
    "synthetic_reused",
    "mixture_normalized_return",
    "time_fit_s",
    "time_augment_s",
    "time_evaluate_s",
    "time_total_s",
    "training_iteration",
)
SUMMARY_FILE = "summary.csv"


def trial_row(
    trial: str, status: str, params: dict[str, Any], metrics: dict[str, Any] | None, error: str | None, path: str
) -> dict[str, Any]:
    """One summary row: trial name, status, ``param/<key>`` columns, final metrics, error, directory."""
    metrics = metrics or {}
    row: dict[str, Any] = {"trial": trial, "status": status}
    row.update({f"{PARAM_PREFIX}{k}": v for k, v in sorted(params.items())})
    row.update({k: metrics.get(k) for k in FINAL_METRICS})
    row["error"] = (error or "").strip().splitlines()[-1][:300] if error else ""
    row["path"] = path
    return row


def write_summary(rows: list[dict[str, Any]], out_dir: str | Path) -> Path:
    """Write ``summary.csv`` (columns: the union over rows, parameters first)."""
    out = Path(out_dir) / SUMMARY_FILE
    columns = _columns(rows)
    tmp = out.with_name(f".{SUMMARY_FILE}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    tmp.replace(out)
    return out


def _columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    rows = list(rows)
    params = sorted({k for r in rows for k in r if k.startswith(PARAM_PREFIX)})
    return ["trial", "status", *params, *FINAL_METRICS, "error", "path"]


def format_table(rows: list[dict[str, Any]], metric: str = "score", mode: str = "max") -> str:
    """A fixed-width table of the trials, best ``metric`` first (errored trials last)."""
    if not rows:
        return "(no trials)"
    shown = [
        "trial",
        "status",
        *sorted({k for r in rows for k in r if k.startswith(PARAM_PREFIX)}),
        metric,
        "win_rate",
        "win_rate_ci95",
        "normalized_return",
        "eval_episodes",
        "time_total_s",
    ]
    shown = list(dict.fromkeys(shown))
    sign = -1.0 if mode == "max" else 1.0

    def key(r: dict[str, Any]) -> tuple[int, float]:
        v = r.get(metric)
        if isinstance(v, (int, float)) and not math.isnan(v) and r["status"] != "ERROR":
            return (0, sign * v)
        return (1, 0.0)

    cells = [
        [_interval(r, "win_rate") if c == "win_rate_ci95" else _fmt(r.get(c)) for c in shown]
        for r in sorted(rows, key=key)
    ]
    header = [c.removeprefix(PARAM_PREFIX) for c in shown]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _interval(row: dict[str, Any], name: str) -> str:
    low, high = row.get(f"{name}_ci95_low"), row.get(f"{name}_ci95_high")
    return "-" if low is None or high is None else f"[{low:.3f}, {high:.3f}]"
