"""The stages of a sweep trial without Ray, for tests of :func:`rayeaq.sweep.trial.run_stages`' own work (caching,
reporting): the real augment stage (counted), no fit, and an evaluate that trains nothing but sends the rows it is
given through ``on_eval`` and returns what ``result(sources)`` makes of the trial's training mixture."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


class PlainStages:
    """A :class:`rayeaq.sweep.trial.Stages` for plumbing tests; ``augments`` counts the augment stage's runs."""

    def __init__(
        self,
        evaluations: Sequence[dict[str, Any]] = (),
        result: Callable[[list[tuple[str, float]]], dict[str, Any]] = lambda sources: {},
    ) -> None:
        self.evaluations = list(evaluations)
        self.result = result
        self.augments = 0

    def fit(self, cfg, dataset: Path, out: Path, on_metrics) -> Path:
        raise AssertionError("no fit expected (the tests' augmenters need no generator)")

    def augment(self, cfg, dataset: Path, checkpoint: Path | None, out: Path) -> dict[str, float]:
        from rayeaq.stages.augment import run_augment

        self.augments += 1
        report = run_augment(cfg, dataset, checkpoint, out)
        return {"kept": report["kept"]}

    def evaluate(self, cfg, sources: list[tuple[str, float]], out: Path, on_eval) -> dict[str, Any]:
        out.mkdir(parents=True)  # the trial's final checkpoint copies the evaluate stage's directory
        for row in self.evaluations:
            on_eval(row)
        return self.result(sources)
