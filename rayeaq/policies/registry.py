"""The behaviour-policy family: what a tier is collected with (:class:`Candidate`) and the registry of kinds.

A member of :data:`POLICIES` (chosen by ``collect.policy.kind``) turns the policy config and a tier's fixed
overrides into the list of :class:`Candidate` policies that the collector measures; the tier takes the candidate
whose own win rate lies in its band. Scripted members also carry their JAX script, which the fused collector
runs; a candidate names its runner (``jax``: fused collector; ``host``: a torch policy on the batched env).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from rayeaq.core.registry import Registry
from rayeaq.policies.config import PolicyConfig


@dataclass(frozen=True)
class Candidate:
    """One concrete behaviour policy: a scripted policy or a checkpoint, with a per-agent uniform-action noise."""

    label: str
    """Name recorded with every episode (``behaviour_policy`` column), e.g. ``spread_fire(noise=0.050)``."""
    runner: Literal["jax", "host"]
    """jax: a scripted policy inside the fused collector; host: a torch checkpoint policy on the batched env."""
    epsilon: float
    """Per agent and step, probability of a uniform legal action instead of the policy's."""
    script: str | None = None
    """Scripted member of :data:`POLICIES` played by the jax runner."""
    checkpoint: str | None = None
    """QMIX/BC checkpoint directory played by the host runner."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        return cls(**data)

    def provenance(self) -> dict[str, Any]:
        """Where the policy comes from: the script's qualified name, or the checkpoint's content fingerprint."""
        if self.checkpoint is not None:
            return {"checkpoint": self.checkpoint, "checkpoint_fingerprint": checkpoint_fingerprint(self.checkpoint)}
        return {"script": f"rayeaq.policies.scripts:{POLICIES.get(str(self.script)).script}"}


Candidates = Callable[[PolicyConfig, "float | None", "str | None"], list[Candidate]]


@dataclass(frozen=True)
class BehaviourPolicy:
    """A member of the family.

    ``candidates(policy_cfg, fixed_epsilon, fixed_script)`` lists what a tier may be collected with (a tier's
    ``epsilon``/``script`` overrides narrow the list); ``script`` names the JAX function of a scripted member in
    :mod:`rayeaq.policies.scripts` (``(key, env, state, avail [N, A]) -> actions [N]``; imported only by the
    collector, so the registry itself imports no JAX); ``validate`` checks the config before any work.
    """

    name: str
    candidates: Candidates
    script: str | None = None
    validate: Callable[[PolicyConfig], None] | None = None
    box_policy: str | None = None
    """Box-action (MPE) members: the builder in :mod:`rayeaq.policies.mpe` (``map_name, **knobs -> policy``
    of ``(key, state [Ds], obs [N, Do], ε) -> actions [N, Da]``), run by the MPE collector."""


POLICIES: Registry[BehaviourPolicy] = Registry("behaviour policy", "collect.policy.kind")
"""Every behaviour-policy kind, by name (members register in :mod:`rayeaq.policies.members`)."""


def scripted_names() -> tuple[str, ...]:
    """Names of the scripted members, in registration order (the fused collector's switch order)."""
    return tuple(name for name, member in POLICIES.items() if member.script is not None)


def load_script(name: str) -> Callable:
    """The JAX function of scripted member ``name`` (imports JAX and SMAX)."""
    from rayeaq.policies import scripts

    return getattr(scripts, str(POLICIES.get(name).script))


def box_policy_names() -> tuple[str, ...]:
    """Names of the members that act on box-action (MPE) maps."""
    return tuple(name for name, member in POLICIES.items() if member.box_policy is not None)


def load_box_policy(name: str, map_name: str, **knobs: Any) -> Callable:
    """The JAX policy of box-action member ``name`` on an MPE map (imports JAX)."""
    from rayeaq.core.errors import ConfigError
    from rayeaq.policies import mpe

    member = POLICIES.get(name)
    if member.box_policy is None:
        raise ConfigError(f"collect.policy.kind: {name!r} acts on discrete actions; on MPE use {box_policy_names()}")
    return getattr(mpe, member.box_policy)(map_name, **knobs)


def checkpoint_fingerprint(path: str | Path) -> str:
    """sha256 (16 hex) over the relative paths and bytes of every file under a checkpoint directory."""
    root = Path(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(root)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]
