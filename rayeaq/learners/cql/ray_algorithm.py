"""RLlib adapter: ``CQLConfig`` / ``CQL``, offline MA-CQL for box actions — the shared continuous-action
algorithm of :mod:`rayeaq.learners.td3bc.ray_algorithm` with the :class:`CQLTeamModule` and OMAR's defaults."""

from __future__ import annotations

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.utils.annotations import override

from rayeaq.learners.cql.config import CQLSettings
from rayeaq.learners.cql.ray_module import CQLTeamModule
from rayeaq.learners.td3bc.ray_algorithm import ContinuousOffline, ContinuousOfflineConfig


class CQLConfig(ContinuousOfflineConfig):
    """Offline MA-CQL on a dataset mixture of box-action episodes (MPE)."""

    LOSS_FIELDS = CQLTeamModule.LOSS_KEYS
    MODULE_CLASS = CQLTeamModule

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class)
        d = CQLSettings()
        self.lr, self.gamma, self.tau, self.batch_size_transitions = d.lr, d.gamma, d.tau, d.batch_size
        self.cql_alpha = d.cql_alpha
        self.cql_temperature = d.cql_temperature
        self.cql_samples = d.cql_samples
        self.actor_reg = d.actor_reg
        self.policy_freq = 1

    @classmethod
    def default_algo_class(cls) -> type:
        return CQL


class CQL(ContinuousOffline):
    """MA-CQL (:class:`CQLConfig`)."""

    @classmethod
    @override(Algorithm)
    def get_default_config(cls) -> CQLConfig:
        return CQLConfig()
