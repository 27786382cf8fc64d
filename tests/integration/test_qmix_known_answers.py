"""Offline QMIX against known answers: one-step cooperative matrix games whose best joint action is known.

No Ray: the networks and losses of :mod:`rayeaq.learners.qmix` trained with Adam on fixed datasets of one-step
episodes (2 agents, 3 actions, constant observation and state). The answers come from the payoff matrix itself.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rayeaq.data.batch import EpisodeBatch
from rayeaq.learners.qmix.losses import bc_loss, qmix_loss
from rayeaq.learners.qmix.networks import NetSpec, QMIXNetworks

torch.set_num_threads(1)

# Monotonic in each agent's action (rows and columns increase): the best joint action is (2, 2).
MONOTONIC_PAYOFF = np.array([[0.0, 1.0, 2.0], [1.0, 3.0, 5.0], [2.0, 5.0, 8.0]], np.float32)


def matrix_episodes(joint_actions: list[tuple[int, int]], payoff: np.ndarray) -> EpisodeBatch:
    """One-step episodes (length 1, terminated): agents take ``joint_actions[i]`` and receive ``payoff[a1, a2]``."""
    b, n, a = len(joint_actions), 2, payoff.shape[0]
    acts = np.zeros((b, 2, n), np.int64)
    acts[:, 0] = np.asarray(joint_actions)
    reward = np.zeros((b, 2), np.float32)
    reward[:, 0] = [payoff[x, y] for x, y in joint_actions]
    terminated = np.zeros((b, 2), bool)
    terminated[:, 0] = True
    filled = np.zeros((b, 2), bool)
    filled[:, 0] = True
    return EpisodeBatch(
        obs=np.ones((b, 2, n, 1), np.float32),
        state=np.ones((b, 2, 1), np.float32),
        avail_actions=np.ones((b, 2, n, a), bool),
        actions=acts,
        reward=reward,
        terminated=terminated,
        filled=filled,
        episode_id=np.arange(b),
        length=np.ones(b, np.int64),
        episode_return=reward.sum(1),
        battle_won=np.zeros(b, bool),
        seed=np.arange(b),
        source=np.array(["real"] * b, dtype=object),
        behaviour_policy=np.array(["matrix"] * b, dtype=object),
    )


def _batch(ep: EpisodeBatch) -> dict[str, torch.Tensor]:
    names = ("obs", "state", "avail_actions", "actions", "reward", "terminated", "filled")
    return {k: torch.from_numpy(np.ascontiguousarray(getattr(ep, k))) for k in names}


def train(
    ep: EpisodeBatch,
    algorithm: str = "qmix",
    cql_kind: str = "agent",
    cql_weight: float = 0.0,
    steps: int = 400,
    seed: int = 0,
    ood_bias: float | None = None,
) -> QMIXNetworks:
    """Adam on the whole dataset every step; ``ood_bias`` starts action 1 of both agents that much higher."""
    torch.manual_seed(seed)
    nets = QMIXNetworks(
        NetSpec(
            n_agents=2,
            n_actions=3,
            obs_dim=1,
            state_dim=1,
            hidden_dim=16,
            mixing_embed_dim=8,
            hypernet_embed=16,
            mixer=algorithm == "qmix",
        )
    )
    if ood_bias is not None:
        with torch.no_grad():
            nets.agent.fc2.bias[1] += ood_bias
        nets.update_targets()
    opt = torch.optim.Adam(nets.parameters(), lr=1e-2)
    batch = _batch(ep)
    samples = 16 if cql_kind == "joint" and cql_weight > 0 else 0
    for step in range(steps):
        out = nets.train_outputs(batch, gamma=0.99, cql_samples=samples)
        loss = bc_loss(out)[0] if algorithm == "bc" else qmix_loss(out, cql_weight, cql_kind)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 49:
            nets.update_targets()
    return nets


def greedy(nets: QMIXNetworks) -> tuple[int, int]:
    actions, _ = nets.act(torch.ones(1, 2, 1), torch.ones(1, 2, 3, dtype=torch.bool), None, None)
    return tuple(int(x) for x in actions[0])


def q_tot_table(nets: QMIXNetworks) -> np.ndarray:
    """Q_tot of every joint action ``[3, 3]`` (the online networks at the first step)."""
    q, _ = nets.agent.forward_step(nets.inputs(torch.ones(1, 2, 1), torch.full((1, 2), -1)))
    grid = torch.stack(torch.meshgrid(q[0, 0], q[0, 1], indexing="ij"), -1)  # [3, 3, 2]
    with torch.no_grad():
        return nets.mixer(grid, nets.norm_state(torch.ones(3, 3, 1))).numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_qmix_recovers_the_optimal_joint_action_of_a_monotonic_game_with_full_coverage(seed):
    data = [(x, y) for x in range(3) for y in range(3)] * 4  # every joint action, equally often
    nets = train(matrix_episodes(data, MONOTONIC_PAYOFF), steps=400, seed=seed)
    best = np.unravel_index(MONOTONIC_PAYOFF.argmax(), MONOTONIC_PAYOFF.shape)
    assert greedy(nets) == tuple(int(i) for i in best) == (2, 2)
    # A monotonic payoff is representable: Q_tot fits every cell (one-step episodes: Q_tot = reward).
    np.testing.assert_allclose(q_tot_table(nets), MONOTONIC_PAYOFF, atol=0.35)


@pytest.mark.parametrize("kind", ["agent", "joint"])
def test_conservative_term_keeps_the_in_data_action_where_plain_qmix_extrapolates(kind):
    # The data only ever shows (0, 0) (payoff 1); action 1 starts 5 higher for both agents and is never seen.
    ep = matrix_episodes([(0, 0)] * 8, MONOTONIC_PAYOFF)
    plain = train(ep, cql_weight=0.0, steps=300, ood_bias=5.0)
    assert greedy(plain) == (1, 1)  # nothing in TD pushes an unseen action down: plain QMIX extrapolates
    conservative = train(ep, cql_kind=kind, cql_weight=1.0, steps=300, ood_bias=5.0)
    assert greedy(conservative) == (0, 0)


def test_joint_conservative_qmix_exceeds_behaviour_cloning_on_a_mixture():
    # 90 % of the data is the poor joint action (0, 0), 10 % the best one (2, 2): BC imitates the mode,
    # an offline RL learner with the joint term (which pushes down unseen joint actions only) takes (2, 2).
    data = [(0, 0)] * 18 + [(2, 2)] * 2
    ep = matrix_episodes(data, MONOTONIC_PAYOFF)
    assert greedy(train(ep, algorithm="bc", steps=200)) == (0, 0)
    assert greedy(train(ep, cql_kind="joint", cql_weight=1.0, steps=400)) == (2, 2)
