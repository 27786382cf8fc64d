"""DOM2's Algorithm 2 bookkeeping on a tiny batch: soft targets (line 8), which parameters each update moves,
the TD target against a hand computation, decentralised action shapes and range."""

from __future__ import annotations

import copy

import pytest
import torch

from rayeaq.learners.dom2.config import Dom2Config
from rayeaq.learners.dom2.learner import Dom2Learner
from rayeaq.learners.dom2.losses import td_target
from rayeaq.learners.dom2.networks import TwinCritic

torch.set_num_threads(1)


def tiny(eta: float = 1.0) -> Dom2Learner:
    cfg = Dom2Config(eta=eta, actor_hidden=16, actor_blocks=1, critic_hidden=16, batch_size=8, solver_steps=5)
    return Dom2Learner(cfg, n_agents=2, obs_dim=3, action_dim=2, seed=0)


def batch(b: int = 8) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "obs": torch.randn(b, 2, 3, generator=g),
        "actions": torch.rand(b, 2, 2, generator=g) * 2 - 1,
        "reward": torch.randn(b, generator=g),
        "next_obs": torch.randn(b, 2, 3, generator=g),
        "done": torch.zeros(b),
        "state": torch.randn(b, 5, generator=g),
        "next_state": torch.randn(b, 5),
    }


def flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_soft_target_update_is_rho_online_plus_one_minus_rho_target():
    learner = tiny()
    ag = learner.agents[0]
    old_target_actor, old_target_critic = flat(ag.target_actor), flat(ag.target_critic)
    learner.update(batch())
    rho = learner.cfg.tau
    torch.testing.assert_close(flat(ag.target_actor), rho * flat(ag.actor) + (1 - rho) * old_target_actor)
    torch.testing.assert_close(flat(ag.target_critic), rho * flat(ag.critic) + (1 - rho) * old_target_critic)
    assert not torch.equal(flat(ag.target_actor), old_target_actor)


def test_actor_update_moves_only_the_actor_and_critic_update_only_the_critic():
    learner = tiny(eta=1.0)
    ag, b = learner.agents[1], learner._agent_batch(batch(), 1)
    actor0, critic0 = flat(ag.actor), flat(ag.critic)
    learner.update_actor(1, b)  # the Q-loss backpropagates through the critic, which must not step
    assert not torch.equal(flat(ag.actor), actor0)
    torch.testing.assert_close(flat(ag.critic), critic0, rtol=0, atol=0)
    actor1 = flat(ag.actor)
    learner.update_critic(1, b)
    assert not torch.equal(flat(ag.critic), critic0)
    torch.testing.assert_close(flat(ag.actor), actor1, rtol=0, atol=0)
    # agent 0 was not touched by agent 1's updates
    other = tiny(eta=1.0).agents[0]
    torch.testing.assert_close(flat(learner.agents[0].actor), flat(other.actor), rtol=0, atol=0)


def test_td_target_is_reward_plus_discounted_min_of_target_heads():
    torch.manual_seed(0)
    critic = TwinCritic(3, 2, 8)
    obs, act = torch.randn(4, 3), torch.rand(4, 2)
    reward, done = torch.tensor([1.0, -1.0, 0.5, 2.0]), torch.tensor([0.0, 1.0, 0.0, 1.0])
    y = td_target(critic, obs, act, reward, done, 0.95)
    with torch.no_grad():
        q1, q2 = critic(obs, act)
    for i in range(4):
        expected = float(reward[i]) + (0.0 if done[i] else 0.95 * min(float(q1[i]), float(q2[i])))
        assert float(y[i]) == pytest.approx(expected, rel=1e-6)


def test_act_is_decentralised_and_in_range():
    learner = tiny()
    obs = batch()["obs"]
    a = learner.act(obs, torch.Generator().manual_seed(1))
    assert a.shape == (8, 2, 2) and bool((a.abs() <= 1).all())
    # agent 0's actions do not depend on agent 1's observation
    obs2 = obs.clone()
    obs2[:, 1] += 5.0
    a2 = learner.act(obs2, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a2[:, 0], a[:, 0])
    assert not torch.allclose(a2[:, 1], a[:, 1])


def test_solver_steps_must_divide_the_timesteps():
    with pytest.raises(ValueError, match="divide"):
        Dom2Config(n_timesteps=1000, solver_steps=7)
    assert copy.copy(Dom2Config()).solver_steps == 10
