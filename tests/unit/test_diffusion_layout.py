"""EAQ layout: encode -> normalise -> decode round trips on real SMAX episodes, windows, decoding rules."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest

from rayeaq.data.batch import EpisodeBatch
from rayeaq.data.shards import field_shapes, read_shard
from rayeaq.envs.smax.maps import smax_spec
from rayeaq.generators.eaq.layout import (
    Layout,
    Normalizer,
    decode,
    done_change_point,
    encode_episodes,
    encode_windows,
    window_starts,
)

COLLECT = textwrap.dedent(
    """
    import os, sys
    os.environ["JAX_PLATFORMS"] = "cpu"
    from rayeaq.stages.collect.config import CollectConfig
    from rayeaq.stages.collect.core import collect_shards, plan_shards
    from rayeaq.envs.smax.maps import smax_spec
    collect_shards(smax_spec("3m"), "medium", plan_shards(24, 24), 0.3, 0,
                   CollectConfig(envs_per_worker=24, chunk_steps=16), sys.argv[1])
    """
)


@pytest.fixture(scope="module")
def real_episodes(request, tmp_path_factory) -> EpisodeBatch:
    """Real SMAX 3m episodes: the session's collected dataset if conftest has one, else 24 collected here."""
    try:
        directory = request.getfixturevalue("real_3m_dataset")
    except pytest.FixtureLookupError:
        directory = None
    if directory is not None:
        from rayeaq.data.reader import load_dataset

        return load_dataset(directory).episodes
    out = tmp_path_factory.mktemp("real3m")
    subprocess.run([sys.executable, "-c", COLLECT, str(out)], check=True, capture_output=True, timeout=240)
    spec = smax_spec("3m")
    shapes = field_shapes(spec.max_seq_len, spec.n_agents, spec.obs_shape, spec.state_shape, spec.n_actions)
    return read_shard(next((out / "shards").glob("shard-*.parquet")), shapes)


def card_of(batch: EpisodeBatch, limit: int) -> SimpleNamespace:
    return SimpleNamespace(
        n_agents=batch.n_agents,
        obs_shape=batch.obs_dim,
        n_actions=batch.n_actions,
        state_shape=batch.state_dim,
        episode_limit=limit,
        max_seq_len=limit + 1,
        stats=SimpleNamespace(mean_length=float(batch.length.mean())),
        backend="smax",
        map="3m",
        has_agent_reward=False,
        has_success=True,
        resolved_action_space=lambda: {"kind": "discrete", "n": batch.n_actions},
    )


FIELDS = (
    "obs",
    "state",
    "avail_actions",
    "actions",
    "reward",
    "terminated",
    "filled",
    "length",
    "episode_return",
    "battle_won",
)


@pytest.mark.parametrize("include", [(True, True), (False, False)])
def test_round_trip_real_episodes(real_episodes: EpisodeBatch, include):
    batch = real_episodes
    assert batch.terminated.any() and len(batch) >= 8
    layout = Layout.for_dataset(card_of(batch, batch.max_seq_len - 1), None, *include)
    x = encode_episodes(batch, layout)
    assert x.shape == (len(batch), layout.channels, batch.max_seq_len)
    norm = Normalizer.fit(x, layout.binary_mask())
    z = norm.normalize(x)
    assert z.min() >= -1.0 - 1e-5 and z.max() <= 1.0 + 1e-5
    binary = layout.binary_mask()
    assert set(np.unique(z[:, binary])) <= {-1.0, 1.0}
    decoded = decode(norm.unnormalize(z), layout, norm, max_return=2.0)
    out = decoded.episodes
    for name in FIELDS:
        want, got = getattr(batch, name), getattr(out, name)
        if name == "state" and not layout.include_state:
            continue
        if name == "avail_actions" and not layout.include_avail:
            want = want & (np.arange(batch.max_seq_len)[None, :, None, None] <= batch.length[:, None, None, None])
            got = got & want.any(-1, keepdims=True)  # without avail channels every action is allowed on kept rows
            assert (np.take_along_axis(got, batch.actions[..., None], -1)[..., 0] | ~batch.filled[..., None]).all()
            continue
        if want.dtype.kind == "f":
            np.testing.assert_allclose(got, want, atol=1e-4, err_msg=name)
        else:
            np.testing.assert_array_equal(got, want, err_msg=name)
    assert decoded.valid.all()
    assert (decoded.legal_steps == decoded.agent_steps).all()


def test_qtot_channel_is_return_to_go(real_episodes: EpisodeBatch):
    batch = real_episodes
    layout = Layout.for_dataset(card_of(batch, batch.max_seq_len - 1), None, True, True)
    x = encode_episodes(batch, layout)
    for i in range(len(batch)):
        r = batch.reward[i]
        expected = [float(r[t : batch.length[i]].sum()) for t in range(batch.max_seq_len)]
        np.testing.assert_allclose(x[i, layout.qtot_channel], expected, atol=1e-5)
    np.testing.assert_allclose(x[:, layout.qtot_channel, 0], batch.episode_return, atol=1e-4)


def test_windows_decode_to_segments(real_episodes: EpisodeBatch):
    batch = real_episodes
    h = 8
    layout = Layout.for_dataset(card_of(batch, batch.max_seq_len - 1), h, True, True)
    x, valid = encode_windows(batch, layout)
    ep, st = window_starts(batch.length)
    assert x.shape == (len(ep), layout.channels, h) and valid.shape == (len(ep), h)
    norm = Normalizer.fit(x, layout.binary_mask())
    out = decode(x, layout, norm, max_return=2.0).episodes
    for w in range(len(ep)):
        i, s, n = ep[w], st[w], out.length[w]
        remaining = batch.length[i] - s
        ends_here = bool(batch.terminated[i].any()) and remaining <= h
        assert n == (remaining if ends_here else h - 1)
        rows = min(n + 1, h)  # a battle end on the window's last row keeps that row as terminal observation
        np.testing.assert_allclose(out.obs[w, :rows], batch.obs[i, s : s + rows], atol=1e-5)
        np.testing.assert_array_equal(out.actions[w, :n], batch.actions[i, s : s + n])
        assert out.terminated[w].any() == ends_here
        assert valid[w].sum() == min(max(remaining, 0), h)


def test_every_window_starts_at_the_first_row():
    """A generated window is written as an episode: training windows begin where episodes begin."""
    length = np.array([0, 1, 2, 7, 8, 13, 16, 19, 20])
    ep, st = window_starts(length)
    assert ep.tolist() == list(range(len(length))) and (st == 0).all()


def test_removed_window_stride_is_a_one_line_error(tmp_path):
    from rayeaq.core.errors import ConfigError
    from rayeaq.run_config import load_run_config

    with pytest.raises(ConfigError) as err:
        load_run_config(None, ["diffusion.window_stride=8"])
    message = str(err.value)
    assert "diffusion.window_stride" in message and "removed" in message and "row 0" in message
    assert "\n" not in message
    path = tmp_path / "old.yaml"
    path.write_text("diffusion:\n  window_stride: 8\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"{path}: diffusion.window_stride: was removed"):
        load_run_config(path, [])


def test_done_change_point_ignores_isolated_noise():
    rng = np.random.default_rng(0)
    h = 30
    change = rng.integers(1, h, size=200)
    clean = (np.arange(h)[None, :] >= change[:, None]).astype(np.float64)
    noisy = clean + rng.normal(0, 0.2, size=clean.shape)
    first, has = done_change_point(noisy)
    assert has.all() and (first == change).mean() > 0.97
    spike = np.zeros((1, h))
    spike[0, 3] = 0.8  # one spurious row above 0.5: the first crossing would end the episode at row 3
    first, has = done_change_point(spike)
    assert not has[0] and first[0] == h - 1
    dip = clean[:1].copy()
    dip[0, change[0] + 1 :] = 1.0
    if change[0] + 1 < h:
        dip[0, change[0] + 1] = 0.3  # one row inside the done run below 0.5
    first, has = done_change_point(dip)
    assert has[0] and first[0] == change[0]


def test_decode_of_noisy_encodings_recovers_episodes(real_episodes: EpisodeBatch):
    batch = real_episodes
    layout = Layout.for_dataset(card_of(batch, batch.max_seq_len - 1), None, True, True)
    x = encode_episodes(batch, layout)
    norm = Normalizer.fit(x, layout.binary_mask())
    noisy = (
        x
        + np.random.default_rng(1).normal(0, 0.15, size=x.shape).astype(np.float32)
        * (norm.high - norm.low)[None, :, None]
    )
    out = decode(noisy, layout, norm, max_return=2.0).episodes
    assert (out.length == batch.length).mean() > 0.95
    steps = batch.filled
    assert (out.actions[steps] == batch.actions[steps]).mean() > 0.95


def test_decode_masks_after_first_done_and_clips():
    spec = smax_spec("3m", 10)
    layout = Layout(spec.n_agents, spec.obs_shape, spec.n_actions, spec.state_shape, 10, 11, True, True)
    norm = Normalizer(np.full(layout.channels, -1.0, np.float32), np.full(layout.channels, 1.0, np.float32))
    norm.low[layout.binary_mask()], norm.high[layout.binary_mask()] = 0.0, 1.0
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, layout.channels, 11)).astype(np.float32) * 3
    x[:, layout.done_channel] = 0.0
    x[0, layout.done_channel, 4:] = 0.9  # done from row 4 on -> 5 steps
    x[0, layout.done_channel, 7] = 0.2  # a noisy row inside the done run does not reopen the episode
    x[1, layout.done_channel, 2] = 0.9  # an isolated spike does not end the episode
    idx = layout.index_arrays()
    x[:, idx["avail"]] = 1.0
    x[1, idx["avail"][0, :], 2] = 0.0  # agent 0 has no action on row 2 -> invalid
    dec = decode(x, layout, norm, max_return=2.0)
    e = dec.episodes
    assert list(e.length) == [5, 10]
    assert e.terminated[0, 4] and not e.terminated[1].any()
    assert not e.filled[0, 5:].any() and (e.obs[0, 6:] == 0).all() and (e.actions[0, 5:] == 0).all()
    assert e.reward.max() <= 1.0 and e.reward.min() >= -1.0 and np.abs(e.obs).max() <= 1.0
    assert list(dec.valid) == [True, False]


def test_normalizer_ignores_padding_rows():
    """Padding zeros must not widen a channel's range: a feature living in [0.5, 1] maps 0.5 -> -1."""
    h = 6
    length = np.array([2, 4])
    rows = np.arange(h)[None, :] <= length[:, None]
    x = np.where(rows[:, None, :], 0.5 + 0.5 * np.linspace(0, 1, h)[None, None, :], 0.0).astype(np.float32)
    binary = np.array([False])
    with_pad = Normalizer.fit(x, binary)
    without = Normalizer.fit(x, binary, rows)
    assert with_pad.low[0] == 0.0
    assert without.low[0] == pytest.approx(0.5) and without.high[0] == pytest.approx(0.5 + 0.5 * 4 / 5)
    assert without.normalize(x)[0, 0, 0] == pytest.approx(-1.0)
