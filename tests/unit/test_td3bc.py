"""MA-TD3+BC pieces against independent references: stacked layers vs per-agent ``nn.Linear``, the critic target
and the actor loss vs hand computations, the transition sampler vs the episode rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rayeaq.learners.td3bc.losses import actor_loss, critic_loss
from rayeaq.learners.td3bc.networks import NetSpec, StackedLinear, TD3Networks
from rayeaq.learners.td3bc.transitions import TransitionSampler
from support.box_episodes import box_batch


def test_stacked_linear_equals_one_linear_per_agent():
    torch.manual_seed(0)
    layer = StackedLinear(3, 5, 4)
    x = torch.randn(3, 7, 5)
    out = layer(x)
    for i in range(3):
        ref = torch.nn.functional.linear(x[i], layer.weight[i].T, layer.bias[i, 0])
        torch.testing.assert_close(out[i], ref)
    assert not layer(x, detach=True).requires_grad


def _nets_and_batch(b=6):
    torch.manual_seed(1)
    spec = NetSpec(n_agents=2, obs_dim=3, action_dim=2, action_low=-1.0, action_high=1.0, hidden_dim=8)
    nets = TD3Networks(spec)
    nets.fit_obs_normaliser(torch.randn(50, 2, 3) * 2 + 1)
    batch = {
        "obs": torch.randn(b, 2, 3),
        "next_obs": torch.randn(b, 2, 3),
        "actions": torch.rand(b, 2, 2) * 2 - 1,
        "reward": torch.randn(b, 2),
        "done": torch.tensor([0, 1, 0, 0, 1, 0], dtype=torch.bool),
    }
    return nets, batch


def test_critic_target_matches_hand_computation():
    nets, batch = _nets_and_batch()
    loss, _stats = critic_loss(nets, batch, gamma=0.9, policy_noise=0.0, noise_clip=0.5)
    # reference, agent by agent with plain tensor ops on the same parameters
    total = 0.0
    for i in range(2):

        def mlp(net, x, i=i):
            for k, layer in enumerate(net.layers):
                x = x @ layer.weight[i] + layer.bias[i, 0]
                x = torch.relu(x) if k < len(net.layers) - 1 else x
            return x

        o = (batch["obs"][:, i] - nets.obs_mean[i, 0]) / nets.obs_std[i, 0]
        o2 = (batch["next_obs"][:, i] - nets.obs_mean[i, 0]) / nets.obs_std[i, 0]
        a2 = torch.tanh(mlp(nets.actor_target, o2))
        q_next = torch.minimum(
            mlp(nets.q1_target, torch.cat([o2, a2], -1)), mlp(nets.q2_target, torch.cat([o2, a2], -1))
        )[:, 0]
        y = batch["reward"][:, i] + 0.9 * (1 - batch["done"].float()) * q_next
        x = torch.cat([o, batch["actions"][:, i]], -1)
        total = total + ((mlp(nets.q1, x)[:, 0] - y) ** 2).mean() + ((mlp(nets.q2, x)[:, 0] - y) ** 2).mean()
    torch.testing.assert_close(loss, total)


def test_actor_loss_moves_only_the_actor_and_matches_formula():
    nets, batch = _nets_and_batch()
    loss, _stats = actor_loss(nets, batch, alpha=2.5)
    loss.backward()
    assert all(p.grad is None for p in nets.q1.parameters()) and all(p.grad is None for p in nets.q2.parameters())
    assert all(p.grad is not None for p in nets.actor.parameters())
    with torch.no_grad():
        o = nets.norm_obs(batch["obs"])
        pi = nets.pi(o)
        q1, _ = nets.q(o, pi)
        lam = 2.5 / q1.abs().mean(1, keepdim=True)
        ref = (-lam * q1 + ((pi - batch["actions"].transpose(0, 1)) ** 2).sum(-1)).mean(1).sum()
    torch.testing.assert_close(loss.detach(), ref)


def test_action_scaling_round_trip_for_pettingzoo_box():
    spec = NetSpec(n_agents=3, obs_dim=4, action_dim=5, action_low=0.0, action_high=1.0, hidden_dim=4)
    nets = TD3Networks(spec)
    a = torch.rand(7, 3, 5)
    torch.testing.assert_close(nets.from_unit(nets.to_unit(a)), a)
    assert nets.to_unit(torch.zeros(1, 3, 5)).min() == -1.0 and nets.to_unit(torch.ones(1, 3, 5)).max() == 1.0


def test_transition_sampler_rows():
    episodes = box_batch(3)
    episodes.length[1] = 10
    episodes.filled[1, 10:] = False
    episodes.terminated[1, 9] = True
    sampler = TransitionSampler(episodes, seed=0)
    assert len(sampler) == 25 + 10 + 25
    b, t = np.nonzero(episodes.filled)
    k = int(np.flatnonzero((b == 1) & (t == 9))[0])
    np.testing.assert_array_equal(sampler.arrays["next_obs"][k], episodes.obs[1, 10])
    np.testing.assert_array_equal(sampler.arrays["reward"][k], episodes.agent_reward[1, 9])
    assert sampler.arrays["done"][k] and sampler.arrays["done"].sum() == 1
    batch = sampler.sample(64)
    assert (
        batch["obs"].shape == (64, 3, 18) and batch["actions"].shape == (64, 3, 2) and batch["reward"].shape == (64, 3)
    )
    episodes.agent_reward = None  # falls back to the team reward for every agent
    np.testing.assert_array_equal(TransitionSampler(episodes, 0).arrays["reward"][k], np.full(3, episodes.reward[1, 9]))


def test_reward_scale_auto_makes_the_mean_reward_q_about_one():
    from rayeaq.learners.td3bc.transitions import resolve_reward_scale

    episodes = box_batch(3)
    mean_abs = float(np.abs(episodes.agent_reward[episodes.filled]).mean())
    scale = resolve_reward_scale(episodes, "auto", gamma=0.95)
    assert scale == pytest.approx(0.05 / mean_abs) and resolve_reward_scale(episodes, 2.0, 0.95) == 2.0
    sampler = TransitionSampler(episodes, seed=0, reward_scale=scale)
    assert np.abs(sampler.arrays["reward"]).mean() / (1 - 0.95) == pytest.approx(1.0, rel=1e-4)
