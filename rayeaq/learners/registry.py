"""The offline-learner family: how ``rayeaq.evaluate`` runs a learner, and the registry of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rayeaq.core.registry import Registry

Report = Callable[[dict[str, Any]], None]
"""Called with every evaluation's metrics as they come (a Tune trial forwards them to Tune); a learner may also
report its losses between evaluations: rows without ``win_rate`` (``updates`` and the loss keys)."""


@dataclass(frozen=True)
class OfflineLearner:
    """A member: ``run(cfg, sources, out, report)`` trains on the mixture ``sources`` (``[(dir, weight)]``),
    evaluates greedy rollouts, writes ``metrics.jsonl`` / ``summary.json`` into ``out`` and returns the summary;
    ``label(cfg)`` names the run (e.g. ``qmix_cql``). ``resumable``: ``run`` continues from the progress checkpoint
    it left in ``out`` (``rayeaq.evaluate --resume``); ``clear_progress(out)`` removes it for a fresh start.
    ``actions``: the action-space kind it learns (``discrete`` or ``box``, the dataset card's ``action_space.kind``)."""

    name: str
    run: Callable[[Any, list[tuple[str, float]], Path, Report | None], dict[str, Any]]
    label: Callable[[Any], str]
    actions: str = "box"
    resumable: bool = False
    clear_progress: Callable[[Path], None] = lambda out: None


class LearnerDiedError(RuntimeError):
    """A remote learner process is gone (killed, OOM, node lost) where the learner needed it; the evaluate stage
    turns it (like Ray's own actor errors) into one line saying the run is incomplete."""


LEARNERS: Registry[OfflineLearner] = Registry("offline learner", "evaluate.algorithm")
"""Every offline learner, by name (``evaluate.algorithm``)."""
