"""RLlib adapter: the :class:`TorchLearner` of offline QMIX (+CQL) and behaviour cloning.

The loss math is :mod:`rayeaq.learners.qmix.losses`; this file only connects it to RLlib: which loss, its
weights (from the :class:`~rayeaq.qmix.ray_algorithm.QMIXConfig`), the target-network copy after every
``target_update_interval`` updates, and metrics.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.core.learner.learner import Learner
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.utils.annotations import override

from rayeaq.learners.qmix.losses import TrainOutputs, bc_loss, qmix_loss


class QMIXTorchLearner(TorchLearner):
    """``compute_loss_for_module``: masked double-Q TD on Q_tot (+ a conservative term) or masked cross-entropy (BC)."""

    @override(TorchLearner)
    def compute_loss_for_module(self, *, module_id: str, config: Any, batch: dict, fwd_out: dict) -> Any:
        out = TrainOutputs._make(fwd_out.get(name) for name in TrainOutputs._fields)
        if config.qmix_algorithm == "bc":
            loss, stats = bc_loss(out)
        else:
            loss, stats = qmix_loss(
                out, cql_weight=config.cql_weight, cql_kind=config.cql_kind, temperature=config.cql_temperature
            )
        for key, value in stats.items():  # tensors: no host sync here (RLlib reduces them when results are read)
            self.metrics.log_value((module_id, key), value, window=1)
        return loss

    @override(Learner)
    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        super().after_gradient_based_update(timesteps=timesteps)
        for module_id in self.module.keys():  # noqa: SIM118 -- MultiRLModule iterates differently from its keys
            module = self.module[module_id].unwrapped()
            module.count_update()
            if module.updates_done % self.config.target_update_interval == 0:
                module.nets.update_targets()
            self.metrics.log_value((module_id, "num_updates"), module.updates_done, window=1)
