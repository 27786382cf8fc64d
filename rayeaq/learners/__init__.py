"""Offline learners by name (:data:`LEARNERS`, chosen by ``evaluate.algorithm``).

Members: ``qmix`` and ``bc`` (:mod:`rayeaq.learners.qmix`, RLlib, discrete actions); ``box_bc`` (:mod:`rayeaq.learners.box_bc`,
TD3+BC's actor with the MSE alone, box actions); ``td3bc`` (:mod:`rayeaq.learners.td3bc`, RLlib, box
actions); ``cql`` (:mod:`rayeaq.learners.cql`, RLlib, box actions); ``dom2`` and ``omsd`` (pure torch on box
actions, :mod:`rayeaq.learners.box_offline`). A new learner is a package that adds itself to :data:`LEARNERS` plus
one import line here.
"""

from __future__ import annotations

from rayeaq.learners import box_bc, cql, dom2, omsd, qmix, td3bc  # noqa: F401  (members register themselves on import)
from rayeaq.learners.registry import LEARNERS, OfflineLearner

__all__ = ["LEARNERS", "OfflineLearner"]
