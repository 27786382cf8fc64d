"""QMIX math without Ray: mixer monotonicity, masked argmax, TD targets against a slow reference, losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rayeaq.learners.qmix.controller import build_inputs, masked_argmax, shift_actions
from rayeaq.learners.qmix.losses import bc_loss, cql_loss, qmix_loss
from rayeaq.learners.qmix.mixer import QMixer
from rayeaq.learners.qmix.networks import NetSpec, QMIXNetworks
from rayeaq.learners.qmix.sampler import EpisodeSampler
from support.random_episodes import toy_episodes

torch.set_num_threads(1)


def _nets(ep, mixer=True, last_action=True, seed=0) -> QMIXNetworks:
    torch.manual_seed(seed)
    spec = NetSpec(
        n_agents=ep.n_agents,
        n_actions=ep.n_actions,
        obs_dim=ep.obs_dim,
        state_dim=ep.state_dim,
        hidden_dim=16,
        mixing_embed_dim=8,
        hypernet_embed=12,
        obs_last_action=last_action,
        mixer=mixer,
    )
    nets = QMIXNetworks(spec)
    nets.fit_state_normaliser(torch.from_numpy(ep.state[ep.filled]) * 3 + 1)
    # Make the target differ from the online networks so double-Q selection matters.
    with torch.no_grad():
        for p in list(nets.target_agent.parameters()) + list(nets.target_mixer.parameters() if mixer else []):
            p.add_(0.3 * torch.randn_like(p))
    return nets


def _torch_batch(ep):
    return {
        k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in EpisodeSampler(ep, 0).take(np.arange(len(ep))).items()
    }


def test_mixer_is_monotonic_in_every_agent_q():
    torch.manual_seed(0)
    mixer = QMixer(n_agents=4, state_dim=7, embed_dim=8, hypernet_embed=16)
    qs = torch.randn(64, 5, 4, requires_grad=True)
    states = torch.randn(64, 5, 7)
    q_tot = mixer(qs, states)
    assert q_tot.shape == (64, 5)
    (grad,) = torch.autograd.grad(q_tot.sum(), qs)
    assert (grad >= 0).all()
    assert (grad > 0).any()


def test_masked_argmax_never_picks_an_illegal_action():
    gen = torch.Generator().manual_seed(1)
    q = torch.randn(500, 3, 9, generator=gen) * 100
    avail = torch.rand(500, 3, 9, generator=gen) < 0.3
    avail[..., 4] = avail[..., 4] | ~avail.any(-1)  # every agent has a legal action
    a = masked_argmax(q, avail)
    assert avail.gather(-1, a.unsqueeze(-1)).all()
    # and it is the best legal one
    best = torch.where(avail, q, torch.tensor(float("-inf"))).max(-1).values
    assert torch.equal(q.gather(-1, a.unsqueeze(-1)).squeeze(-1), best)
    # an illegal action with the largest Q is never taken
    q2 = q.clone()
    q2[~avail] = 1e6
    assert avail.gather(-1, masked_argmax(q2, avail).unsqueeze(-1)).all()


def test_inputs_carry_last_action_and_agent_id():
    obs = torch.zeros(2, 4, 3, 5)
    actions = torch.tensor([[[1, 2, 0]] * 4] * 2)
    x = build_inputs(obs, shift_actions(actions), n_actions=6, agent_id=True)
    assert x.shape == (2, 4, 3, 5 + 6 + 3)
    assert x[:, 0, :, 5:11].sum() == 0  # no last action at t = 0
    assert torch.equal(x[0, 1, 1, 5:11], torch.eye(6)[2])
    assert torch.equal(x[0, 2, 2, 11:], torch.eye(3)[2])


def _reference_targets(nets: QMIXNetworks, ep, gamma: float, double_q: bool) -> np.ndarray:
    """Slow per-episode, per-step recomputation: unroll agents one step at a time, then a loop over t."""
    b, t = ep.filled.shape
    out = np.zeros((b, t - 1), np.float32)
    with torch.no_grad():
        for i in range(b):
            h_on = h_tg = None
            q_on, q_tg = [], []
            for s in range(ep.length[i] + 1):
                last = torch.from_numpy(ep.actions[i, s - 1] if s > 0 else np.full(ep.n_agents, -1))[None]
                x = nets.inputs(torch.from_numpy(ep.obs[i, s])[None], last)
                qo, h_on = nets.agent.forward_step(x, h_on)
                qt, h_tg = nets.target_agent.forward_step(x, h_tg)
                q_on.append(qo[0])
                q_tg.append(qt[0])
            for s in range(ep.length[i]):
                nxt = s + 1
                agent_next = []
                for j in range(ep.n_agents):
                    legal = np.flatnonzero(ep.avail_actions[i, nxt, j])
                    chooser = q_on[nxt][j] if double_q else q_tg[nxt][j]
                    best = legal[int(torch.argmax(chooser[legal]))]
                    agent_next.append(q_tg[nxt][j, best])
                state = (torch.from_numpy(ep.state[i, nxt]) - nets.state_mean) / nets.state_std
                next_tot = nets.target_mixer(torch.stack(agent_next)[None], state[None])
                cont = 0.0 if ep.terminated[i, s] else 1.0
                out[i, s] = ep.reward[i, s] + gamma * cont * float(next_tot[0])
    return out


@pytest.mark.parametrize("double_q", [True, False])
def test_vectorised_td_target_equals_per_step_reference(double_q):
    ep = toy_episodes(n_episodes=6, episode_limit=9, seed=3)
    nets = _nets(ep)
    batch = {
        k: torch.from_numpy(np.ascontiguousarray(getattr(ep, k)))
        for k in ("obs", "state", "avail_actions", "actions", "reward", "terminated", "filled")
    }
    out = nets.train_outputs(batch, gamma=0.9, double_q=double_q)
    ref = _reference_targets(nets, ep, gamma=0.9, double_q=double_q)
    mask = ep.filled[:, :-1]
    np.testing.assert_allclose(out.target.numpy()[mask], ref[mask], rtol=1e-4, atol=1e-5)
    assert out.mask.numpy().astype(bool).tolist() == mask.tolist()
    # A truncated episode bootstraps from its terminal observation; a terminated one does not.
    trunc = int(np.flatnonzero(~ep.terminated.any(1))[0])
    last = ep.length[trunc] - 1
    assert abs(out.target[trunc, last].item() - ep.reward[trunc, last]) > 1e-6


def test_trimmed_batch_gives_the_same_targets_as_the_full_one():
    ep = toy_episodes(n_episodes=5, episode_limit=12, seed=4)
    nets = _nets(ep)
    full = {
        k: torch.from_numpy(np.ascontiguousarray(getattr(ep, k)))
        for k in ("obs", "state", "avail_actions", "actions", "reward", "terminated", "filled")
    }
    idx = np.array([1, 2])
    trimmed = {k: torch.from_numpy(v) for k, v in EpisodeSampler(ep, 0).take(idx).items()}
    a = nets.train_outputs(full, 0.99).target[idx][:, : trimmed["obs"].shape[1] - 1]
    b = nets.train_outputs(trimmed, 0.99).target
    m = trimmed["filled"][:, :-1]
    torch.testing.assert_close(a[m], b[m])


def test_losses_are_masked_and_finite():
    ep = toy_episodes(n_episodes=6, seed=5)
    nets = _nets(ep)
    batch = _torch_batch(ep)
    out = nets.train_outputs(batch, 0.99)
    loss, stats = qmix_loss(out, cql_weight=0.0)
    assert torch.isfinite(loss) and "cql_loss" not in stats
    loss_cql, stats_cql = qmix_loss(out, cql_weight=2.0)
    assert torch.isclose(loss_cql, loss + 2.0 * cql_loss(out))
    assert stats_cql["cql_loss"] >= 0  # logsumexp >= any single legal Q
    # Garbage in padding rows must not change any loss.
    ep2 = toy_episodes(n_episodes=6, seed=5)
    for i in range(len(ep2)):
        ep2.reward[i, ep2.length[i] :] = 1e3
        ep2.obs[i, ep2.length[i] + 1 :] = 1e3
        ep2.state[i, ep2.length[i] + 1 :] = 1e3
    out2 = nets.train_outputs(_torch_batch(ep2), 0.99)
    torch.testing.assert_close(qmix_loss(out2, 1.0)[0], qmix_loss(out, 1.0)[0])
    bc_nets = _nets(ep, mixer=False)
    l_bc, s_bc = bc_loss(bc_nets.train_outputs(batch, 0.99))
    assert torch.isfinite(l_bc) and 0.0 <= s_bc["bc_accuracy"] <= 1.0


def test_bc_gradient_steps_fit_the_dataset_actions():
    ep = toy_episodes(n_episodes=8, seed=6)
    nets = _nets(ep, mixer=False)
    batch = _torch_batch(ep)
    opt = torch.optim.Adam(nets.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        loss, _stats = bc_loss(nets.train_outputs(batch, 0.99))
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_greedy_act_matches_sequence_unroll():
    ep = toy_episodes(n_episodes=4, seed=7)
    nets = _nets(ep)
    batch = _torch_batch(ep)
    q_seq, _ = nets.agent.forward_seq(nets.inputs(batch["obs"], shift_actions(batch["actions"])))
    h = None
    last = None
    for s in range(3):
        a, h = nets.act(batch["obs"][:, s], batch["avail_actions"][:, s], h, last)
        torch.testing.assert_close(a, masked_argmax(q_seq[:, s], batch["avail_actions"][:, s]))
        last = batch["actions"][:, s]  # teacher-forced, as in the sequence unroll


def test_a_feature_constant_in_training_is_only_centred():
    """Divided by a clamped near-zero std, a feature constant in the training data would jump by ~1000 the first
    time an evaluation episode moves it (a unit type bit that changes when a unit dies)."""
    states = torch.zeros(50, 3)
    states[:, 0] = torch.linspace(0.0, 1.0, 50)  # varies
    states[:, 1] = 0.7  # constant
    states[:, 2] = torch.linspace(0.0, 1e-4, 50)  # nearly constant but moving: its own (clamped) scale
    nets = _nets(toy_episodes(4, state_dim=3, seed=1))
    nets.fit_state_normaliser(states)
    assert nets.state_std[1] == 1.0 and torch.isclose(nets.state_std[0], states[:, 0].std())
    assert nets.state_std[2] == pytest.approx(1e-3)
    moved = nets.norm_state(torch.tensor([0.5, 1.7, 0.0]))
    assert moved[1] == pytest.approx(1.0)  # one unit of change stays one unit
