"""How ``python -m rayeaq.collect`` collects each backend: a registry keyed by ``Backend.collector``.

A :class:`Collector` builds the pool of Ray actors the driver hands tiers to (``calibrate(candidates, n)``,
``collect(tier, shards, candidate, dir, on_progress)``, ``shutdown()``) and checks, before anything is written,
that it can play the configured behaviour policy. ``fused``: the vmapped JAX collector over SMAX
(:mod:`~rayeaq.stages.collect.ray_collect`); ``smac_api``: one SMAC-API environment per actor, host episode
loop (:mod:`~rayeaq.stages.collect.ray_smac`; StarCraft II); ``mpe_tiers``: MPE's OMAR/D4RL tiers collected
in-process (:mod:`~rayeaq.stages.collect.mpe_tiers`). Ray is imported only when a pool is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rayeaq.core.errors import ConfigError
from rayeaq.core.registry import Registry
from rayeaq.envs import BACKENDS
from rayeaq.envs.spec import EnvSpec
from rayeaq.stages.collect import core


@dataclass(frozen=True)
class Collector:
    """A way of collecting: its actor pool and its checks."""

    name: str
    pool: Callable[[EnvSpec, Any], Any]
    """``(spec, run config) -> pool`` (called inside the Ray session)."""
    check: Callable[[Any], None]
    """``(run config) -> None`` or a one-line :class:`ConfigError` (called before anything is written)."""
    stage: Callable[[Any, Any], dict[str, Any]] | None = None
    """``(run config, out) -> totals``: a collector that runs the whole stage itself (mpe: the OMAR/D4RL tiers
    in-process); None: the driver hands tiers to :attr:`pool`."""


COLLECTORS: Registry[Collector] = Registry("collector", "env.backend")
"""Every way of collecting, by the name a backend gives in ``Backend.collector``."""


def collector_for(backend: str) -> Collector:
    """The collector of ``env.backend``; a backend collected by another command is a one-line error."""
    name = BACKENDS.get(backend).collector
    if name is None:
        collected = ", ".join(n for n, b in BACKENDS.items() if b.collector is not None)
        raise ConfigError(
            f"env.backend: python -m rayeaq.collect collects {collected}; {backend!r} has its own command "
            "(see the README's collect section)"
        )
    return COLLECTORS.get(name)


def _fused_pool(spec: EnvSpec, cfg: Any) -> Any:
    from rayeaq.stages.collect.ray_collect import CollectorPool

    return CollectorPool(spec, cfg.collect, cfg.seed)


def _smac_pool(spec: EnvSpec, cfg: Any) -> Any:
    from rayeaq.stages.collect.ray_smac import SMACCollectorPool

    return SMACCollectorPool(cfg.env, cfg.collect, cfg.seed)


def _fused_check(cfg: Any) -> None:
    """The fused collector plays every registered behaviour policy."""


def _smac_check(cfg: Any) -> None:
    """Every tier's candidates must be playable from SMAC's API alone (no scripts that read SMAX internals)."""
    from rayeaq.stages.collect.smac_policy import BEHAVIOURS, behaviour_key

    for tier in cfg.collect.tiers:
        for candidate in core.tier_candidates(cfg.collect, tier):
            if behaviour_key(candidate) not in BEHAVIOURS:
                raise ConfigError(
                    f"collect.policy.kind: backend {cfg.env.backend} is collected through SMAC's API, which plays "
                    "heuristic_mix (target weakest), random and qmix_checkpoint; tier "
                    f"{tier} would play {candidate.label} (kind {cfg.collect.policy.kind})"
                )


COLLECTORS.add("fused", Collector("fused", _fused_pool, _fused_check))
COLLECTORS.add("smac_api", Collector("smac_api", _smac_pool, _smac_check))


def _mpe_stage(cfg: Any, out: Any) -> dict[str, Any]:
    from rayeaq.stages.collect.mpe_tiers import collect_mpe_stage

    return collect_mpe_stage(cfg, out)


def _no_pool(spec: EnvSpec, cfg: Any) -> Any:
    raise AssertionError("the mpe collector runs its own stage")


COLLECTORS.add("mpe_tiers", Collector("mpe_tiers", _no_pool, _fused_check, stage=_mpe_stage))
