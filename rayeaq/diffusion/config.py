"""Generator sections of a run config (diffusion model, fitting, augmentation). Filled by the EAQ work."""

from __future__ import annotations

from rayeaq.config.base import StrictModel


class DiffusionConfig(StrictModel):
    """EAQ diffusion model and objective."""


class FitConfig(StrictModel):
    """Ray Train fitting of the generator."""


class AugmentConfig(StrictModel):
    """Sampling synthetic episodes and the baseline augmenters."""
