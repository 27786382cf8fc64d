"""RLlib adapter: the MA-CQL team module — the stacked TD3 networks of
:class:`~rayeaq.learners.td3bc.ray_module.TD3TeamModule` trained with :mod:`rayeaq.learners.cql.losses`."""

from __future__ import annotations

from typing import Any

from rayeaq.learners.cql.losses import actor_loss, critic_loss
from rayeaq.learners.td3bc.ray_module import TD3TeamModule


class CQLTeamModule(TD3TeamModule):
    """Per-agent actors and conservative twin critics (the actor trains every ``policy_freq``-th update: 1 in OMAR)."""

    LOSS_KEYS = ("gamma", "cql_alpha", "cql_temperature", "cql_samples", "actor_reg", "policy_freq")

    def losses(self, batch: dict[str, Any], actor: bool) -> dict[str, Any]:
        c = self.loss_cfg
        loss, stats = critic_loss(
            self.nets, batch, c["gamma"], c["cql_alpha"], c["cql_temperature"], int(c["cql_samples"])
        )
        out = {"critic_loss": loss, "stats": stats}
        if actor:
            out["actor_loss"], a_stats = actor_loss(self.nets, batch, c["actor_reg"])
            out["stats"] = dict(stats, **a_stats)
        return out
