"""Decentralised greedy policy of a trained QMIX/BC agent network (for evaluation and for ``rayeaq.collect``).

``load_greedy_policy(checkpoint_dir)`` reads an RLlib checkpoint written by :class:`rayeaq.qmix.ray_algorithm.QMIX`
(``Algorithm.save_to_path``) or a bare RLModule checkpoint directory, and returns a :class:`GreedyPolicy`:

    policy = load_greedy_policy("runs/eval/checkpoint")
    hidden = None                                  # start of a batch of episodes
    actions, hidden = policy(obs, avail, hidden)   # obs [B,N,Do], avail [B,N,A] -> actions [B,N] int64 (numpy)

``hidden`` is opaque (GRU state + each agent's last action). An environment that restarts an episode
must reset its slot: ``hidden = policy.reset(hidden, done_mask)``. Only legal actions are returned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from rayeaq.core.errors import UserError
from rayeaq.learners.qmix.networks import NetSpec, QMIXNetworks

Hidden = tuple[torch.Tensor, torch.Tensor]  # (GRU state [B,N,H], last actions [B,N], -1 = none)


class GreedyPolicy:
    """Callable ``(obs [B,N,Do], avail [B,N,A], hidden | None) -> (actions [B,N] int64, hidden)``."""

    def __init__(self, nets: QMIXNetworks) -> None:
        self.nets = nets.eval()
        self.spec: NetSpec = nets.spec

    @classmethod
    def from_state(cls, spec: NetSpec, state: dict[str, Any]) -> GreedyPolicy:
        """From a NetSpec and a state dict of :class:`QMIXNetworks` (keys without the ``nets.`` prefix)."""
        nets = QMIXNetworks(spec)
        nets.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in state.items()})
        return cls(nets)

    def __call__(self, obs: np.ndarray, avail: np.ndarray, hidden: Hidden | None = None) -> tuple[np.ndarray, Hidden]:
        obs_t = torch.from_numpy(np.array(obs, dtype=np.float32))
        avail_t = torch.from_numpy(np.array(avail, dtype=bool))
        if hidden is None:
            hidden = self.initial_hidden(obs_t.shape[0])
        h, last = hidden
        actions, h = self.nets.act(obs_t, avail_t, h, last)
        return actions.numpy(), (h, actions)

    def initial_hidden(self, batch: int) -> Hidden:
        n = self.spec.n_agents
        return torch.zeros(batch, n, self.spec.hidden_dim), torch.full((batch, n), -1, dtype=torch.long)

    def reset(self, hidden: Hidden, done: np.ndarray) -> Hidden:
        """Fresh hidden state where ``done [B]`` is True (a new episode starts in that slot)."""
        h, last = hidden
        mask = torch.as_tensor(np.asarray(done, dtype=bool))
        return h.masked_fill(mask[:, None, None], 0.0), last.masked_fill(mask[:, None], -1)


def _module_dir(path: Path) -> Path:
    """The team RLModule's checkpoint directory inside an algorithm, learner-group or module checkpoint."""
    from rayeaq.learners.qmix.ray_module import MODULE_ID

    for candidate in (
        path / "learner_group" / "learner" / "rl_module" / MODULE_ID,
        path / "learner" / "rl_module" / MODULE_ID,
        path / "rl_module" / MODULE_ID,
        path / MODULE_ID,
        path,
    ):
        if (candidate / "module_state.pkl").is_file() or (candidate / "module_state.pt").is_file():
            return candidate
    raise UserError(f"{path}: not a QMIX checkpoint (no {MODULE_ID} RLModule state found under it)")


def load_greedy_policy(checkpoint_dir: str | Path) -> GreedyPolicy:
    """Load the greedy policy of a QMIX/BC checkpoint (RLlib format; no Ray cluster needed)."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    path = Path(checkpoint_dir)
    if not path.is_dir():
        raise UserError(f"{path}: checkpoint directory not found")
    module = RLModule.from_checkpoint(_module_dir(path))
    return GreedyPolicy(module.nets)
