"""RLlib adapter: the :class:`TorchLearner` of MA-TD3+BC (loss math in :mod:`rayeaq.learners.td3bc.losses`).

The actor trains every ``policy_freq``-th update only; on the others its parameters get no gradient, and this
learner drops those ``None`` gradients so Adam leaves them (and their moments) untouched. Targets follow by Polyak
averaging after each actor update (TD3).
"""

from __future__ import annotations

from typing import Any

from ray.rllib.core.learner.learner import Learner
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.utils.annotations import override


class TD3BCTorchLearner(TorchLearner):
    """``compute_loss_for_module``: critic TD loss + (delayed) TD3+BC actor loss."""

    @override(TorchLearner)
    def compute_loss_for_module(self, *, module_id: str, config: Any, batch: dict, fwd_out: dict) -> Any:
        loss = fwd_out["critic_loss"] + fwd_out.get("actor_loss", 0.0)
        for key, value in fwd_out["stats"].items():
            self.metrics.log_value((module_id, key), float(value), window=1)
        return loss

    @override(TorchLearner)
    def compute_gradients(self, loss_per_module: dict, **kwargs) -> dict:
        return {pid: g for pid, g in super().compute_gradients(loss_per_module, **kwargs).items() if g is not None}

    @override(Learner)
    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        super().after_gradient_based_update(timesteps=timesteps)
        for module_id in self.module.keys():  # noqa: SIM118  (a MultiRLModule, not a dict)
            module = self.module[module_id].unwrapped()
            if module.actor_due():
                module.nets.update_targets(self.config.tau)
            module.num_updates += 1
            self.metrics.log_value((module_id, "num_updates"), int(module.num_updates), window=1)
