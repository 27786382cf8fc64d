"""DOM2's stacked per-agent networks: the same functions as N unstacked ones, and a batched update in which each
agent's parameters read only that agent's data (per-agent losses, eta~, gradient clipping)."""

from __future__ import annotations

import pytest
import torch

from rayeaq.learners.dom2.batched import BatchedDom2Learner
from rayeaq.learners.dom2.config import Dom2Config
from rayeaq.learners.dom2.networks import ResidualNoiseNet, TwinCritic
from rayeaq.learners.dom2.stacked import StackedNoiseNet, StackedTwinCritic, clip_per_agent

torch.set_num_threads(1)
N, B, DO, DA = 3, 7, 5, 2


def test_stacked_noise_net_and_critic_equal_the_unstacked_ones():
    torch.manual_seed(0)
    nets = [ResidualNoiseNet(DA, DO, 1000, hidden=16, n_blocks=2) for _ in range(N)]
    critics = [TwinCritic(DO, DA, 8) for _ in range(N)]
    stacked, twin = StackedNoiseNet(N, DA, DO, 1000, 16, 2), StackedTwinCritic(N, DO, DA, 8)
    stacked.load_agents(nets)
    twin.load_agents(critics)
    a, o, tau = torch.randn(N, B, DA), torch.randn(N, B, DO), torch.randint(0, 1000, (N, B))
    with torch.no_grad():
        out = stacked(a, o, tau)
        q1, q2 = twin(o, a)
        for j in range(N):
            torch.testing.assert_close(out[j], nets[j](a[j], o[j], tau[j]), rtol=1e-5, atol=1e-5)
            r1, r2 = critics[j](o[j], a[j])
            torch.testing.assert_close(q1[j], r1, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(q2[j], r2, rtol=1e-5, atol=1e-5)
    assert sum(p.numel() for p in stacked.parameters()) == sum(p.numel() for m in nets for p in m.parameters())


def test_clip_per_agent_equals_separate_clipping():
    torch.manual_seed(1)
    w = torch.nn.Parameter(torch.zeros(N, 4, 3))
    b = torch.nn.Parameter(torch.zeros(N, 1, 3))
    w.grad, b.grad = torch.randn(N, 4, 3) * torch.tensor([0.01, 1.0, 10.0])[:, None, None], torch.randn(N, 1, 3)
    expected = []
    for j in range(N):
        pw, pb = torch.nn.Parameter(w[j].detach().clone()), torch.nn.Parameter(b[j].detach().clone())
        pw.grad, pb.grad = w.grad[j].clone(), b.grad[j].clone()
        torch.nn.utils.clip_grad_norm_([pw, pb], 0.5)
        expected.append((pw.grad, pb.grad))
    clip_per_agent([w, b], 0.5)
    for j in range(N):
        torch.testing.assert_close(w.grad[j], expected[j][0])
        torch.testing.assert_close(b.grad[j], expected[j][1])


def batch(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "obs": torch.randn(B, N, DO, generator=g),
        "actions": torch.rand(B, N, DA, generator=g) * 2 - 1,
        "reward": torch.randn(B, generator=g),
        "agent_reward": torch.randn(B, N, generator=g),
        "next_obs": torch.randn(B, N, DO, generator=g),
        "done": torch.zeros(B),
    }


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_batched_update_keeps_the_agents_independent(eta):
    cfg = Dom2Config(eta=eta, actor_hidden=16, actor_blocks=1, critic_hidden=8, batch_size=B, solver_steps=5)
    base, other = batch(0), batch(0)
    other["obs"][:, 1] += 3.0  # only agent 1's data differ (scale changes its Q, its eta~ and its clip)
    other["agent_reward"][:, 1] *= 50.0
    runs = []
    for data in (base, other):
        learner = BatchedDom2Learner(cfg, N, DO, DA, seed=0)
        learner.update(data)
        runs.append({k: v.clone() for k, v in {**learner.actor.state_dict(), **learner.critic.state_dict()}.items()})
    moved = False
    for key, value in runs[0].items():
        if value.dim() == 0 or value.shape[0] != N:
            continue  # buffers (time frequencies)
        torch.testing.assert_close(runs[1][key][0], value[0], rtol=0, atol=0, msg=key)
        torch.testing.assert_close(runs[1][key][2], value[2], rtol=0, atol=0, msg=key)
        moved = moved or not torch.equal(runs[1][key][1], value[1])
    assert moved


def test_batched_act_is_decentralised_and_in_range():
    cfg = Dom2Config(actor_hidden=16, actor_blocks=1, critic_hidden=8, solver_steps=5)
    learner = BatchedDom2Learner(cfg, N, DO, DA, seed=0)
    obs = batch(1)["obs"]
    a = learner.act(obs, torch.Generator().manual_seed(2))
    obs2 = obs.clone()
    obs2[:, 2] -= 4.0
    a2 = learner.act(obs2, torch.Generator().manual_seed(2))
    assert a.shape == (B, N, DA) and bool((a.abs() <= 1).all())
    torch.testing.assert_close(a2[:, :2], a[:, :2], rtol=0, atol=0)
    assert not torch.allclose(a2[:, 2], a[:, 2])
