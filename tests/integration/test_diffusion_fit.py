"""Ray Train fitting: 2 CPU workers complete, the checkpoint loads with weights_only and a rerun resumes."""

from __future__ import annotations

import pytest
import torch

from rayeaq.core.errors import ConfigError, DatasetError
from rayeaq.data.writer import write_dataset
from rayeaq.generators.eaq.train import NonFiniteLossError
from rayeaq.run_config import load_run_config
from support.faults import train_loop_with_nan_at
from support.random_episodes import toy_spec
from support.smooth_episodes import toy_episodes

SPEC = toy_spec(episode_limit=15, n_agents=2, state_dim=8)
TINY = [
    "diffusion.dim=8",
    "diffusion.dim_mults=[1,2]",
    "diffusion.n_diffusion_steps=10",
    "diffusion.groups=4",
    "fit.batch_size=8",
    "fit.report_every=1",
    "fit.checkpoint_every=2",
    "fit.cpus_per_worker=0.9",
]


@pytest.fixture(scope="module")
def toy_dataset(tmp_path_factory):
    directory = tmp_path_factory.mktemp("toy_real")
    write_dataset(directory, toy_episodes(SPEC, 12, seed=1), SPEC, source="real", shard_episodes=6)
    return directory


def test_fit_two_workers_then_resume(ray_local, toy_dataset, tmp_path):
    from rayeaq.stages.fit import run_fit

    out = tmp_path / "fit"
    cfg = load_run_config(None, [*TINY, "fit.steps=4", "fit.workers=2"])
    first = run_fit(cfg, toy_dataset, out)
    assert first["step"] == 4 and first["resumed_from"] == 0 and first["workers"] == 2
    payload = torch.load(out / "checkpoint" / "generator.pt", weights_only=True)
    assert payload["world_size"] == 2 and set(payload) >= {"model", "ema", "normalizer", "layout", "diffusion", "fit"}
    assert [row["step"] for row in payload["history"]] == [1, 2, 3, 4]
    assert (out / "losses.csv").is_file() and (out / "run.json").is_file() and (out / "config.resolved.yaml").is_file()

    cfg = load_run_config(None, [*TINY, "fit.steps=6", "fit.workers=2"])
    second = run_fit(cfg, toy_dataset, out)
    assert second["resumed_from"] == 4 and second["step"] == 6
    payload = torch.load(out / "checkpoint" / "generator.pt", weights_only=True)
    assert [row["step"] for row in payload["history"]] == [1, 2, 3, 4, 5, 6]


def test_nan_loss_stops_with_one_line_error(ray_local, toy_dataset, tmp_path, monkeypatch):
    from rayeaq.generators.eaq import ray_fit
    from rayeaq.stages.fit import run_fit

    monkeypatch.setattr(ray_fit, "train_loop_per_worker", train_loop_with_nan_at(3))  # NaN loss in the worker
    cfg = load_run_config(None, [*TINY, "fit.steps=5", "fit.workers=1"])
    with pytest.raises(NonFiniteLossError) as err:
        run_fit(cfg, toy_dataset, tmp_path / "nan")
    assert "\n" not in str(err.value) and "loss became nan at step 3" in str(err.value)


def test_fit_refuses_synthetic_data(toy_dataset, tmp_path):
    from rayeaq.generators.eaq.fit_core import load_real_dataset

    synthetic = tmp_path / "syn"
    episodes = toy_episodes(SPEC, 3, seed=2)
    episodes.source[:] = "synthetic"
    write_dataset(synthetic, episodes, SPEC, source="synthetic")
    with pytest.raises(DatasetError, match="real data only"):
        load_real_dataset(synthetic)


def test_fit_refuses_out_of_another_fit(toy_dataset, tmp_path):
    """A rerun resumes from OUT's checkpoint, so OUT must hold a fit of the same dataset and diffusion config."""
    from rayeaq.core.runinfo import write_run_info
    from rayeaq.data.reader import load_dataset
    from rayeaq.generators.eaq.fit_core import check_out_dir, fit_inputs
    from rayeaq.stages.fit import run_fit

    out = tmp_path / "fit"
    cfg = load_run_config(None, [*TINY, "fit.steps=4"])
    inputs = fit_inputs(cfg, load_dataset(toy_dataset))
    check_out_dir(out, cfg, inputs)  # nothing there yet
    write_run_info(out, cfg, "fit", {"dataset": inputs["dataset"], "layout": inputs["layout"]})
    check_out_dir(out, load_run_config(None, TINY + ["fit.steps=8", "fit.lr=1e-5"]), inputs)  # fit.* may change
    other = load_run_config(None, TINY + ["diffusion.q_weight=0.5"])
    with pytest.raises(
        ConfigError, match=r"holds a fit of another experiment, changed: diffusion.q_weight 0.1 -> 0.5"
    ) as err:
        run_fit(other, toy_dataset, out)  # refused before Ray is needed
    assert "\n" not in str(err.value)
    elsewhere = tmp_path / "other_real"
    write_dataset(elsewhere, toy_episodes(SPEC, 5, seed=9), SPEC, source="real")
    with pytest.raises(ConfigError, match="another dataset"):
        check_out_dir(out, cfg, fit_inputs(cfg, load_dataset(elsewhere)))
