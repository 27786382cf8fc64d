"""The augmenter family: what an augmenter is given, what it returns, and the registry of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rayeaq.augmenters.config import AugmentConfig
from rayeaq.core.registry import Registry
from rayeaq.data.batch import EpisodeBatch
from rayeaq.data.reader import Dataset


@dataclass(frozen=True)
class AugmentInputs:
    """What every augmenter is given: the real dataset, how many episodes to aim for, its config and seed."""

    real: Dataset
    requested: int
    """Synthetic episodes to write (``augment.num_episodes`` or ``ratio × real episodes``)."""
    cfg: AugmentConfig
    seed: int
    checkpoint: Path | None = None
    """A fitted generator (``rayeaq.fit`` output), for the augmenters that sample one."""
    guidance: float | None = None
    """This run's ``diffusion.q_weight``: the guidance scale a return-conditioned generator is sampled at (for
    the other objectives λ acts in training and the checkpoint's own value counts)."""


@dataclass
class Produced:
    """An augmenter's output before it is written: the kept episodes plus how many were made."""

    episodes: EpisodeBatch | None
    """Kept synthetic episodes (``source``, ids and behaviour not yet relabelled); None = no dataset."""
    sampled: int
    """Episodes made before filtering."""
    requested: int | None = None
    """Episodes it aimed for (None: it makes what the data give, e.g. DOM2's copies)."""
    legal_share: float | None = None
    """Share of agent-steps whose unrestricted argmax action was available (generators only)."""
    report: dict[str, Any] = field(default_factory=dict)
    """Extra fidelity figures (drop counts, predicted Q-total, ...)."""
    generation: dict[str, Any] = field(default_factory=dict)
    """Extra provenance for the dataset card (generator fingerprint, step, λ, ...)."""


@dataclass(frozen=True)
class Augmenter:
    """A member of the family.

    ``generator`` says whether it samples a fitted generator and with which λ: ``"none"`` (no generator),
    ``"q"`` (λ > 0), ``"noq"`` (λ = 0, the EAQ⁻Q ablation). ``ignores`` are the dotted config prefixes it
    does not read (a sweep drops them from its grid points so that baselines run once per seed).
    """

    name: str
    produce: Callable[[AugmentInputs], Produced]
    generator: Literal["none", "q", "noq"] = "none"
    ignores: tuple[str, ...] = ()

    @property
    def needs_generator(self) -> bool:
        return self.generator != "none"


AUGMENTERS: Registry[Augmenter] = Registry("augmenter", "augment.augmenter")
"""Every augmenter, by name (members register in :mod:`rayeaq.augmenters.baselines` and ``.eaq``)."""


def augmenter(
    name: str, generator: Literal["none", "q", "noq"] = "none", ignores: tuple[str, ...] = ()
) -> Callable[[Callable[[AugmentInputs], Produced]], Callable[[AugmentInputs], Produced]]:
    """Register the decorated ``produce`` function as augmenter ``name``."""

    def decorate(produce: Callable[[AugmentInputs], Produced]) -> Callable[[AugmentInputs], Produced]:
        AUGMENTERS.add(name, Augmenter(name, produce, generator, ignores))
        return produce

    return decorate
