"""EAQ on box actions (MPE): action channels hold the action values, normalised with the box and clipped on
decode; the MPE state layout reproduces real episodes through JaxMARL's functions; the physics residual sits at
its floor on real transitions and far above it on shuffled ones."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from rayeaq.data.batch import EpisodeBatch
from rayeaq.generators.eaq.layout import Layout, decode, encode_windows
from rayeaq.generators.eaq.train import fit_normalizer

LOW, HIGH = -1.0, 1.0


def box_card(batch: EpisodeBatch, map_name: str = "omar_spread") -> SimpleNamespace:
    limit = batch.max_seq_len - 1
    return SimpleNamespace(
        backend="mpe",
        map=map_name,
        n_agents=batch.n_agents,
        obs_shape=batch.obs_dim,
        n_actions=batch.n_actions,
        state_shape=batch.state_dim,
        episode_limit=limit,
        max_seq_len=limit + 1,
        stats=SimpleNamespace(mean_length=float(batch.length.mean())),
        has_agent_reward=batch.agent_reward is not None,
        has_success=False,
        resolved_action_space=lambda: {"kind": "box", "dim": batch.n_actions, "low": LOW, "high": HIGH},
    )


def toy_box_episodes(b: int = 12, limit: int = 25, n: int = 3, do: int = 18, ds: int = 24, da: int = 2, seed: int = 0):
    """Full-length truncated box episodes (MPE's shape) with random values; actions use only [-0.6, 0.6]."""
    rng = np.random.default_rng(seed)
    t = limit + 1
    filled = np.zeros((b, t), bool)
    filled[:, :limit] = True
    agent_reward = rng.normal(size=(b, t, n)).astype(np.float32) * filled[:, :, None]
    reward = agent_reward.mean(-1)
    return EpisodeBatch(
        obs=rng.normal(size=(b, t, n, do)).astype(np.float32),
        state=rng.normal(size=(b, t, ds)).astype(np.float32),
        avail_actions=None,
        actions=(rng.uniform(-0.6, 0.6, size=(b, t, n, da)) * filled[:, :, None, None]).astype(np.float32),
        reward=reward.astype(np.float32),
        terminated=np.zeros((b, t), bool),
        filled=filled,
        episode_id=np.arange(b),
        length=np.full(b, limit),
        episode_return=reward.sum(1).astype(np.float32),
        battle_won=np.zeros(b, bool),
        seed=np.arange(b),
        source=np.array(["real"] * b, dtype=object),
        behaviour_policy=np.array(["test"] * b, dtype=object),
        agent_reward=agent_reward,
    )


def test_box_layout_has_value_channels_and_no_avail():
    batch = toy_box_episodes()
    layout = Layout.for_dataset(box_card(batch), None, True, True)
    assert layout.action_kind == "box" and not layout.include_avail
    idx = layout.index_arrays()
    assert idx["act"].shape == (3, 2) and "avail" not in idx
    assert not layout.binary_mask()[idx["act"].ravel()].any()
    assert idx["extra"].shape == (3,)  # the per-agent rewards
    norm = fit_normalizer(batch, layout)
    # the box's bounds, not the [-0.6, 0.6] the data happen to use
    assert np.allclose(norm.low[idx["act"].ravel()], LOW) and np.allclose(norm.high[idx["act"].ravel()], HIGH)


@pytest.mark.parametrize("sigma", [0.0, 0.02, 0.5])
def test_decode_of_noisy_box_encodings(sigma):
    """Noise on the normalised scale moves a decoded action by at most that noise (× half the box width) and
    never out of the box; the per-agent rewards, rewards, obs and state come back the same way."""
    batch = toy_box_episodes()
    layout = Layout.for_dataset(box_card(batch), None, True, True)
    norm = fit_normalizer(batch, layout)
    x, _ = encode_windows(batch, layout)
    noise = np.random.default_rng(1).normal(size=x.shape).astype(np.float32) * sigma
    noisy = norm.unnormalize(norm.normalize(x) + noise)
    assert layout.fixed_length  # every real episode ran to the limit: a done cannot cut a window short
    noisy[:, layout.done_channel, 3:] = 1.0
    dec = decode(noisy, layout, norm, max_return=750.0)
    e = dec.episodes
    assert e.is_box and e.avail_actions is None and e.agent_reward is not None
    assert (e.length == 25).all() and e.filled[:, 0].all() and not e.battle_won.any() and not e.terminated.any()
    assert (e.actions >= LOW).all() and (e.actions <= HIGH).all()
    bound = np.abs(noise[:, layout.index_arrays()["act"]]).max() * (HIGH - LOW) / 2 + 1e-5
    assert np.abs(e.actions - batch.actions)[batch.filled].max() <= bound
    assert (dec.legal_steps == dec.agent_steps).all() and not dec.no_action.any()
    if sigma == 0.0:
        for name in ("obs", "state", "reward", "agent_reward"):
            np.testing.assert_allclose(getattr(e, name), getattr(batch, name), atol=1e-4, err_msg=name)
    if sigma == 0.5:  # raw values far outside the box are clipped to its bounds
        assert np.isclose(np.abs(e.actions[e.filled]), HIGH).any()


# ---- against the simulator (JaxMARL's MPE, a few seconds of compilation) ----------------------------------------
@pytest.fixture(scope="module")
def real_mpe():
    """12 real omar_spread episodes of uniform random actions, stepped by the vmapped MPE environment."""
    from rayeaq.envs.mpe.batch import MPEBatchEnv

    env = MPEBatchEnv("omar_spread", 12)
    rng = np.random.default_rng(0)
    obs, state = env.reset(np.arange(12))
    rows = {"obs": [obs], "state": [state], "actions": [], "reward": [], "agent_reward": []}
    done = False
    while not done:
        actions = rng.uniform(LOW, HIGH, size=(12, 3, 2)).astype(np.float32)
        obs, state, reward, agent_reward, done = env.step(actions)
        for k, v in (("obs", obs), ("state", state), ("actions", actions)):
            rows[k].append(v)
        rows["reward"].append(reward)
        rows["agent_reward"].append(agent_reward)
    for k in ("actions", "reward", "agent_reward"):  # the terminal row: no step
        rows[k].append(np.zeros_like(rows[k][0]))
    arr = {k: np.stack(v, axis=1).astype(np.float32) for k, v in rows.items()}
    filled = np.zeros((12, 26), bool)
    filled[:, :25] = True
    return EpisodeBatch(
        obs=arr["obs"],
        state=arr["state"],
        avail_actions=None,
        actions=arr["actions"],
        reward=arr["reward"],
        terminated=np.zeros((12, 26), bool),
        filled=filled,
        episode_id=np.arange(12),
        length=np.full(12, 25),
        episode_return=arr["reward"].sum(1),
        battle_won=np.zeros(12, bool),
        seed=np.arange(12),
        source=np.array(["real"] * 12, dtype=object),
        behaviour_policy=np.array(["random"] * 12, dtype=object),
        agent_reward=arr["agent_reward"],
    )


def test_mpe_state_layout_decodes_real_episodes_to_themselves(real_mpe):
    """Encoded with the state layout and decoded, a real episode's observations and (per-agent) rewards are
    recomputed by JaxMARL's functions from its states and equal the recorded ones."""
    layout = Layout.for_dataset(box_card(real_mpe), None, True, True, "state")
    assert layout.kind == "state" and "obs" not in layout.index_arrays() and layout.n_extra == 0
    norm = fit_normalizer(real_mpe, layout)
    x, _ = encode_windows(real_mpe, layout)
    e = decode(norm.unnormalize(norm.normalize(x)), layout, norm, max_return=750.0).episodes
    for name in ("obs", "state", "actions", "reward", "agent_reward"):
        np.testing.assert_allclose(getattr(e, name), getattr(real_mpe, name), atol=2e-4, err_msg=name)


def test_physics_residual_real_at_floor_shuffled_far_above(real_mpe):
    from rayeaq.envs.mpe.maps import MPE_MAPS
    from rayeaq.envs.mpe.replay import MPEReplay
    from rayeaq.generators.eaq.mpe_fidelity import physics_residual

    shuffled = real_mpe.select(np.arange(len(real_mpe)))
    perm = np.random.default_rng(3).permutation(25)
    shuffled.state = shuffled.state.copy()
    shuffled.state[:, :25] = real_mpe.state[:, perm]  # the same states, steps out of order
    out = physics_residual(MPEReplay("omar_spread"), real_mpe, shuffled, MPE_MAPS["omar_spread"], 1000, 0)
    assert out["real"]["mean"] < 1e-5 and out["real"]["transitions"] == 12 * 25
    assert out["ratio"] > 1e4 and out["relative_to_step"] > 1.0, out


def test_return_range_starts_at_the_real_minimum():
    """MPE spread: rewards never positive (max_return 0). Returns down to the real minimum are kept; below it by
    more than the tolerance, or above 0 by more than it, they are dropped — and nothing is rescaled."""
    from rayeaq.generators.eaq.filtering import filter_samples

    batch = toy_box_episodes(b=4)
    batch.episode_return = np.array([-20.0, -39.0, -60.0, 5.0], np.float32)  # real minimum -40, span 40, tol 2
    reward = batch.reward.copy()
    keep, report = filter_samples(
        batch,
        no_action=np.zeros(4, bool),
        legal=np.full(4, 75),
        agent_steps=np.full(4, 75),
        max_return=0.0,
        drop_illegal=True,
        tolerance=0.05,
        min_return=-40.0,
    )
    assert keep.tolist() == [True, True, False, False] and report["dropped"]["return_out_of_range"] == 2
    assert report["clamped_to_max_return"] == 0 and np.array_equal(batch.reward, reward)


def test_dom2_thresholds_without_a_positive_maximum_use_the_reference_returns():
    from rayeaq.augmenters.baselines import dom2_replicate, threshold_scale
    from rayeaq.core.errors import ConfigError

    card = SimpleNamespace(
        backend="mpe", map="spread", max_return=0.0, reference_returns={"random": -40.0, "expert": -10.0}
    )
    origin, unit, _ = threshold_scale(card)
    assert (origin, unit) == (-40.0, 30.0)
    batch = toy_box_episodes(b=3)
    batch.episode_return = np.array([-30.0, -20.0, -5.0], np.float32)
    copies = dom2_replicate(batch, [0.5, 0.9], unit, origin)  # thresholds at returns -25 and -13
    assert copies.episode_id.tolist() == [1, 2, 2]
    with pytest.raises(ConfigError, match="dom2_replicate needs"):
        threshold_scale(SimpleNamespace(backend="mpe", map="spread", max_return=0.0, reference_returns={}))
