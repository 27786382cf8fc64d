"""Agent network (EPyMARL's ``RNNAgent``): per-agent MLP -> GRU -> Q-values, parameters shared by all agents.

Pure torch; no Ray, no JAX.
"""

from __future__ import annotations

import torch
from torch import nn


class RNNAgent(nn.Module):
    """``inputs [..., Din] -> (q [..., A], hidden [..., H])``, one step or a whole sequence.

    The agent id (and optionally the last action) are part of ``inputs``; see
    :func:`rayeaq.qmix.controller.build_inputs`. The GRU is ``nn.GRU`` so a whole ``[B*N, T]`` sequence
    unrolls in one call; a single step is a sequence of length 1 (the same weights, the same math).
    """

    def __init__(self, input_dim: int, n_actions: int, hidden_dim: int = 64) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.fc1 = nn.Linear(input_dim, hidden_dim)
        self.rnn = nn.GRU(hidden_dim, hidden_dim, batch_first=True)
        self.fc2 = nn.Linear(hidden_dim, n_actions)

    def init_hidden(self, *batch_shape: int, device: torch.device | str | None = None) -> torch.Tensor:
        """Zero hidden state ``[*batch_shape, H]``."""
        return torch.zeros(*batch_shape, self.hidden_dim, device=device)

    def forward_seq(
        self, inputs: torch.Tensor, hidden: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Unroll over time.

        inputs ``[B, T, N, Din]``, hidden ``[B, N, H]`` or None (zeros) ->
        (q ``[B, T, N, A]``, last hidden ``[B, N, H]``).
        """
        b, t, n, d = inputs.shape
        x = torch.relu(self.fc1(inputs.permute(0, 2, 1, 3).reshape(b * n, t, d)))
        h0 = None if hidden is None else hidden.reshape(1, b * n, self.hidden_dim).contiguous()
        out, h_last = self.rnn(x, h0)
        q = self.fc2(out).reshape(b, n, t, -1).permute(0, 2, 1, 3)
        return q, h_last.reshape(b, n, self.hidden_dim)

    def forward_step(
        self, inputs: torch.Tensor, hidden: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: inputs ``[B, N, Din]``, hidden ``[B, N, H]`` -> (q ``[B, N, A]``, hidden ``[B, N, H]``)."""
        q, h = self.forward_seq(inputs.unsqueeze(1), hidden)
        return q[:, 0], h
