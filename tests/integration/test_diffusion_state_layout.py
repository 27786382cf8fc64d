"""The state-derived layout: encode -> decode of real SMAX episodes reproduces SMAX's own observations,
available actions, rewards, ends and wins exactly; noisy encodings still decode to the same episodes."""

from __future__ import annotations

import numpy as np
import pytest

from rayeaq.data.reader import load_dataset
from rayeaq.generators.eaq.layout import Layout, decode, encode_episodes
from rayeaq.generators.eaq.train import fit_normalizer


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from rayeaq.envs.smax.maps import smax_spec
    from rayeaq.stages.collect.core import collect_local

    directory = tmp_path_factory.mktemp("state_layout") / "medium"
    collect_local(smax_spec("3m"), directory, 40, 0.2, root_seed=7, tier="medium")
    return load_dataset(directory)


def test_state_layout_round_trip_equals_smax(dataset):
    b = dataset.episodes
    layout = Layout.for_dataset(dataset.card, None, True, True, "state")
    assert (
        "obs" not in layout.index_arrays()
        and layout.channels < 0.4 * Layout.for_dataset(dataset.card, None, True, True).channels
    )
    x = encode_episodes(b, layout)
    norm = fit_normalizer(b, layout)
    decoded = decode(x, layout, norm, dataset.card.max_return)
    e = decoded.episodes
    np.testing.assert_array_equal(e.length, b.length)
    rows = np.arange(b.obs.shape[1])[None, :] <= b.length[:, None]
    np.testing.assert_allclose(e.obs[rows], b.obs[rows], atol=1e-6, rtol=0)
    assert (e.avail_actions == b.avail_actions).all()
    assert (e.actions[b.filled] == b.actions[b.filled]).all()
    np.testing.assert_allclose(e.reward, b.reward, atol=1e-5)
    assert (e.terminated == b.terminated).all() and (e.battle_won == b.battle_won).all()
    assert (decoded.legal_steps == decoded.agent_steps).all()


def test_state_layout_padding_repeats_the_terminal_state(dataset):
    """Padding rows hold the battle's absorbing end state, so a win's tail shows survivors (zero padding
    read as "everyone dead", and generated endings blurred into wipe-outs of both sides: no wins)."""
    b = dataset.episodes
    layout = Layout.for_dataset(dataset.card, None, True, True, "state")
    state = encode_episodes(b, layout)[:, layout.index_arrays()["state"]].transpose(0, 2, 1)  # [B, T, Ds]
    t = state.shape[1]
    for i in range(len(b)):
        end = int(b.length[i])
        np.testing.assert_array_equal(state[i, : end + 1], b.state[i, : end + 1])
        np.testing.assert_array_equal(
            state[i, end + 1 :], np.broadcast_to(b.state[i, end], (t - end - 1, b.state.shape[-1]))
        )
    won = np.flatnonzero(b.battle_won)
    assert len(won) > 0
    health = state[won, -1, :60:10]  # last padding row, per unit health (3 allies then 3 enemies)
    assert (health[:, :3].max(axis=1) > 0).all() and (health[:, 3:] == 0).all()


def test_state_layout_noisy_decode_keeps_episodes(dataset):
    b = dataset.episodes
    layout = Layout.for_dataset(dataset.card, None, True, True, "state")
    x = encode_episodes(b, layout)
    norm = fit_normalizer(b, layout)
    rng = np.random.default_rng(0)
    noisy = norm.unnormalize(np.clip(norm.normalize(x) + rng.normal(0.0, 0.05, x.shape), -1, 1)).astype(np.float32)
    e = decode(noisy, layout, norm, dataset.card.max_return).episodes
    assert (e.length == b.length).mean() > 0.9
    assert (e.battle_won == b.battle_won).mean() > 0.9
    assert np.abs(e.episode_return - b.episode_return).mean() < 0.15
    # by construction: health never rises after death, rewards equal SMAX's for the decoded states
    health = e.state[..., :60:10]
    dead_then_alive = (health[:, :-1] <= 0) & (health[:, 1:] > 0) & e.filled[:, 1:, None]
    assert not dead_then_alive.any()
    rises = (health[:, 1:] > health[:, :-1] + 1e-6) & e.filled[:, 1:, None]
    assert not rises.any() and (e.episode_return <= dataset.card.max_return + 1e-5).all()


def test_state_layout_refused_for_sc2():
    from types import SimpleNamespace

    from rayeaq.core.errors import ConfigError

    card = SimpleNamespace(
        backend="sc2", map="3m", n_agents=3, obs_shape=30, n_actions=9, state_shape=48, episode_limit=60, max_seq_len=61
    )
    with pytest.raises(ConfigError, match=r"diffusion.layout"):
        Layout.for_dataset(card, None, True, True, "state")
