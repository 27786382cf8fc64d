"""Box BC (``evaluate.algorithm: box_bc``) is TD3+BC's actor without the Q term: its loss equals TD3+BC's actor
loss at alpha = 0 and a hand-computed MSE to the data's actions, an update moves the actor only (no critic, no
target), and it fits the data's actions."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import torch

from rayeaq.learners import LEARNERS
from rayeaq.learners.box_bc.run import BoxBCRun, bc_loss
from rayeaq.learners.td3bc.config import ContinuousSettings
from rayeaq.learners.td3bc.losses import actor_loss
from rayeaq.learners.td3bc.networks import NetSpec, TD3Networks
from rayeaq.learners.td3bc.transitions import TransitionSampler
from support.box_episodes import box_batch


def test_box_bc_loss_is_td3bc_actor_loss_without_q_and_the_mse():
    torch.manual_seed(0)
    nets = TD3Networks(NetSpec(n_agents=3, obs_dim=4, action_dim=2, action_low=-1.0, action_high=1.0, hidden_dim=8))
    nets.fit_obs_normaliser(torch.randn(40, 3, 4) * 3 + 1)
    obs, actions = torch.randn(16, 3, 4), torch.rand(16, 3, 2) * 2 - 1
    loss, _ = bc_loss(nets, obs, actions)
    reference, _ = actor_loss(nets, {"obs": obs, "actions": actions}, alpha=0.0)
    torch.testing.assert_close(loss, reference)
    by_hand = 0.0
    with torch.no_grad():
        for i in range(3):  # slow reference: agent by agent, sample by sample
            o = (obs[:, i] - nets.obs_mean[i, 0]) / nets.obs_std[i, 0]
            pi = torch.tanh(nets.actor(o[None].expand(3, -1, -1))[i])
            by_hand += sum(float(((pi[b] - actions[b, i]) ** 2).sum()) for b in range(16)) / 16
    assert abs(float(loss) - by_hand) < 1e-5


def _run(seed: int = 0) -> tuple[BoxBCRun, TransitionSampler]:
    sampler = TransitionSampler(box_batch(6, seed=3), seed=1)
    s = ContinuousSettings(hidden_dim=32, lr=3e-3, batch_size=64)
    return BoxBCRun(s, SimpleNamespace(sampler=sampler), seed), sampler  # type: ignore[arg-type]


def test_an_update_moves_only_the_actor_and_reports_the_mse():
    run, sampler = _run()
    batch = {k: torch.from_numpy(v).float() for k, v in sampler.sample(64).items()}
    before = copy.deepcopy(run.nets.state_dict())
    with torch.no_grad():
        expected = float(((run.act_unit(batch["obs"]) - batch["actions"]) ** 2).sum(-1).mean(0).sum())
    row = run.update(batch)
    assert abs(row["actor_loss"] - expected) < 1e-5
    after = run.nets.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and all(k.startswith("actor.") for k in moved), moved  # no critic or target update
    assert set(run.state_dict()) == {"actor", "obs_mean", "obs_std"}


def test_box_bc_fits_the_data_actions_and_is_registered():
    run, sampler = _run()
    batch = {k: torch.from_numpy(v).float() for k, v in sampler.sample(64).items()}
    first = run.update(batch)["bc_mse"]
    for _ in range(300):
        last = run.update(batch)["bc_mse"]
    assert last < 0.1 * first  # memorises a fixed minibatch: the gradient is the MSE's
    assert LEARNERS.get("box_bc").name == "box_bc"
