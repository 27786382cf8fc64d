"""The exact speed levers of the QMIX update (issue 12, item 6) against what they replaced.

- TD(lambda) targets solved at once (a cumulative product over ``[B, T', T']``) = pymarl2's backward loop over
  rows, written out here as it was, on batches with padding, terminations and truncation at the last row.
- The sampled joint actions of the joint conservative term (a cumulative count and a sorted search instead of
  ``torch.multinomial``): the same distribution, each agent uniform over its legal actions; padding rows (no
  legal action) uniform over all; the same draws for the same generator (exact resume needs that).
"""

from __future__ import annotations

import pytest
import torch

from rayeaq.learners.qmix.losses import td_lambda_targets
from rayeaq.learners.qmix.networks import sample_legal_q

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


def test_sampled_joint_actions_are_uniform_over_random_legal_sets_and_never_illegal():
    gen = torch.Generator().manual_seed(5)
    rows, n, a, k = 12, 3, 7, 6000
    avail = torch.rand(rows, n, a, generator=gen) < 0.5
    avail[0, 0] = False  # a padding row: no legal action, uniform over all
    avail[1, 1] = torch.arange(a) == a - 1  # only the last action
    avail[2, 2] = torch.arange(a) == 0  # only the first
    q = torch.arange(a, dtype=torch.float32).expand(rows, n, a)  # Q of action j is j: the draws are readable
    picked = sample_legal_q(q, avail, k, torch.Generator().manual_seed(1)).long()  # [rows, K, N]
    legal = avail | ~avail.any(-1, keepdim=True)
    for r in range(rows):
        for j in range(n):
            freq = torch.bincount(picked[r, :, j], minlength=a).float() / k
            want = legal[r, j].float() / legal[r, j].sum()
            assert (freq[~legal[r, j]] == 0).all(), (r, j)
            assert (freq - want).abs().max() < 0.03, (r, j, freq, want)


def test_the_same_generator_draws_the_same_joint_actions():
    avail = torch.rand(4, 5, 3, 9, generator=torch.Generator().manual_seed(2)) < 0.6
    q = torch.randn(4, 5, 3, 9)
    one = sample_legal_q(q, avail, 20, torch.Generator().manual_seed(9))
    two = sample_legal_q(q, avail, 20, torch.Generator().manual_seed(9))
    assert one.shape == (4, 5, 20, 3) and torch.equal(one, two)
