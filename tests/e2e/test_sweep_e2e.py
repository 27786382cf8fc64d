"""``python -m rayeaq.tune`` end to end on 2 cores, each run as a subprocess with its own local Ray.

- a tiny sweep with real stages (collect once -> fit with Ray Train -> augment -> mix -> RLlib QMIX):
  the baselines and EAQ finish, a trial forced to fail (λ = 1e39 makes the generator loss non-finite,
  the fit raises its NaN error) errors without stopping the others, summary.csv has a row per trial;
- resume: the driver is killed (SIGKILL) after the first trial finished; ``--resume`` completes the sweep
  and the finished trial is not rerun.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = str(REPO / "tune_configs" / "quickstart.yaml")

TINY = [
    "collect.episodes=60",
    "collect.shard_episodes=30",
    "collect.envs_per_worker=32",
    "collect.tier_bands.medium.epsilon=0.1",  # fixed ε: no calibration in tests
    "diffusion.n_diffusion_steps=10",
    "fit.steps=20",
    "fit.report_every=5",
    "fit.checkpoint_every=20",
    "augment.sampling_steps=3",
    "augment.drop_illegal=false",
    "augment.fidelity_samples=50",
    "augment.batch_size=64",
    "evaluate.updates=20",
    "evaluate.eval_interval=10",
    "evaluate.eval_episodes=8",
    "evaluate.final_eval_episodes=16",
    "evaluate.eval_envs=16",
    "evaluate.batch_size=8",
    "tune.checkpoint_period_s=1",
    "ray.num_cpus=4",
]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(
        JAX_PLATFORMS="cpu",
        RAY_AUTH_MODE="disabled",
        RAY_TRAIN_HEALTH_CHECK_INTERVAL_S="0.2",
        RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S="60",
        RAY_USAGE_STATS_ENABLED="0",
    )
    return env


def _command(out: Path, space: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rayeaq.tune", QUICKSTART, *TINY, f"tune.space={space}", *extra, "--out", str(out)]


def _summary(out: Path) -> list[dict]:
    with (out / "summary.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "tiny"
    space = (
        "{augment.augmenter: {grid_search: [none, eaq, gaussian_noise]}, "
        "diffusion.q_weight: {grid_search: [0.1, 1.0e+39]}, seed: 0}"
    )
    start = time.perf_counter()
    proc = subprocess.run(
        # objective qtot: λ weighs a loss term there, so λ = 1e39 makes the fit's loss non-finite (with the
        # quickstart's return guidance λ is only a sampling scale)
        _command(out, space, "tune.max_failures=0", "diffusion.objective=qtot"),
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=540,
    )
    return out, proc, time.perf_counter() - start


@pytest.mark.slow
def test_tiny_sweep_runs_real_stages(sweep):
    out, proc, seconds = sweep
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # 1 = some trial failed for good
    rows = {(r["param/augment.augmenter"], r.get("param/diffusion.q_weight", "")): r for r in _summary(out)}
    assert len(rows) == 4, rows.keys()  # none and gaussian_noise once (λ ignored), eaq per λ
    for key in [("none", ""), ("eaq", "0.1"), ("gaussian_noise", "")]:
        row = rows[key]
        assert row["status"] == "TERMINATED", row
        assert 0.0 <= float(row["score"]) <= 1.0 and float(row["normalized_return"]) == float(row["score"])
    eaq = rows[("eaq", "0.1")]
    assert float(eaq["gen_loss"]) > 0 and float(eaq["time_fit_s"]) > 0 and float(eaq["aug_share_kept"]) > 0
    assert rows[("none", "")]["gen_loss"] == "" and rows[("none", "")]["time_augment_s"] == ""
    # Every trial's directory: params, per-report metrics, resolved config, checkpoint, evaluator outputs.
    trial = Path(eaq["path"])
    reports = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
    stages = [r["stage"] for r in reports]
    assert stages[0] == "fit" and "augment" in stages and "evaluate" in stages and stages[-1] == "done"
    assert any("gen_loss" in r for r in reports if r["stage"] == "fit")
    assert (trial / "params.json").is_file() and (trial / "config.resolved.yaml").is_file()
    assert (trial / "evaluate" / "metrics.jsonl").is_file()
    assert sorted(p.name for p in trial.glob("checkpoint_*"))
    assert (out / "datasets" / "3m" / "medium" / "card.json").is_file() and (out / "run.json").is_file()
    print(f"tiny sweep: {seconds:.0f} s")


@pytest.mark.slow
def test_nan_trial_fails_without_stopping_the_sweep(sweep):
    out, _proc, _ = sweep
    rows = {(r["param/augment.augmenter"], r.get("param/diffusion.q_weight", "")): r for r in _summary(out)}
    bad = rows[("eaq", "1e+39")]
    assert bad["status"] == "ERROR" and "loss became" in bad["error"], bad
    assert sum(r["status"] == "TERMINATED" for r in rows.values()) == 3


def _terminated_trials(out: Path) -> list[str]:
    done = []
    for state in out.glob("experiment_state-*.json"):
        try:
            data = json.loads(state.read_text())
        except (json.JSONDecodeError, OSError):
            continue
        for trial_json, _ in data["trial_data"]:
            trial = json.loads(trial_json)
            if trial["status"] == "TERMINATED":
                done.append(trial["trial_id"])
    return done


@pytest.mark.slow
def test_resume_after_killing_the_driver_keeps_finished_trials(tmp_path):
    out = tmp_path / "resume"
    space = "{augment.augmenter: none, seed: {grid_search: [0, 1]}}"
    proc = subprocess.Popen(
        _command(out, space, "tune.seed_datasets=2"),
        cwd=REPO,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not _terminated_trials(out) and proc.poll() is None:
            time.sleep(1.0)
        finished = _terminated_trials(out)
        assert finished and proc.poll() is None, "the first trial should finish while the sweep still runs"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray it started (its own session)
        proc.wait()
    first = next(out.glob(f"{finished[0]}_*"))
    before = (first / "result.json").read_text()
    run_before = json.loads((first / "run.json").read_text())["pid"]
    time.sleep(2.0)

    again = subprocess.run(
        _command(out, space, "tune.seed_datasets=2", "--resume"),
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    rows = _summary(out)
    assert len(rows) == 2 and all(r["status"] == "TERMINATED" for r in rows), rows
    # tune.seed_datasets=2: one pool of 2 x 60 episodes, each seed reads its own disjoint split
    runs = [json.loads(p.read_text()) for p in out.glob("*_*/run.json")]
    assert sorted(Path(r["real_dataset"]).name for r in runs) == ["medium-split0of2", "medium-split1of2"]
    assert len({r["real_fingerprint"] for r in runs}) == 2
    assert json.loads((out / "datasets" / "3m" / "medium" / "card.json").read_text())["stats"]["episodes"] == 120
    assert (first / "result.json").read_text() == before  # not rerun
    assert json.loads((first / "run.json").read_text())["pid"] == run_before
    # Without --resume the same directory is refused (one line, exit 2).
    refused = subprocess.run(
        _command(out, space, "tune.seed_datasets=2"), cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 2 and "--resume" in refused.stderr


@pytest.mark.slow
def test_trials_that_share_a_generator_fit_it_once(tmp_path):
    """A grid over augment.ratio and eaq / eaq_noq fits the return-conditioned generator once (the cache in
    <results>/generators; λ is its sampling-time guidance scale) and every trial names the generator it used."""
    out = tmp_path / "ratios"
    space = "{augment.augmenter: {grid_search: [eaq, eaq_noq]}, augment.ratio: {grid_search: [0.5, 1.0]}, seed: 0}"
    proc = subprocess.run(
        _command(out, space, "tune.max_concurrent_trials=2"),
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = _summary(out)
    assert len(rows) == 4 and all(r["status"] == "TERMINATED" for r in rows)
    fitted = sorted(p.parent.name for p in (out / "generators").glob("gen-*/DONE.json"))
    assert len(fitted) == 1  # one fit for four trials: eaq and eaq_noq differ only in how they sample it
    assert {r["generator_key"] for r in rows} == set(fitted)
    assert sorted(r["generator_reused"] for r in rows) == ["False", "True", "True", "True"]
    # the ratio only changes the mixture: one synthetic dataset per augmenter (guided and unguided samples)
    made = sorted(p.parent.name for p in (out / "generators").glob("syn-*/DONE.json"))
    assert len(made) == 2 and {r["synthetic_key"] for r in rows} == set(made)
    assert sorted(r["synthetic_reused"] for r in rows) == ["False", "False", "True", "True"]
    guidance = {
        r["param/augment.augmenter"]: json.loads(
            (out / "generators" / r["synthetic_key"] / "data" / "card.json").read_text()
        )
        for r in rows
    }
    assert {name: card["generation"]["guidance"] for name, card in guidance.items()} == {"eaq": 1.0, "eaq_noq": 0.0}
    assert all(float(r["gen_loss"]) > 0 for r in rows)  # the reusing trial reports the fit's figures too
