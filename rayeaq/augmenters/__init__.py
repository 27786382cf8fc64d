"""Augmenters: functions that turn a real dataset into synthetic episodes, by name (:data:`AUGMENTERS`).

Members: ``none``, ``dom2_replicate``, ``gaussian_noise`` (:mod:`.baselines`) and the EAQ generator's
``eaq`` / ``eaq_noq`` (:mod:`.eaq`). A new augmenter is a module that decorates its ``produce`` function
with :func:`~rayeaq.augmenters.registry.augmenter` plus one import line here.
"""

from __future__ import annotations

from rayeaq.augmenters import baselines, eaq  # noqa: F401  (members register themselves on import)
from rayeaq.augmenters.registry import AUGMENTERS, Augmenter, AugmentInputs, Produced

__all__ = ["AUGMENTERS", "AugmentInputs", "Augmenter", "Produced"]
