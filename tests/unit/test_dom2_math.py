"""DOM2's mechanisms against references: DPM-Solver-1 vs diffusers' DDIM (eta 0), OMAR's CQL term vs a slow
loop, gradients through the solver chain vs a closed form, Algorithm 1's replication counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler

from rayeaq.learners.dom2.losses import cql_term, policy_loss
from rayeaq.learners.dom2.networks import mlp
from rayeaq.learners.dom2.replicate import replicate_indices, replication_counts
from rayeaq.learners.dom2.solver import VPSchedule

torch.set_num_threads(1)


def fake_eps(a: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A deterministic stand-in noise network that depends on both the action and the timestep."""
    return torch.tanh(0.9 * a + 0.3) * (0.5 + t.float()[:, None] / 1000.0)


@pytest.mark.parametrize("steps", [10, 5, 1])
def test_dpm_solver_1_equals_ddim_step_for_step(steps):
    sch = VPSchedule(1000, solver_steps=steps)
    ref = DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="linear",
        beta_start=1e-4,
        beta_end=0.02,
        prediction_type="epsilon",
        clip_sample=False,
        set_alpha_to_one=True,
        steps_offset=0,
        timestep_spacing="trailing",
    )
    ref.set_timesteps(steps)
    assert sch.grid.tolist() == ref.timesteps.tolist()
    torch.testing.assert_close(sch.alphas_cumprod, ref.alphas_cumprod.float())
    start = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
    x, ours = start.clone(), start.clone()
    for i, t in enumerate(ref.timesteps.tolist()):
        tt = torch.full((16,), t, dtype=torch.long)
        x = ref.step(fake_eps(x, tt), t, x, eta=0.0).prev_sample
        c_x, c_eps = sch.step_coefficients(i)
        ours = c_x * ours - c_eps * fake_eps(ours, tt)
        torch.testing.assert_close(ours, x, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sch.sample(fake_eps, start, clip=None), x, rtol=1e-5, atol=1e-5)


def test_solver_step_is_lu_et_al_exp_form():
    """The expanded coefficient equals sigma_t (e^h - 1), h = lambda_t - lambda_s, away from the clean end."""
    sch = VPSchedule(1000, solver_steps=10)
    for i in range(9):
        s, t = int(sch.grid[i]), int(sch.grid[i + 1])

        def lam(k: int) -> float:
            return math.log(float(sch.alpha[k]) / float(sch.sigma[k]))

        c_x, c_eps = sch.step_coefficients(i)
        assert c_x == pytest.approx(float(sch.alpha[t]) / float(sch.alpha[s]), rel=1e-6)
        assert c_eps == pytest.approx(float(sch.sigma[t]) * math.expm1(lam(t) - lam(s)), rel=1e-4)


def test_gradient_through_the_chain_matches_closed_form():
    """With eps(a) = w a every step is linear, a^0 = prod_i (c_x,i - c_eps,i w) a^N: d a^0 / d w in closed form."""
    sch = VPSchedule(1000, solver_steps=10)
    w = torch.tensor(0.3, requires_grad=True)
    noise = torch.tensor([[0.7, -1.3]])
    a0 = sch.sample(lambda a, t: w * a, noise, clip=None)
    a0.sum().backward()
    coeffs = [sch.step_coefficients(i) for i in range(10)]
    factors = [cx - ce * 0.3 for cx, ce in coeffs]
    prod = math.prod(factors)
    expected = sum(-ce * prod / f for (_cx, ce), f in zip(coeffs, factors, strict=True)) * float(noise.sum())
    assert float(a0.detach().sum()) == pytest.approx(prod * float(noise.sum()), rel=1e-5)
    assert float(w.grad) == pytest.approx(expected, rel=1e-4)


def slow_omar_cql(head, obs, action, rand, temp):
    """OMAR's MPE formula with plain loops in float64: mean_b[T log sum_m exp((Q(o,a~) - log 0.5^Da)/T) - Q(o,a)]."""
    total = 0.0
    b, m, da = rand.shape
    for i in range(b):
        vals = [(float(head(torch.cat([obs[i], rand[i, k]])[None])) - da * math.log(0.5)) / temp for k in range(m)]
        top = max(vals)
        lse = temp * (top + math.log(sum(math.exp(v - top) for v in vals)))
        total += lse - float(head(torch.cat([obs[i], action[i]])[None]))
    return total / b


@pytest.mark.parametrize("temp", [1.0, 0.5])
def test_cql_term_matches_slow_omar_reference(temp):
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    head = mlp(5 + 2, 64, 1).double()
    obs = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    action = torch.rand(7, 2, generator=gen, dtype=torch.float64) * 2 - 1
    rand = torch.rand(7, 10, 2, generator=gen, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        fast = float(cql_term(head, obs, action, rand, temp))
        assert fast == pytest.approx(slow_omar_cql(head, obs, action, rand, temp), rel=1e-9, abs=1e-9)
    # known answer: a constant critic Q = c gives T log(M / 0.5^Da) - 0 exactly
    const = torch.nn.Linear(7, 1).double()
    torch.nn.init.zeros_(const.weight)
    torch.nn.init.constant_(const.bias, 3.0)
    with torch.no_grad():
        assert float(cql_term(const, obs, action, rand, temp)) == pytest.approx(
            temp * math.log(10) - 2 * math.log(0.5), rel=1e-9
        )


def test_eta_tilde_makes_the_q_loss_scale_free():
    """eta~ = eta / E|Q|: multiplying every Q-value by c > 0 leaves the policy loss (and its gradient) unchanged."""
    q_pi = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    q_data = torch.tensor([2.0, -4.0, 3.0])
    bc = torch.tensor(0.25)
    base = policy_loss(bc, q_pi, q_data, eta=2.0).detach()
    scaled = policy_loss(bc, 37.0 * q_pi, 37.0 * q_data, eta=2.0).detach()
    assert float(base) == pytest.approx(float(scaled), rel=1e-6)
    assert float(base) == pytest.approx(0.25 - 2.0 / 3.0 * (-0.5 / 3.0), rel=1e-6)
    assert policy_loss(bc, q_pi, q_data, eta=0.0) is bc


def test_replication_counts_follow_algorithm_1():
    returns = [5.0, 10.0, 10.0001, 20.0, -3.0]
    thresholds = [10.0, 15.0, 20.0]
    # each trajectory once, plus once per threshold its return reaches (>=)
    assert replication_counts(returns, thresholds).tolist() == [1, 2, 2, 4, 1]
    assert replicate_indices(returns, thresholds).tolist() == [0, 1, 1, 2, 2, 3, 3, 3, 3, 4]
    assert replication_counts(returns, []).tolist() == [1] * 5
    # slow reference: D' = D + sum_th {T | R(T) >= th}
    rng = np.random.default_rng(0)
    r = rng.normal(size=50).round(1)
    th = [-0.5, 0.0, 0.5]
    slow = list(range(50)) + [i for t in th for i in range(50) if r[i] >= t]
    assert sorted(slow) == replicate_indices(r, th).tolist()
