"""Behaviour policies by name (:data:`POLICIES`, chosen by ``collect.policy.kind``).

Scripted SMAX policies of graded skill (:mod:`.scripts`), the per-tier chooser ``graded``, the ε-mixture
``heuristic_mix``, ``random`` and ``qmix_checkpoint`` (:mod:`.members`); on MPE maps ``random``, ``expert`` and
``noisy_expert`` (:mod:`.mpe`). A new member is a module that adds a
:class:`BehaviourPolicy` to :data:`POLICIES` plus one import line here.
"""

from __future__ import annotations

from rayeaq.policies import members  # noqa: F401  (members register themselves on import)
from rayeaq.policies.registry import (
    POLICIES,
    BehaviourPolicy,
    Candidate,
    box_policy_names,
    checkpoint_fingerprint,
    load_box_policy,
    load_script,
    scripted_names,
)

__all__ = [
    "POLICIES",
    "BehaviourPolicy",
    "Candidate",
    "box_policy_names",
    "checkpoint_fingerprint",
    "load_box_policy",
    "load_script",
    "scripted_names",
]
