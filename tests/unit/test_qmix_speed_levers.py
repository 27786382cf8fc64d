"""The exact speed levers of the QMIX update (issue 12, item 6) against what they replaced.

TD(lambda) targets solved at once (a cumulative product over ``[B, T', T']``) = pymarl2's backward loop over rows,
written out here as it was (main@ff92900), on batches with padding, terminations and truncation at the last row.
"""

from __future__ import annotations

import pytest
import torch

from rayeaq.learners.qmix.losses import td_lambda_targets

torch.set_num_threads(1)


def backward_loop_lambda_targets(reward, terminated, next_filled, next_q_tot, gamma, td_lambda):
    """The implementation before the lever (main@ff92900), one row at a time from the last one back."""
    cont = gamma * (1.0 - terminated.to(reward.dtype))
    nxt = next_filled.to(torch.bool)
    out = torch.empty_like(next_q_tot)
    ahead = next_q_tot[:, -1]
    for t in range(next_q_tot.shape[1] - 1, -1, -1):
        q = next_q_tot[:, t]
        tail = torch.where(nxt[:, t], ahead, q) if t < next_q_tot.shape[1] - 1 else q
        out[:, t] = reward[:, t] + cont[:, t] * ((1.0 - td_lambda) * q + td_lambda * tail)
        ahead = out[:, t]
    return out


@pytest.mark.parametrize("td_lambda", [0.3, 0.8, 1.0])
def test_td_lambda_in_one_solve_equals_the_backward_loop(td_lambda):
    gen = torch.Generator().manual_seed(11)
    b, t = 16, 13
    length = torch.randint(1, t + 1, (b,), generator=gen)
    length[0] = t  # truncated at the batch's last row: bootstraps from the terminal observation
    filled = torch.arange(t + 1)[None] < length[:, None]  # [B, T' + 1]
    terminated = torch.zeros(b, t, dtype=torch.bool)
    ends = torch.rand(b, generator=gen) < 0.5
    terminated[torch.arange(b)[ends], length[ends] - 1] = True
    reward = torch.randn(b, t, generator=gen) * filled[:, :-1]
    next_q = torch.randn(b, t, generator=gen) * 3.0
    got = td_lambda_targets(reward, terminated, filled[:, 1:], next_q, 0.97, td_lambda)
    ref = backward_loop_lambda_targets(reward, terminated, filled[:, 1:], next_q, 0.97, td_lambda)
    step = filled[:, :-1]
    torch.testing.assert_close(got[step], ref[step], rtol=1e-5, atol=1e-5)
