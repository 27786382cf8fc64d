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
FINAL_METRICS = (
    "score",
    "win_rate",
    "normalized_return",
    "return_mean",
    "learner_loss",
    "gen_loss",
    "aug_share_kept",
    "aug_legal_action_share",
    "aug_obs_mmd",
    "aug_ratio_effective",
    "train_episodes",
    "dataset_normalized_return",
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
        "normalized_return",
        "time_total_s",
    ]
    shown = list(dict.fromkeys(shown))
    sign = -1.0 if mode == "max" else 1.0

    def key(r: dict[str, Any]) -> tuple[int, float]:
        v = r.get(metric)
        ok = isinstance(v, (int, float)) and not math.isnan(v) and r["status"] != "ERROR"
        return (0 if ok else 1, sign * v if ok else 0.0)

    cells = [[_fmt(r.get(c)) for c in shown] for r in sorted(rows, key=key)]
    header = [c.removeprefix(PARAM_PREFIX) for c in shown]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
