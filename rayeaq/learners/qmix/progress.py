"""The evaluation's progress checkpoint: what a resumed ``rayeaq.evaluate`` continues from (pure, no Ray).

``OUT/progress/`` holds the algorithm's RLlib checkpoint (``checkpoint/``: weights, optimiser, target networks,
update count, the batch sampler's RNG state) and ``progress.json`` (the loop's own state: updates done, the
metrics rows and marl-eval steps written so far, the last losses, the wall time spent). It is replaced whole at
every intermediate evaluation (written beside, then renamed), so an interruption leaves the previous one intact,
and removed when the run completes (the final state is ``OUT/checkpoint``).

Everything else that decides the rest of the run is a function of the config: the evaluation episodes' seeds
(``eval_seed + i``, the same at every evaluation) and the joint conservative term's sampled actions (seeded by
the update count, :mod:`rayeaq.learners.qmix.ray_module`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROGRESS_DIR = "progress"
"""``OUT/progress/``: the latest intermediate state of an evaluation run."""
STATE_FILE = "progress.json"
CHECKPOINT_DIR = "checkpoint"


def save_progress(out: Path, save_checkpoint: Callable[[str], Any], state: dict[str, Any]) -> Path:
    """Write ``state`` and the checkpoint (``save_checkpoint(dir)``) as ``OUT/progress``; returns its path."""
    final = out / PROGRESS_DIR
    staging, old = out / f".{PROGRESS_DIR}.tmp", out / f".{PROGRESS_DIR}.old"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    save_checkpoint(str((staging / CHECKPOINT_DIR).resolve()))
    (staging / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def load_progress(out: Path) -> tuple[dict[str, Any], Path] | None:
    """(state, checkpoint dir) of the latest complete progress checkpoint in ``out``, or None."""
    for directory in (out / PROGRESS_DIR, out / f".{PROGRESS_DIR}.old"):  # .old: interrupted mid-replace
        try:
            state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(state, dict) and (directory / CHECKPOINT_DIR).is_dir():
            return state, directory / CHECKPOINT_DIR
    return None


def clear_progress(out: Path) -> None:
    """Remove every progress checkpoint in ``out`` (a fresh start, or a completed run)."""
    for name in (PROGRESS_DIR, f".{PROGRESS_DIR}.tmp", f".{PROGRESS_DIR}.old"):
        shutil.rmtree(out / name, ignore_errors=True)
