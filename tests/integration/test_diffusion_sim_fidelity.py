"""Fidelity against the simulator: real SMAX transitions sit at the dynamics floor, shuffled ones far above;
real episodes are consistent with SMAX's own channels, tampered ones are caught."""

from __future__ import annotations

import numpy as np
import pytest

from rayeaq.data.reader import load_dataset


def _collect(tmp_path_factory, name: str, seed: int):
    from rayeaq.envs.smax.maps import smax_spec
    from rayeaq.stages.collect.core import collect_local

    directory = tmp_path_factory.mktemp(name) / "medium"
    collect_local(smax_spec("3m"), directory, 30, 0.2, root_seed=seed, tier="medium")
    return load_dataset(directory).episodes


@pytest.fixture(scope="module")
def two_real(tmp_path_factory):
    return _collect(tmp_path_factory, "simfid_a", 11), _collect(tmp_path_factory, "simfid_b", 12)


@pytest.fixture(scope="module")
def replay(two_real):
    from rayeaq.envs.smax.replay import StateReplay

    return StateReplay("3m", 60)


@pytest.mark.slow
def test_dynamics_residual_real_at_floor_shuffled_far_above(two_real, replay):
    from rayeaq.generators.eaq import sim_fidelity as sf

    a, b = two_real
    scale = sf.state_scale(a, 6)
    floors = []
    for batch in (a, b):
        ep, row = sf.transitions(batch, 300, 0)
        floors.append(sf.dynamics_distances(replay, batch, ep, row, batch.state[ep, row + 1], scale, 4, 0).mean())
    assert 0.0 < floors[0] < 0.2
    assert 0.5 < floors[1] / floors[0] < 2.0  # other real episodes: the same floor
    ep, row = sf.transitions(b, 300, 0)
    shuffled = b.state[ep, row + 1][np.random.default_rng(0).permutation(len(ep))]
    far = sf.dynamics_distances(replay, b, ep, row, shuffled, scale, 4, 0).mean()
    assert far / floors[0] > 5.0
    # the same rows replayed exactly: a state that does not move at all is also off the floor
    still = sf.dynamics_distances(replay, b, ep, row, b.state[ep, row], scale, 4, 0).mean()
    assert still / floors[0] > 2.0


def test_resimulated_real_steps_give_the_real_health(two_real, replay):
    """Health is deterministic in SMAX given the state, both teams' actions and the scripted enemy's memory; the
    memory (last target, default destination) is rebuilt from the episode and health put back on whole hit
    points, so re-simulating real steps gives the real next health (without the memory: 5 % of agents' next
    health differed on 3m; without whole hit points, units killed to 1e-7 stayed alive)."""
    from rayeaq.envs.smax.replay import simulate_steps
    from rayeaq.generators.eaq import sim_fidelity as sf

    for batch in two_real:
        ep, row = sf.transitions(batch, 300, 0)
        simulated = simulate_steps(replay, batch, ep, row, 2, 0)
        health = simulated[..., :60:10]  # [S, K, U]: 3 allies, 3 enemies
        real = batch.state[ep, row + 1, :60:10][:, None, :]
        assert np.mean(np.abs(health - real) < 1e-5) >= 0.99


def test_consistency_zero_on_real_and_catches_tampering(two_real, replay):
    from rayeaq.generators.eaq import sim_fidelity as sf

    a, _ = two_real
    clean = sf.consistency(replay, a)
    assert clean["obs_rows_inconsistent"] == 0.0 and clean["avail_mismatch"] == 0.0
    assert clean["reward_steps_inconsistent"] == 0.0 and clean["end_mismatch"] == 0.0
    assert clean["win_mismatch"] == 0.0 and clean["health_rises"] == 0.0
    bad = a.select(np.arange(len(a)))
    bad.reward = np.where(bad.filled, bad.reward + 0.1, 0.0).astype(np.float32)
    bad.battle_won = ~bad.battle_won
    bad.avail_actions = bad.avail_actions.copy()
    bad.avail_actions[:, :, :, 5:] = True
    tampered = sf.consistency(replay, bad)
    assert tampered["reward_steps_inconsistent"] == 1.0
    assert tampered["win_mismatch"] == 1.0
    assert tampered["avail_mismatch"] > 0.05


def test_q_consistency_zero_for_return_to_go():
    from rayeaq.generators.eaq.layout import return_to_go
    from rayeaq.generators.eaq.sim_fidelity import q_consistency

    rng = np.random.default_rng(0)
    length = np.array([3, 7, 10])
    filled = np.arange(11)[None, :] < length[:, None]
    reward = (rng.random((3, 11)) * filled).astype(np.float32)
    q = return_to_go(reward, filled)
    assert q_consistency(q, reward, length)["mean"] < 1e-6
    noisy = q + rng.normal(0.0, 0.2, q.shape).astype(np.float32)
    assert q_consistency(noisy, reward, length)["mean"] > 0.1


def test_memorisation_copies_vs_fresh(two_real):
    from rayeaq.generators.eaq import sim_fidelity as sf

    a, b = two_real
    scale = sf.state_scale(a, 6)
    copies = sf.memorisation(a, a.select(np.arange(10)), scale, heldout=b)
    fresh = sf.memorisation(a, b, scale, heldout=b)
    assert copies["near_copies"] == 1.0 and copies["ratio"] < 0.01
    assert fresh["ratio"] == pytest.approx(1.0)


@pytest.mark.slow
def test_augment_stage_writes_simulator_fidelity(tmp_path):
    """fidelity.json of a real SMAX augment run holds the simulator section: DOM2's copies of real episodes
    sit at the dynamics floor, are consistent, and are flagged as near copies of the training set."""
    import json

    from rayeaq.envs.smax.maps import smax_spec
    from rayeaq.run_config import load_run_config
    from rayeaq.stages.augment import FIDELITY_FILE, run_augment
    from rayeaq.stages.collect.core import collect_local

    real = tmp_path / "real"
    collect_local(smax_spec("3m"), real, 30, 0.0, root_seed=5, tier="good")
    cfg = load_run_config(
        None,
        [
            "augment.augmenter=dom2_replicate",
            "augment.dom2_thresholds=[0.3]",
            "augment.sim_transitions=200",
            "augment.sim_keys=2",
            "augment.fidelity_samples=50",
        ],
    )
    run_augment(cfg, real, None, tmp_path / "out")
    sim = json.loads((tmp_path / "out" / FIDELITY_FILE).read_text())["simulator"]
    assert sim["dynamics_residual"]["ratio"] == pytest.approx(1.0, abs=0.5)
    assert sim["consistency"]["synthetic"]["reward_steps_inconsistent"] == 0.0
    assert sim["memorisation"]["near_copies"] == 1.0
