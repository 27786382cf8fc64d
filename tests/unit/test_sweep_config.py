"""Sweep config checks (no Ray): every bad input is one line, found before any trial starts; grid dedupe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rayeaq.core.errors import ConfigError, DatasetError, UserError
from rayeaq.sweep.driver import (
    check_datasets,
    check_shared_datasets,
    load_sweep,
    plan,
    run_sweep,
)
from rayeaq.sweep.space import IGNORED_VALUE, label, trial_config, trial_params

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = str(REPO / "tune_configs" / "quickstart.yaml")
EAQ = str(REPO / "tune_configs" / "eaq.yaml")


def _space(text: str) -> list[str]:
    return [f"tune.space={text}"]


@pytest.mark.parametrize(
    "space, expected",
    [
        ("{diffusion.nope: {grid_search: [1, 2]}}", "tune.space.diffusion.nope: unknown key"),
        ("{augment.augmenter: {grid_search: []}}", "grid_search needs a non-empty list"),
        ("{augment.augmenter: {grid_search: [eaq, magic]}}", "augment.augmenter: expected one of"),
        ("{env.map: {grid_search: [3m, 99z]}}", "env.map: expected a SMAX map"),
        ("{collect_tier: {choice: [good, great]}}", "collect_tier: expected one of"),
        ("{ray.num_cpus: {grid_search: [1, 2]}}", "the ray section cannot vary"),
        ("{augment.ratio: {gridsearch: [0.5]}}", "expected a value or one of"),
        ("{augment.ratio: {uniform: [1.0, 0.5]}}", "uniform needs low < high"),
        ("{diffusion.horizon: {grid_search: [16, 1]}}", "diffusion.horizon"),
        ("{}", "expected at least one key to sweep"),
    ],
)
def test_bad_space_is_one_line_config_error(space, expected):
    with pytest.raises(ConfigError) as err:
        load_sweep(QUICKSTART, _space(space))
    message = str(err.value)
    assert expected in message and "\n" not in message


def test_unknown_tune_key_and_missing_dataset(tmp_path):
    with pytest.raises(ConfigError, match=r"tune.bogus: unknown key"):
        load_sweep(QUICKSTART, ["tune.bogus=1"])
    cfg, points = load_sweep(QUICKSTART, [f"tune.dataset_dir={tmp_path / 'nowhere'}"])
    with pytest.raises(DatasetError, match=r"tune.dataset_dir does not exist") as err:
        check_datasets(cfg, points, plan(cfg, str(tmp_path / "out")))
    assert "\n" not in str(err.value)
    (tmp_path / "nowhere").mkdir()  # an existing (shared) directory: what is missing there gets collected
    assert check_datasets(cfg, points, plan(cfg, str(tmp_path / "out"))) == {"3m": ["medium"]}


def test_cli_exits_2_with_one_line_before_ray_starts(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rayeaq.tune",
            QUICKSTART,
            "tune.space={augment.augmenter: {grid_search: [bogus]}}",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "augment.augmenter" in lines[0]
    assert not out.exists()  # nothing written, no Ray started


@pytest.mark.parametrize(
    "overrides, env",
    [
        (["tune.storage_path=s3://bucket/rayeaq"], None),
        (["tune.storage_path=gs://bucket/rayeaq"], None),
        ([], "ray://head:10001"),
        (["ray.address=auto"], None),
    ],
)
def test_cluster_or_bucket_needs_shared_dataset_dir(tmp_path, monkeypatch, overrides, env):
    """Datasets collected on the driver's disk are unreadable from other nodes: refused before Ray starts."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    if env:
        monkeypatch.setenv("RAY_ADDRESS", env)
    out = None if any("storage_path" in o for o in overrides) else str(tmp_path / "out")
    with pytest.raises(ConfigError, match=r"tune.dataset_dir: expected a directory every node can read") as err:
        run_sweep(QUICKSTART, overrides, out, resume=False, dashboard=False)
    assert "\n" not in str(err.value) and not (tmp_path / "out").exists()
    cfg, _ = load_sweep(QUICKSTART, [*overrides, f"tune.dataset_dir={tmp_path / 'shared'}"])
    check_shared_datasets(cfg, plan(cfg, out))  # a shared dataset_dir is accepted
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    local, _ = load_sweep(QUICKSTART, [])
    check_shared_datasets(local, plan(local, str(tmp_path / "out")))  # local Ray, local storage: fine


def test_grid_dedupes_ignored_keys_and_keeps_seeds_paired():
    cfg, points = load_sweep(
        QUICKSTART,
        _space(
            "{augment.augmenter: {grid_search: [none, eaq, eaq_noq, gaussian_noise]}, "
            "diffusion.q_weight: {grid_search: [0.1, 1.0]}, augment.ratio: {grid_search: [0.5, 1.0]}, seed: {grid_search: [0, 1]}}"
        ),
    )
    by_aug: dict[str, list[dict]] = {}
    for p in points:
        by_aug.setdefault(p["augment.augmenter"], []).append(p)
    assert len(by_aug["none"]) == 2  # one per seed: λ and ratio ignored
    assert len(by_aug["eaq"]) == 8 and len(by_aug["eaq_noq"]) == 4 and len(by_aug["gaussian_noise"]) == 4
    base = cfg.model_dump(mode="python")
    assert by_aug["none"][0]["diffusion.q_weight"] == IGNORED_VALUE  # kept as a key for Tune's table
    noq = trial_config(base, trial_params({"point": by_aug["eaq_noq"][0]}))
    assert noq.diffusion.q_weight == 0.0
    # The same seed value gives the same derived stage seeds whatever the augmenter (paired comparisons).
    a = trial_config(base, trial_params({"point": by_aug["none"][0]}))
    b = trial_config(base, trial_params({"point": by_aug["eaq"][0]}))
    assert a.seed == b.seed == 0
    assert label(by_aug["eaq"][0]).startswith("eaq_q0.1")


def test_paper_config_is_valid_and_large():
    cfg, points = load_sweep(EAQ, [])
    assert {"good", "medium", "poor"} <= set(cfg.tune.space["collect_tier"]["grid_search"])
    seeds = cfg.tune.space["seed"]["grid_search"]
    assert len(seeds) >= 5
    assert len(points) >= 100
    assert cfg.fit.use_gpu and cfg.tune.resources.gpu >= 0


def test_tier_key_and_user_error_base():
    cfg, _ = load_sweep(QUICKSTART, [])
    run = trial_config(cfg.model_dump(mode="python"), {"collect_tier": "poor", "augment.augmenter": "eaq_noq"})
    assert run.tune.collect_tier == "poor" and run.diffusion.q_weight == 0.0
    assert issubclass(ConfigError, UserError)


def test_trial_mixture_uses_each_synthetic_episode_at_most_once(tmp_path):
    from rayeaq.data.writer import write_dataset
    from rayeaq.sweep.summary import FINAL_METRICS
    from rayeaq.sweep.trial import mixture
    from support.random_episodes import toy_spec
    from support.smooth_episodes import toy_episodes

    spec = toy_spec(episode_limit=15, n_agents=2, state_dim=8)
    write_dataset(tmp_path / "real", toy_episodes(spec, 10, seed=0), spec, source="real")
    syn = toy_episodes(spec, 4, seed=1)
    syn.source[:] = "synthetic"
    write_dataset(tmp_path / "syn", syn, spec, source="synthetic")
    sources, achieved = mixture(tmp_path / "real", tmp_path / "syn", 1.0)  # 10 asked, 4 there: not 2.5 copies
    assert sources == [(str(tmp_path / "real"), 1.0), (str(tmp_path / "syn"), 1.0)] and achieved == pytest.approx(0.4)
    sources, achieved = mixture(tmp_path / "real", tmp_path / "syn", 0.2)
    assert sources[1][1] == pytest.approx(0.5) and achieved == pytest.approx(0.2)
    assert mixture(tmp_path / "real", None, 1.0) == ([(str(tmp_path / "real"), 1.0)], 0.0)
    assert "aug_ratio_effective" in FINAL_METRICS


def test_study_config_loads_and_has_the_stated_grid():
    cfg, points = load_sweep(str(EAQ).replace("eaq.yaml", "study_smax.yaml"), [])
    assert len(points) == 2 * 5 * 5  # tiers x augmenters x seeds, as its header says
    assert cfg.augment.budget == "transitions" and cfg.collect.episodes == 200
