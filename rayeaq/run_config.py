"""The root run config: one typed model with a section per stage; every command reads the same file.

A YAML file only states what differs from the defaults below. Each section's model lives next to
the stage that uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from rayeaq.augmenters.config import AugmentConfig
from rayeaq.core.config import StrictModel, load_config
from rayeaq.core.ray_config import RayConfig
from rayeaq.envs.config import EnvConfig
from rayeaq.generators.eaq.config import DiffusionConfig, FitConfig
from rayeaq.learners.dom2.config import Dom2Config
from rayeaq.learners.omsd.config import OmsdConfig
from rayeaq.learners.qmix.config import EvaluateConfig
from rayeaq.stages.collect.config import CollectConfig
from rayeaq.sweep.config import TuneConfig


class RunConfig(StrictModel):
    """Everything a run of any stage needs."""

    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    """Root seed; every other seed (episodes, workers, trials) is derived from it."""
    name: str | None = None
    """Optional run name (used in default output paths)."""
    env: EnvConfig = EnvConfig()
    collect: CollectConfig = CollectConfig()
    diffusion: DiffusionConfig = DiffusionConfig()
    fit: FitConfig = FitConfig()
    augment: AugmentConfig = AugmentConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    dom2: Dom2Config = Dom2Config()
    """DOM2's hyper-parameters (read when evaluate.algorithm is dom2)."""
    omsd: OmsdConfig = OmsdConfig()
    """Sequential score decomposition's hyper-parameters (read when evaluate.algorithm is omsd)."""
    tune: TuneConfig = TuneConfig()
    ray: RayConfig = RayConfig()


def load_run_config(path: str | Path | None, overrides: Sequence[str] = ()) -> RunConfig:
    """Load a run config YAML (or the defaults) with dotted overrides applied."""
    return load_config(RunConfig, path, overrides)
