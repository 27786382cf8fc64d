"""Typed configs: ``load_run_config(path, overrides)`` gives a validated :class:`RunConfig`."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from rayeaq.config.base import StrictModel, load_config


def load_run_config(path: str | Path | None, overrides: Sequence[str] = ()):
    """Load a run config YAML (or the defaults) with dotted overrides applied."""
    from rayeaq.config.schema import RunConfig

    return load_config(RunConfig, path, overrides)


__all__ = ["StrictModel", "load_config", "load_run_config"]
