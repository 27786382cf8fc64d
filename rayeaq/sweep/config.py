"""Tune section of a run config (search space, scheduler, resources). Filled by the sweep work."""

from __future__ import annotations

from rayeaq.config.base import StrictModel


class TuneConfig(StrictModel):
    """The sweep."""
