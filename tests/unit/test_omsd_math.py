"""The score-decomposition learner's parts against references: IQL's expectile loss vs a slow loop and its known
minimiser, the behaviour-score surrogate's gradient vs its definition, the stage-1 artifact's fingerprint check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rayeaq.core.errors import UserError
from rayeaq.learners.dom2.solver import VPSchedule
from rayeaq.learners.omsd.actors import joint_actions
from rayeaq.learners.omsd.config import OmsdConfig
from rayeaq.learners.omsd.iql import expectile_loss
from rayeaq.learners.omsd.score import condition, make_score_model, score_surrogate
from rayeaq.learners.omsd.stages import (
    assemble_stage1,
    fit_critic,
    fit_score,
    load_stage1,
    run_stage1_unit,
    save_stage1,
    stage1_fingerprint,
    stage1_units,
    train_actors,
)

torch.set_num_threads(1)


def slow_expectile_loss(diff: list[float], tau: float) -> float:
    """IQL's L_2^tau(u) = |tau - 1(u < 0)| u^2, averaged with a plain loop."""
    total = 0.0
    for u in diff:
        total += (1.0 - tau if u < 0 else tau) * u * u
    return total / len(diff)


def expectile_by_bisection(x: np.ndarray, tau: float) -> float:
    """The tau-expectile m of a sample: the root of sum_i |tau - 1(x_i < m)| (x_i - m) = 0."""
    lo, hi = float(x.min()), float(x.max())
    for _ in range(100):
        m = (lo + hi) / 2
        g = np.sum(np.where(x < m, 1 - tau, tau) * (x - m))
        lo, hi = (m, hi) if g > 0 else (lo, m)
    return (lo + hi) / 2


@pytest.mark.parametrize("tau", [0.5, 0.7, 0.9])
def test_expectile_loss_matches_reference_and_its_minimiser(tau):
    rng = np.random.default_rng(0)
    diff = rng.normal(size=257)
    got = float(expectile_loss(torch.tensor(diff), tau))
    assert got == pytest.approx(slow_expectile_loss(diff.tolist(), tau), rel=1e-12)
    # the constant V minimising E L_2^tau(x - V) is the tau-expectile (the mean at tau = 0.5)
    x = torch.tensor(rng.exponential(size=500))
    v = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([v], lr=1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = expectile_loss(x - v, tau)
        loss.backward()
        return loss

    opt.step(closure)
    assert float(v.detach()) == pytest.approx(expectile_by_bisection(x.numpy(), tau), abs=1e-4)
    if tau == 0.5:
        assert float(v.detach()) == pytest.approx(float(x.mean()), abs=1e-4)
    else:  # an asymmetric weight moves the minimiser above the mean: the check can tell them apart
        assert float(v.detach()) > float(x.mean()) + 0.1


def test_score_surrogate_gradient_is_the_mean_noise_residual():
    """d surrogate / d a_b = (1/B) mean_s [eps(alpha a_b + sigma e_s, t_s | c_b) - e_s], same draws."""
    torch.manual_seed(0)
    sch = VPSchedule(100)
    model = make_score_model(3, 2, 1, True, 100, 32, 1)
    cond = torch.randn(5, 5)
    a = torch.randn(5, 2, requires_grad=True)
    score_surrogate(model, sch, cond, a, torch.Generator().manual_seed(7), 0.1, 0.5, 3).backward()
    gen = torch.Generator().manual_seed(7)
    tau = torch.randint(10, 50, (15,), generator=gen)
    noise = torch.randn((15, 2), generator=gen)
    with torch.no_grad():
        diff = model(sch.add_noise(a.detach().repeat(3, 1), tau, noise), cond.repeat(3, 1), tau) - noise
    expected = diff.view(3, 5, 2).mean(0) / 5
    torch.testing.assert_close(a.grad, expected)


def test_condition_is_the_prefix_or_the_state():
    s, acts = torch.randn(4, 3), torch.randn(4, 3, 2)
    torch.testing.assert_close(condition(s, acts, 0, True), s)
    torch.testing.assert_close(condition(s, acts, 2, True), torch.cat([s, acts[:, 0], acts[:, 1]], dim=-1))
    torch.testing.assert_close(condition(s, acts, 2, False), s)


def test_stage1_artifact_round_trip_and_fingerprint(tmp_path):
    g = torch.Generator().manual_seed(0)
    m = 64
    data = {
        "obs": torch.randn(m, 2, 3, generator=g),
        "state": torch.randn(m, 4, generator=g),
        "actions": torch.rand(m, 2, 1, generator=g) * 2 - 1,
        "reward": torch.randn(m, generator=g),
        "next_obs": torch.randn(m, 2, 3, generator=g),
        "next_state": torch.randn(m, 4, generator=g),
        "done": torch.zeros(m),
    }
    cfg = OmsdConfig(
        critic_updates=2,
        score_updates=2,
        critic_hidden=16,
        score_hidden=16,
        score_blocks=1,
        batch_size=8,
        n_timesteps=50,
    )
    fp = stage1_fingerprint(cfg, "data-abc", 3)
    critic, scores = fit_critic(cfg, data, 3), [fit_score(cfg, data, i, 3) for i in range(2)]
    save_stage1(tmp_path / "s1", cfg, data, critic, scores, fp)
    critic2, scores2 = load_stage1(tmp_path / "s1", cfg, fp)
    x = (data["state"], data["actions"].flatten(1))
    torch.testing.assert_close(critic2.q_min(*x), critic.q_min(*x))
    tau = torch.full((m,), 10, dtype=torch.long)
    cond = torch.cat([data["state"], data["actions"][:, 0]], dim=-1)
    torch.testing.assert_close(
        scores2[1](data["actions"][:, 1], cond, tau), scores[1](data["actions"][:, 1], cond, tau)
    )
    # stage-2 settings do not change the fingerprint; stage-1 settings, data and seed do
    assert stage1_fingerprint(cfg.model_copy(update={"beta": 0.001}), "data-abc", 3) == fp
    assert stage1_fingerprint(cfg.model_copy(update={"score_updates": 3}), "data-abc", 3) != fp
    assert stage1_fingerprint(cfg, "data-abd", 3) != fp
    assert stage1_fingerprint(cfg, "data-abc", 4) != fp
    with pytest.raises(UserError, match="does not match"):
        load_stage1(tmp_path / "s1", cfg, stage1_fingerprint(cfg, "other", 3))
    with pytest.raises(UserError, match=r"stage1.json missing"):
        load_stage1(tmp_path / "nothing", cfg, fp)


def test_stage1_units_reassemble_into_the_in_process_models_and_stage2_acts_decentralised():
    g = torch.Generator().manual_seed(1)
    m = 32
    data = {
        "obs": torch.randn(m, 2, 3, generator=g),
        "state": torch.randn(m, 4, generator=g),
        "actions": torch.rand(m, 2, 1, generator=g) * 2 - 1,
        "reward": torch.randn(m, generator=g),
        "next_obs": torch.randn(m, 2, 3, generator=g),
        "next_state": torch.randn(m, 4, generator=g),
        "done": torch.zeros(m),
    }
    cfg = OmsdConfig(
        critic_updates=3,
        score_updates=3,
        critic_hidden=16,
        score_hidden=16,
        score_blocks=1,
        actor_hidden=16,
        batch_size=8,
        n_timesteps=50,
    )
    assert stage1_units(2) == ["critic", "score_0", "score_1"]
    results = {u: run_stage1_unit(cfg, data, u, 5) for u in stage1_units(2)}  # what Ray tasks would return
    critic, scores = assemble_stage1(cfg, data, results)
    ref_critic, ref_score = fit_critic(cfg, data, 5), fit_score(cfg, data, 1, 5)
    for a, b in zip(critic.state_dict().values(), ref_critic.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b in zip(scores[1].state_dict().values(), ref_score.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="expected 'critic'"):
        run_stage1_unit(cfg, data, "mixer", 5)
    actors = train_actors(cfg, data, critic, scores, 5, rounds=2)
    with torch.no_grad():
        a = joint_actions(actors, data["obs"])
        obs2 = data["obs"].clone()
        obs2[:, 1] += 3.0
        a2 = joint_actions(actors, obs2)
    assert a.shape == (m, 2, 1) and bool((a.abs() < 1).all())
    torch.testing.assert_close(a2[:, 0], a[:, 0])  # agent 0 reads only its own observation
