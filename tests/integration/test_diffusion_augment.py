"""Augment: every augmenter writes a dataset the reader loads and validates; fidelity; mixing; config errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rayeaq.augmenters.mixing import load_augmented, synthetic_weight
from rayeaq.core.errors import ConfigError, DatasetError
from rayeaq.data.reader import load_dataset
from rayeaq.data.writer import write_dataset
from rayeaq.generators.eaq.fit_core import fit_inputs, load_real_dataset
from rayeaq.generators.eaq.layout import Layout, Normalizer
from rayeaq.generators.eaq.train import Trainer, save_checkpoint
from rayeaq.run_config import load_run_config
from rayeaq.stages.augment import FIDELITY_FILE, run_augment
from support.random_episodes import toy_spec
from support.smooth_episodes import toy_episodes

SPEC = toy_spec(episode_limit=15, n_agents=2, state_dim=8)
TINY = [
    "diffusion.horizon=8",
    "diffusion.dim=8",
    "diffusion.dim_mults=[1,2]",
    "diffusion.n_diffusion_steps=10",
    "diffusion.groups=4",
]


@pytest.fixture(scope="module")
def real_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("real")
    write_dataset(directory, toy_episodes(SPEC, 20, seed=3), SPEC, source="real", tier="medium")
    return directory


def make_checkpoint(real_dir, directory, q_weight: float, objective: str = "qtot"):
    """A briefly trained generator checkpoint written by the plain training core (no Ray Train)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)  # the initial weights: the same generator whatever ran before
    cfg = load_run_config(
        None,
        TINY
        + [f"diffusion.q_weight={q_weight}", f"diffusion.objective={objective}", "fit.steps=30", "fit.batch_size=8"],
    )
    inputs = fit_inputs(cfg, load_real_dataset(real_dir))
    from rayeaq.generators.eaq.train import prepare_data

    layout, norm = Layout.from_dict(inputs["layout"]), Normalizer.from_dict(inputs["normalizer"])
    trainer = Trainer(cfg.diffusion, cfg.fit, layout, norm)
    trainer.run(prepare_data(load_dataset(real_dir).episodes, layout, norm), seed=0)
    save_checkpoint(
        directory,
        trainer.payload(
            {"spec": inputs["spec"], "dataset": inputs["dataset"], "history": [], "resumed_from": 0, "world_size": 1}
        ),
    )
    return directory


def test_eaq_writes_valid_synthetic_dataset(ray_local, real_dir, tmp_path):
    ckpt = make_checkpoint(real_dir, tmp_path / "ckpt", q_weight=0.5)
    cfg = load_run_config(
        None,
        TINY
        + [
            "augment.augmenter=eaq",
            "augment.num_episodes=10",
            "augment.workers=2",
            "augment.sampling_steps=5",
            "augment.drop_illegal=false",
            "augment.oversample=4",
        ],
    )
    report = run_augment(cfg, real_dir, ckpt, tmp_path / "out")
    data = load_dataset(tmp_path / "out")
    assert data.card.source == "synthetic" and len(data.episodes) == report["kept"] == 10
    # a barely trained generator writes impossible returns too: those are dropped (counted), never written
    assert (data.episodes.episode_return <= 2.0 + 1e-3).all() and set(report["dropped"]) >= {"return_out_of_range"}
    assert (data.episodes.source == "synthetic").all()
    payload = torch.load(ckpt / "generator.pt", weights_only=True)
    assert data.card.generation["generator_fingerprint"] == payload["fingerprint"]
    e = data.episodes
    assert (e.length >= 1).all() and not e.filled[np.arange(len(e)), e.length].any()
    chosen = np.take_along_axis(e.avail_actions, e.actions[..., None], -1)[..., 0]
    assert chosen[e.filled].all()  # decoded actions are always available ones
    saved = json.loads((tmp_path / "out" / FIDELITY_FILE).read_text())
    for key in ("share_kept", "legal_action_share", "reward", "return", "obs_wasserstein", "obs_mmd", "coverage"):
        assert key in saved
    assert 0.0 <= saved["legal_action_share"] <= 1.0 and saved["sampled"] == 40

    with pytest.raises(ConfigError, match="eaq_noq needs"):
        run_augment(load_run_config(None, TINY + ["augment.augmenter=eaq_noq"]), real_dir, ckpt, tmp_path / "x")


def test_one_return_conditioned_generator_serves_eaq_and_eaq_noq(ray_local, real_dir, tmp_path):
    """objective return: λ is the guidance scale applied when sampling, so one checkpoint (fitted with any λ) is
    sampled at this run's diffusion.q_weight by eaq and unconditionally (λ 0) by eaq_noq; eaq at λ 0 is refused."""
    ckpt = make_checkpoint(real_dir, tmp_path / "ckpt", q_weight=0.0, objective="return")
    base = TINY + ["diffusion.objective=return", "augment.num_episodes=4", "augment.sampling_steps=3"]
    base += ["augment.drop_illegal=false", "augment.oversample=2", "augment.fidelity_samples=10", "augment.workers=1"]
    cards = {}
    for name, lam in (("eaq", 2.0), ("eaq_noq", 1.0)):
        cfg = load_run_config(None, base + [f"augment.augmenter={name}", f"diffusion.q_weight={lam}"])
        run_augment(cfg, real_dir, ckpt, tmp_path / name)
        cards[name] = load_dataset(tmp_path / name).card.generation
    assert (cards["eaq"]["guidance"], cards["eaq_noq"]["guidance"]) == (2.0, 0.0)
    assert cards["eaq"]["generator_fingerprint"] == cards["eaq_noq"]["generator_fingerprint"]
    with pytest.raises(ConfigError, match="guidance scale"):
        run_augment(load_run_config(None, base + ["diffusion.q_weight=0"]), real_dir, ckpt, tmp_path / "x")


def test_dom2_replicate_copies_once_per_threshold(real_dir, tmp_path):
    # thresholds are fractions of max_return (2.0): 0.15 -> 0.3, 0.5 -> 1.0; a return AT a threshold counts (≥)
    real = load_dataset(real_dir).episodes
    at = float(np.sort(real.episode_return)[len(real) // 2])
    cfg = load_run_config(None, ["augment.augmenter=dom2_replicate", f"augment.dom2_thresholds=[0.15,{at / 2.0!r}]"])
    report = run_augment(cfg, real_dir, None, tmp_path / "dom2")
    syn = load_dataset(tmp_path / "dom2").episodes
    expected = int((real.episode_return >= 0.3).sum() + (real.episode_return >= at - 1e-6).sum())
    assert len(syn) == expected and (syn.episode_return >= 0.3 - 1e-6).all()
    assert (syn.episode_return == np.float32(at)).any()  # the episode exactly at the threshold was copied
    assert report["budget"]["kind"] == "transitions" and report["budget"]["mixing_weight"] <= 1.0


def test_gaussian_noise_and_mixing(real_dir, tmp_path):
    cfg = load_run_config(None, ["augment.augmenter=gaussian_noise", "augment.ratio=1.0", "augment.noise_sigma=0.1"])
    report = run_augment(cfg, real_dir, None, tmp_path / "noise")
    syn = load_dataset(tmp_path / "noise")
    assert len(syn.episodes) == 20 and report["obs_wasserstein"]["mean"] > 0
    assert syn.card.generation["augmenter"] == "gaussian_noise"
    mixed, _ = load_augmented(real_dir, tmp_path / "noise", ratio=0.5, seed=0)
    assert len(mixed) == 30 and (mixed.source == "synthetic").sum() == 10
    assert np.unique(mixed.episode_id).size == 30
    capped, _ = load_augmented(real_dir, tmp_path / "noise", ratio=2.0, seed=0)  # 40 asked, 20 there
    assert len(capped) == 40 and (capped.source == "synthetic").sum() == 20
    syn_ids = capped.episode_id[capped.source == "synthetic"]
    assert np.unique(syn_ids).size == 20  # each synthetic episode at most once
    with pytest.raises(DatasetError, match="ratio must be >= 0"):
        load_augmented(real_dir, tmp_path / "noise", ratio=-1.0, seed=0)
    run_augment(load_run_config(None, ["augment.augmenter=none"]), real_dir, None, tmp_path / "none")
    alone, _ = load_augmented(real_dir, tmp_path / "none", ratio=1.0, seed=0)
    assert len(alone) == 20 and json.loads((tmp_path / "none" / FIDELITY_FILE).read_text())["kept"] == 0


@pytest.mark.parametrize(
    "override, expected",
    [
        ("augment.augmenter=diffuser", "augment.augmenter: expected one of"),
        ("diffusion.kernel_size=4", "diffusion.kernel_size: expected an odd kernel size"),
        ("diffusion.q_weight=-1", "diffusion.q_weight"),
        ("fit.workers=0", "fit.workers"),
        ("diffusion.groups=5", "diffusion.groups: expected a divisor"),
        ("diffusion.dim=6 diffusion.dim_mults=[2] diffusion.groups=4", "diffusion.groups: expected a divisor of dim"),
        ("diffusion.dim=9 diffusion.groups=1", "diffusion.dim: expected an even number"),
        ("diffusion.beta_end=0.00001", "diffusion.beta_end: expected beta_end > beta_start"),
        ("fit.bogus=1", "fit.bogus: unknown key"),
    ],
)
def test_config_errors_are_one_line(override, expected):
    with pytest.raises(ConfigError) as err:
        load_run_config(None, override.split())
    assert expected in str(err.value) and "\n" not in str(err.value) and str(err.value).startswith("command line")


def test_horizon_longer_than_episode_is_an_error(real_dir):
    cfg = load_run_config(None, ["diffusion.horizon=64"])
    with pytest.raises(ConfigError, match=r"diffusion\.horizon"):
        fit_inputs(cfg, load_real_dataset(real_dir))


def test_budgets_equal_transitions_across_arms(real_dir, tmp_path):
    """Under budget=transitions every arm adds ratio × real transitions (short or long episodes alike)."""
    from types import SimpleNamespace

    from rayeaq.augmenters.mixing import budget_weight

    def card(episodes, transitions):
        return SimpleNamespace(stats=SimpleNamespace(episodes=episodes, transitions=transitions))

    real = card(100, 1400)
    arms = {"long": card(200, 4000), "short": card(300, 600), "same": card(100, 1400)}
    for name, syn in arms.items():
        _, achieved = budget_weight("transitions", 0.5, real, syn)
        expected = min(0.5, syn.stats.transitions / 1400)
        assert achieved["achieved_transition_ratio"] == pytest.approx(expected), name
    _, long_ep = budget_weight("episodes", 0.5, real, arms["long"])
    assert long_ep["achieved_episode_ratio"] == pytest.approx(0.5)
    assert long_ep["achieved_transition_ratio"] == pytest.approx(1000 / 1400)  # episodes budget: unequal data
    noise = load_run_config(None, ["augment.augmenter=gaussian_noise", "augment.ratio=0.5"])
    report = run_augment(noise, real_dir, None, tmp_path / "noise_budget")
    assert report["budget"]["achieved_transition_ratio"] == pytest.approx(0.5, abs=0.2)


def test_synthetic_weight_caps_at_one_copy():
    assert synthetic_weight(0.5, 20, 40) == (0.25, 0.5)
    assert synthetic_weight(1.0, 100, 7) == (1.0, 0.07)  # a weak generator's 7 episodes are used once, not 14 times
    assert synthetic_weight(0.0, 20, 40) == (0.0, 0.0) and synthetic_weight(1.0, 20, 0) == (0.0, 0.0)


def test_rerun_into_out_drops_the_old_dataset(real_dir, tmp_path):
    out = tmp_path / "aug"
    run_augment(load_run_config(None, ["augment.augmenter=gaussian_noise"]), real_dir, None, out)
    assert (out / "card.json").is_file() and (out / "shards").is_dir() and (out / "episodes.parquet").is_file()
    (out / "notes.txt").write_text("mine")
    run_augment(load_run_config(None, ["augment.augmenter=none"]), real_dir, None, out)
    assert not any((out / name).exists() for name in ("card.json", "shards", "episodes.parquet"))
    assert (out / "notes.txt").is_file() and json.loads((out / FIDELITY_FILE).read_text())["kept"] == 0
    alone, _ = load_augmented(real_dir, out, ratio=1.0, seed=0)
    assert len(alone) == 20 and (alone.source == "real").all()
    with pytest.raises(ConfigError, match="real dataset"):
        run_augment(load_run_config(None, ["augment.augmenter=none"]), real_dir, None, real_dir)


def test_dom2_without_qualifying_episode_names_thresholds(real_dir, tmp_path):
    best = float(load_dataset(real_dir).episodes.episode_return.max())
    cfg = load_run_config(None, ["augment.augmenter=dom2_replicate", "augment.dom2_thresholds=[25.0]"])
    with pytest.raises(ConfigError, match=r"augment\.dom2_thresholds") as err:
        run_augment(cfg, real_dir, None, tmp_path / "dom2")
    assert f"maximum episode return is {best:.3g}" in str(err.value) and "\n" not in str(err.value)


def test_returns_above_max_return_are_invalid(real_dir, tmp_path, monkeypatch):
    """A sampled episode whose return exceeds the card's max_return cannot happen in the game: dropped, counted."""
    import rayeaq.generators.eaq.ray_sample as ray_augment

    ckpt = make_checkpoint(real_dir, tmp_path / "ckpt", q_weight=0.5)
    episodes = load_dataset(real_dir).episodes.select(np.arange(12))
    episodes.reward[:4, 0] += 10.0  # four impossible episodes (max_return 2)
    episodes.episode_return = (episodes.reward * episodes.filled).sum(axis=1).astype(np.float32)

    def fake_sample(path, n, seed, acfg, guidance=None):
        assert n == 12
        steps = episodes.filled.sum(axis=1) * episodes.n_agents
        return {
            "episodes": episodes,
            "legal": steps,
            "agent_steps": steps,
            "valid": np.ones(n, bool),
            "no_action": np.zeros(n, bool),
            "qtot": np.zeros((n, 8), np.float32),
            "seed": np.zeros(n, np.int64),
        }

    monkeypatch.setattr(ray_augment, "sample_with_ray", fake_sample)
    cfg = load_run_config(None, TINY + ["augment.augmenter=eaq", "augment.num_episodes=8", "augment.oversample=1.5"])
    report = run_augment(cfg, real_dir, ckpt, tmp_path / "out")
    data = load_dataset(tmp_path / "out")
    assert report["dropped"]["return_out_of_range"] == 4 and report["kept"] == len(data.episodes) == 8
    assert (data.episodes.episode_return <= 2.0 + 1e-3).all()
    assert json.loads((tmp_path / "out" / FIDELITY_FILE).read_text())["dropped"]["return_out_of_range"] == 4


def test_samples_do_not_depend_on_the_number_of_sampling_tasks(ray_local, real_dir, tmp_path):
    from rayeaq.generators.eaq.ray_sample import chunk_sizes, sample_with_ray

    assert chunk_sizes(10, 4) == [4, 4, 2] and chunk_sizes(3, 8) == [3]
    ckpt = make_checkpoint(real_dir, tmp_path / "ckpt", q_weight=0.5)
    base = TINY + ["augment.augmenter=eaq", "augment.sampling_steps=3", "augment.batch_size=4"]
    one = sample_with_ray(ckpt, 10, 7, load_run_config(None, [*base, "augment.workers=1"]).augment)
    two = sample_with_ray(ckpt, 10, 7, load_run_config(None, [*base, "augment.workers=3"]).augment)
    assert len(one["episodes"]) == len(two["episodes"]) == 10
    for key in ("obs", "state", "actions", "reward", "filled"):
        np.testing.assert_array_equal(getattr(one["episodes"], key), getattr(two["episodes"], key))
    np.testing.assert_array_equal(one["qtot"], two["qtot"])
