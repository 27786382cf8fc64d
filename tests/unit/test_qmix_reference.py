"""The TD loss, its gradient, TD(lambda), the joint conservative term and the intervals against slow references.

The references are written from the equations (torch.nn.GRU's gate equations, QMIX's hyper-network mixer, the
forward view of lambda-returns, the Wilson formula), element by element; they share only the weights (as plain
tensors) with the implementation, never its modules or functions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rayeaq.learners.qmix.intervals import bootstrap_mean_interval, wilson_interval
from rayeaq.learners.qmix.losses import joint_cql_loss, qmix_loss, td_lambda_targets
from rayeaq.learners.qmix.networks import NetSpec, QMIXNetworks, mix_with_samples, sample_legal_q
from support.random_episodes import toy_episodes

torch.set_num_threads(1)
FIELDS = ("obs", "state", "avail_actions", "actions", "reward", "terminated", "filled")


def _nets(ep, seed=0) -> QMIXNetworks:
    torch.manual_seed(seed)
    spec = NetSpec(
        n_agents=ep.n_agents,
        n_actions=ep.n_actions,
        obs_dim=ep.obs_dim,
        state_dim=ep.state_dim,
        hidden_dim=8,
        mixing_embed_dim=4,
        hypernet_embed=6,
    )
    nets = QMIXNetworks(spec)
    nets.fit_state_normaliser(torch.from_numpy(ep.state[ep.filled]) * 2 + 0.5)
    with torch.no_grad():  # targets differ from the online networks, so double-Q selection matters
        for p in list(nets.target_agent.parameters()) + list(nets.target_mixer.parameters()):
            p.add_(0.3 * torch.randn_like(p))
    return nets


# ---- slow reference, from the equations ----------------------------------------------------------------------
def _gru_cell(p: dict, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """torch.nn.GRU's documented equations for one vector ``x`` and hidden ``h``."""
    hd = h.shape[0]
    wi, wh, bi, bh = p["rnn.weight_ih_l0"], p["rnn.weight_hh_l0"], p["rnn.bias_ih_l0"], p["rnn.bias_hh_l0"]
    gi, gh = wi @ x + bi, wh @ h + bh
    r = torch.sigmoid(gi[:hd] + gh[:hd])
    z = torch.sigmoid(gi[hd : 2 * hd] + gh[hd : 2 * hd])
    n = torch.tanh(gi[2 * hd :] + r * gh[2 * hd :])
    return (1 - z) * n + z * h


def _agent_q(p: dict, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.relu(p["fc1.weight"] @ x + p["fc1.bias"])
    h = _gru_cell(p, y, h)
    return p["fc2.weight"] @ h + p["fc2.bias"], h


def _mix(p: dict, qs: torch.Tensor, s: torch.Tensor, n: int, e: int) -> torch.Tensor:
    """QMIX: ``|W1(s)|`` [N, E], ``b1(s)``, ELU, ``|w_final(s)|`` [E], ``V(s)``, for one state."""
    w1 = torch.abs(
        p["hyper_w_1.2.weight"] @ torch.relu(p["hyper_w_1.0.weight"] @ s + p["hyper_w_1.0.bias"])
        + p["hyper_w_1.2.bias"]
    ).reshape(n, e)
    b1 = p["hyper_b_1.weight"] @ s + p["hyper_b_1.bias"]
    hidden = torch.nn.functional.elu(qs @ w1 + b1)
    wf = torch.abs(
        p["hyper_w_final.2.weight"] @ torch.relu(p["hyper_w_final.0.weight"] @ s + p["hyper_w_final.0.bias"])
        + p["hyper_w_final.2.bias"]
    )
    v = p["V.2.weight"] @ torch.relu(p["V.0.weight"] @ s + p["V.0.bias"]) + p["V.2.bias"]
    return hidden @ wf + v[0]


def _agent_input(ep, i: int, t: int, j: int) -> torch.Tensor:
    last = np.zeros(ep.n_actions, np.float32)
    if t > 0:
        last[ep.actions[i, t - 1, j]] = 1.0
    return torch.from_numpy(np.concatenate([ep.obs[i, t, j], last, np.eye(ep.n_agents, dtype=np.float32)[j]]))


def reference_td_loss(ep, online: dict, target: dict, mean, std, gamma: float, hd: int, e: int) -> torch.Tensor:
    """Masked mean of (Q_tot(s_t, a_t) - y_t)^2 with double-Q y_t, one episode, agent and step at a time."""
    total, count = torch.zeros(()), 0
    for i in range(len(ep)):
        q_on = [[None] * ep.n_agents for _ in range(ep.length[i] + 1)]
        q_tg = [[None] * ep.n_agents for _ in range(ep.length[i] + 1)]
        for j in range(ep.n_agents):
            h_on, h_tg = torch.zeros(hd), torch.zeros(hd)
            for t in range(ep.length[i] + 1):
                x = _agent_input(ep, i, t, j)
                q_on[t][j], h_on = _agent_q(online, x, h_on)
                q_tg[t][j], h_tg = _agent_q(target, x, h_tg)
        for t in range(ep.length[i]):
            s = (torch.from_numpy(ep.state[i, t]) - mean) / std
            s_next = (torch.from_numpy(ep.state[i, t + 1]) - mean) / std
            chosen = torch.stack([q_on[t][j][ep.actions[i, t, j]] for j in range(ep.n_agents)])
            q_tot = _mix(online, chosen, s, ep.n_agents, e)
            with torch.no_grad():
                nxt = []
                for j in range(ep.n_agents):
                    legal = [a for a in range(ep.n_actions) if ep.avail_actions[i, t + 1, j, a]]
                    best = max(legal, key=lambda a: float(q_on[t + 1][j][a]))
                    nxt.append(q_tg[t + 1][j][best])
                boot = 0.0 if ep.terminated[i, t] else float(_mix(target, torch.stack(nxt), s_next, ep.n_agents, e))
                y = float(ep.reward[i, t]) + gamma * boot
            total = total + (q_tot - y) ** 2
            count += 1
    return total / count


def test_td_loss_and_its_gradient_equal_a_slow_reference_from_the_equations():
    ep = toy_episodes(n_episodes=4, episode_limit=6, seed=21)
    nets = _nets(ep)
    batch = {k: torch.from_numpy(np.ascontiguousarray(getattr(ep, k))) for k in FIELDS}
    loss, _ = qmix_loss(nets.train_outputs(batch, gamma=0.9, double_q=True), cql_weight=0.0)
    nets.zero_grad()
    loss.backward()

    def params(module):
        return {k: v.detach().clone().requires_grad_(True) for k, v in module.named_parameters()}

    agent, mixer = params(nets.agent), params(nets.mixer)
    online = {**agent, **mixer}
    target = {
        k: v.detach()
        for k, v in {**dict(nets.target_agent.named_parameters()), **dict(nets.target_mixer.named_parameters())}.items()
    }
    ref = reference_td_loss(ep, online, target, nets.state_mean, nets.state_std, 0.9, 8, 4)
    ref.backward()
    torch.testing.assert_close(loss.detach(), ref.detach(), rtol=1e-5, atol=1e-6)
    for name, p in nets.agent.named_parameters():
        torch.testing.assert_close(p.grad, agent[name].grad, rtol=1e-4, atol=1e-6, msg=name)
    for name, p in nets.mixer.named_parameters():
        torch.testing.assert_close(p.grad, mixer[name].grad, rtol=1e-4, atol=1e-6, msg=name)


# ---- TD(lambda) -----------------------------------------------------------------------------------------------
def forward_view_lambda_return(r, term, q_next, length, gamma, lam) -> np.ndarray:
    """G_t^lambda = (1 - lambda) sum_n lambda^(n-1) G_t^(n) + lambda^(L-t-1) G_t^(L-t), n-step returns G_t^(n)
    bootstrapping from the target Q_tot after n steps (none past a termination), one episode of length L."""
    out = np.zeros(length)
    for t in range(length):
        horizon = length - t

        def n_step(n, t=t):
            g, disc = 0.0, 1.0
            for k in range(n):
                g += disc * r[t + k]
                if term[t + k]:
                    return g
                disc *= gamma
            return g + disc * q_next[t + n - 1]

        out[t] = sum((1 - lam) * lam ** (n - 1) * n_step(n) for n in range(1, horizon)) + lam ** (horizon - 1) * n_step(
            horizon
        )
    return out


@pytest.mark.parametrize("lam", [0.0, 0.6, 1.0])
def test_td_lambda_targets_equal_the_forward_view(lam):
    rng = np.random.default_rng(5)
    b, t = 6, 9
    length = rng.integers(1, t + 1, size=b)
    reward = rng.normal(size=(b, t)).astype(np.float32)
    q_next = rng.normal(size=(b, t)).astype(np.float32)
    filled = np.arange(t + 1)[None] < length[:, None]  # [B, T' + 1]
    terminated = np.zeros((b, t), bool)
    terminated[np.arange(b), length - 1] = rng.random(b) < 0.5
    got = td_lambda_targets(
        torch.from_numpy(reward),
        torch.from_numpy(terminated),
        torch.from_numpy(filled[:, 1:]),
        torch.from_numpy(q_next),
        0.9,
        lam,
    ).numpy()
    for i in range(b):
        ref = forward_view_lambda_return(reward[i], terminated[i], q_next[i], length[i], 0.9, lam)
        np.testing.assert_allclose(got[i, : length[i]], ref, rtol=1e-5, atol=1e-5)


def test_td_lambda_one_is_the_monte_carlo_return_of_a_terminated_episode():
    reward = torch.tensor([[1.0, 2.0, 3.0, 0.0]])
    got = td_lambda_targets(
        reward,
        torch.tensor([[False, False, True, False]]),
        torch.tensor([[True, True, False, False]]),
        torch.full((1, 4), 100.0),
        0.5,
        1.0,
    )
    assert got[0, :3].tolist() == [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3.0]


# ---- joint conservative term --------------------------------------------------------------------------------
def test_joint_term_is_logsumexp_over_sampled_and_data_q_tot_minus_data_q_tot():
    ep = toy_episodes(n_episodes=5, episode_limit=7, seed=22)
    nets = _nets(ep)
    batch = {k: torch.from_numpy(np.ascontiguousarray(getattr(ep, k))) for k in FIELDS}
    torch.manual_seed(3)
    out = nets.train_outputs(batch, gamma=0.9, cql_samples=5)
    assert out.sampled_q_tot.shape == (*out.q_tot.shape, 5)
    got = joint_cql_loss(out, temperature=0.5)
    total, count = 0.0, 0
    for i in range(len(ep)):
        for t in range(ep.length[i]):
            vals = [float(v) for v in out.sampled_q_tot[i, t].detach()] + [float(out.q_tot[i, t].detach())]
            total += 0.5 * math.log(sum(math.exp(v / 0.5) for v in vals)) - vals[-1]
            count += 1
    assert float(got.detach()) == pytest.approx(total / count, rel=1e-5)


@pytest.mark.parametrize("rows_only", [True, False])
def test_one_mixer_pass_gives_the_two_pass_joint_loss_and_gradients(rows_only):
    """Speed lever, exact: the data's and the K sampled joint actions mixed in one pass (hyper-networks once), on
    the step rows only (padding skipped) or on every row, against two passes over every row with the same draws."""
    ep = toy_episodes(n_episodes=6, episode_limit=9, seed=31)
    assert not ep.filled[:, :-1].all()  # padding rows to skip
    nets = _nets(ep)
    batch = {k: torch.from_numpy(np.ascontiguousarray(getattr(ep, k))) for k in FIELDS}
    state = nets.norm_state(batch["state"])[:, :-1]
    rows = batch["filled"][:, :-1].bool()

    def loss_and_grads(one_pass: bool):
        nets.zero_grad()
        out = nets.train_outputs(batch, gamma=0.9, td_lambda=0.5)  # no samples: q_tot by its own mixer pass
        generator = torch.Generator().manual_seed(7)
        if one_pass:
            q_tot, sampled = mix_with_samples(
                nets.mixer, out.chosen_q, out.q, out.avail, state, 4, generator, rows if rows_only else None
            )
            out = out._replace(q_tot=q_tot, sampled_q_tot=sampled)
        elif rows_only:  # the same draws (the step rows'), placed on every row, mixed in a second pass
            picked = torch.zeros(*rows.shape, 4, ep.n_agents)
            picked[rows] = sample_legal_q(out.q[rows], out.avail[rows], 4, generator)
            out = out._replace(sampled_q_tot=nets.mixer.forward_samples(picked, state))
        else:
            out = out._replace(
                sampled_q_tot=nets.mixer.forward_samples(sample_legal_q(out.q, out.avail, 4, generator), state)
            )
        loss, _ = qmix_loss(out, cql_weight=1.0, cql_kind="joint")
        loss.backward()
        return loss.detach(), {k: p.grad.clone() for k, p in nets.named_parameters() if p.grad is not None}

    (new, new_grads), (ref, ref_grads) = loss_and_grads(True), loss_and_grads(False)
    torch.testing.assert_close(new, ref, rtol=1e-6, atol=1e-6)
    assert new_grads.keys() == ref_grads.keys() and any(k.startswith("mixer.") for k in new_grads)
    for name in ref_grads:
        torch.testing.assert_close(new_grads[name], ref_grads[name], rtol=1e-5, atol=1e-6, msg=name)
    if rows_only:  # what train_outputs does on the CPU
        torch.manual_seed(0)
        out = nets.train_outputs(
            batch, gamma=0.9, td_lambda=0.5, cql_samples=4, generator=torch.Generator().manual_seed(7)
        )
        torch.testing.assert_close(
            qmix_loss(out, cql_weight=1.0, cql_kind="joint")[0].detach(), ref, rtol=1e-6, atol=1e-6
        )


def test_sampled_joint_actions_are_legal_and_uniform_over_each_agents_legal_actions():
    torch.manual_seed(0)
    avail = torch.zeros(1, 1, 2, 5, dtype=torch.bool)
    avail[0, 0, 0, [1, 3]] = True  # agent 0: two legal actions
    avail[0, 0, 1, :] = True  # agent 1: all five
    q = torch.arange(10.0).reshape(1, 1, 2, 5)  # the Q of action a of agent j is 5 j + a
    picked = sample_legal_q(q, avail, 20_000)[0, 0]  # [K, N]
    a0, a1 = picked[:, 0].long(), picked[:, 1].long() - 5
    assert set(a0.tolist()) == {1, 3} and set(a1.tolist()) == {0, 1, 2, 3, 4}
    assert abs((a0 == 1).float().mean().item() - 0.5) < 0.02
    assert (torch.bincount(a1, minlength=5).float() / 20_000 - 0.2).abs().max() < 0.02


# ---- intervals ------------------------------------------------------------------------------------------------
def test_wilson_interval_matches_scipy_and_known_values():
    from scipy.stats import binomtest

    for wins, n in [(0, 10), (5, 10), (16, 32), (31, 32), (193, 320)]:
        ci = binomtest(wins, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson_interval(wins, n) == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert wilson_interval(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(16, 32)
    assert (hi - lo) / 2 == pytest.approx(0.164, abs=0.001)  # the "±0.17 at 32 episodes"


def test_bootstrap_interval_agrees_with_scipy_percentile_bootstrap():
    from scipy.stats import bootstrap

    values = np.random.default_rng(1).gamma(2.0, 0.5, size=200)
    ours = bootstrap_mean_interval(values, seed=3, resamples=4000)
    ref = bootstrap((values,), np.mean, n_resamples=4000, method="percentile", random_state=4).confidence_interval
    se = values.std() / math.sqrt(len(values))
    assert ours[0] == pytest.approx(ref.low, abs=0.15 * se) and ours[1] == pytest.approx(ref.high, abs=0.15 * se)
    assert ours[0] < values.mean() < ours[1]
