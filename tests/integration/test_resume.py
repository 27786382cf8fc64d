"""A resume never mixes experiments: the stored resolved config and code version against the new ones."""

from __future__ import annotations

import json

import pytest
import yaml

from rayeaq.core.errors import ConfigError
from rayeaq.core.resume import allowed, changed_keys, check_resume, flatten
from rayeaq.core.runinfo import CONFIG_FILE, RUN_FILE, record_resume, write_run_info
from rayeaq.run_config import load_run_config

QUICK = "tune_configs/quickstart.yaml"


def test_changed_keys_and_patterns_known_answers():
    old = {"a": {"b": 1, "c": [1, 2]}, "d": {"e": {"f": "x"}}, "g": 0}
    new = {"a": {"b": 2, "c": [1, 2]}, "d": {"e": {"f": "y"}}, "h": 1}
    assert flatten(old) == {"a.b": 1, "a.c": [1, 2], "d.e.f": "x", "g": 0}
    assert changed_keys(old, new) == {"a.b": (1, 2), "d.e.f": ("x", "y"), "g": (0, "<absent>"), "h": ("<absent>", 1)}
    assert allowed("ray.num_cpus", ["ray.*"]) and allowed("ray.num_cpus", ["ray"])
    assert not allowed("rayx.a", ["ray"]) and not allowed("tune.max_failures", ["tune.max_concurrent_trials"])
    assert allowed("tune.asha.max_t", ["tune.asha.*"]) and allowed("seed", ["*"])


def test_same_config_resumes_changed_config_is_refused_unless_allowed(tmp_path):
    cfg = load_run_config(QUICK, [])
    assert check_resume(tmp_path, cfg.model_dump(mode="json")) is None  # nothing stored: a fresh start
    with pytest.raises(ConfigError, match=r"no config.resolved.yaml to compare"):
        check_resume(tmp_path, cfg.model_dump(mode="json"), required=True)
    write_run_info(tmp_path, cfg, "tune")
    assert check_resume(tmp_path, cfg.model_dump(mode="json"), inputs={"stage": "tune"}) == {}

    edited = load_run_config(QUICK, ["diffusion.q_weight=0.7", "tune.max_concurrent_trials=2", "ray.num_cpus=8"])
    with pytest.raises(ConfigError) as err:
        check_resume(tmp_path, edited.model_dump(mode="json"), ["ray.*"], what="sweep")
    text = str(err.value)
    assert "\n" not in text and "holds a sweep of another experiment" in text
    assert "diffusion.q_weight 1.0 -> 0.7" in text and "tune.max_concurrent_trials 1 -> 2" in text
    assert "ray.num_cpus" not in text.split(";")[0]  # allowed keys are not listed as refused
    assert "--allow-change diffusion.q_weight tune.max_concurrent_trials" in text

    changes = check_resume(
        tmp_path, edited.model_dump(mode="json"), ["ray.*", "tune.max_concurrent_trials", "diffusion.q_weight"]
    )
    assert set(changes) == {"diffusion.q_weight", "tune.max_concurrent_trials", "ray.num_cpus"}
    write_run_info(tmp_path, edited, "tune")
    record_resume(tmp_path, changes, ["ray.*", "tune.max_concurrent_trials", "diffusion.q_weight"])
    write_run_info(tmp_path, edited, "tune")  # a later rewrite keeps the history
    (entry,) = json.loads((tmp_path / RUN_FILE).read_text())["resumes"]
    assert entry["changed"]["diffusion.q_weight"] == {"old": 1.0, "new": 0.7}
    assert entry["allow_change"][0] == "ray.*"
    assert yaml.safe_load((tmp_path / CONFIG_FILE).read_text())["diffusion"]["q_weight"] == 0.7


def test_code_version_change_is_a_change(tmp_path):
    cfg = load_run_config(QUICK, [])
    write_run_info(tmp_path, cfg, "tune")
    record = json.loads((tmp_path / RUN_FILE).read_text())
    record["code_version"]["git_commit"] = "0" * 40
    (tmp_path / RUN_FILE).write_text(json.dumps(record))
    with pytest.raises(ConfigError, match=r"changed: code_version.git_commit 0000000000"):
        check_resume(tmp_path, cfg.model_dump(mode="json"))
    assert check_resume(tmp_path, cfg.model_dump(mode="json"), ["code_version.*"])


def test_sweep_resume_with_edited_config_is_refused_before_ray_starts(tmp_path):
    from rayeaq.sweep.driver import check_sweep_resume, plan, run_sweep

    out = tmp_path / "sweep"
    cfg = load_run_config(QUICK, [])
    write_run_info(out, cfg, "tune")  # what the interrupted sweep left
    with pytest.raises(ConfigError) as err:
        run_sweep(QUICK, ["evaluate.updates=999"], str(out), resume=True, dashboard=False)
    assert "\n" not in str(err.value) and "evaluate.updates" in str(err.value) and "--allow-change" in str(err.value)
    assert yaml.safe_load((out / CONFIG_FILE).read_text())["evaluate"]["updates"] == cfg.evaluate.updates  # untouched
    # allowed: the check passes (and the sweep then finds no Tune state to restore here)
    with pytest.raises(ConfigError, match="no sweep to resume"):
        run_sweep(
            QUICK, ["evaluate.updates=999"], str(out), resume=True, dashboard=False, allow_change=["evaluate.updates"]
        )
    # --dashboard only toggles ray.dashboard: always accepted
    edited = cfg.model_copy(update={"ray": cfg.ray.model_copy(update={"dashboard": True})})
    assert set(check_sweep_resume(edited, plan(edited, str(out)), [])) == {"ray.dashboard"}
    with pytest.raises(ConfigError, match="only meaningful with --resume"):
        run_sweep(QUICK, [], str(tmp_path / "new"), resume=False, dashboard=False, allow_change=["ray.*"])


def test_fit_rerun_refuses_another_stage_or_dataset(tmp_path):
    from rayeaq.stages.fit import FIT_SECTIONS

    cfg = load_run_config(QUICK, [])
    write_run_info(tmp_path, cfg, "fit", {"dataset": {"fingerprint": "abc"}})
    same = dict(sections=FIT_SECTIONS, inputs={"stage": "fit", "dataset.fingerprint": "abc"})
    assert check_resume(tmp_path, cfg.model_dump(mode="json"), **same) == {}
    other_env = load_run_config(QUICK, ["evaluate.updates=7"])  # a section the fit does not read
    assert check_resume(tmp_path, other_env.model_dump(mode="json"), **same) == {}
    with pytest.raises(ConfigError, match=r"dataset.fingerprint abc -> def"):
        check_resume(
            tmp_path,
            cfg.model_dump(mode="json"),
            sections=FIT_SECTIONS,
            inputs={"stage": "fit", "dataset.fingerprint": "def"},
        )
    with pytest.raises(ConfigError, match="stage fit -> evaluate"):
        check_resume(tmp_path, cfg.model_dump(mode="json"), sections=FIT_SECTIONS, inputs={"stage": "evaluate"})


@pytest.mark.slow
def test_fit_rerun_with_changed_lr_needs_allow_change_and_is_recorded(ray_local, tmp_path):
    """Real Ray Train: the refused rerun starts nothing; the allowed one resumes and run.json says what changed."""
    from rayeaq.data.writer import write_dataset
    from rayeaq.stages.fit import run_fit
    from support.random_episodes import toy_spec
    from support.smooth_episodes import toy_episodes

    spec = toy_spec(episode_limit=15, n_agents=2, state_dim=8)
    data = tmp_path / "real"
    write_dataset(data, toy_episodes(spec, 8, seed=1), spec, source="real")
    tiny = [
        "diffusion.dim=8",
        "diffusion.dim_mults=[1,2]",
        "diffusion.n_diffusion_steps=10",
        "diffusion.groups=4",
        "fit.batch_size=8",
        "fit.report_every=1",
        "fit.checkpoint_every=2",
        "fit.workers=1",
    ]
    out = tmp_path / "fit"
    first = run_fit(load_run_config(None, tiny + ["fit.steps=2"]), data, out)
    assert first["step"] == 2
    changed = load_run_config(None, tiny + ["fit.steps=4", "fit.lr=1e-3"])
    with pytest.raises(ConfigError, match=r"changed: fit.lr 0.0002 -> 0.001; .*--allow-change fit.lr$"):
        run_fit(changed, data, out)
    second = run_fit(changed, data, out, allow_change=["fit.lr"])
    assert second["resumed_from"] == 2 and second["step"] == 4
    (entry,) = json.loads((out / RUN_FILE).read_text())["resumes"]
    assert set(entry["changed"]) == {"fit.lr", "fit.steps"} and entry["allow_change"] == ["fit.lr"]


SWEEP_TINY = [
    "collect.episodes=40",
    "collect.shard_episodes=20",
    "collect.envs_per_worker=32",
    "collect.tier_bands.medium.epsilon=0.1",  # fixed ε: no calibration in tests
    "diffusion.dim=8",
    "diffusion.n_diffusion_steps=10",
    "fit.steps=40",
    "fit.report_every=5",
    "fit.checkpoint_every=5",
    "augment.sampling_steps=3",
    "augment.num_episodes=8",
    "augment.fidelity_samples=20",
    "augment.batch_size=16",
    "evaluate.updates=10",
    "evaluate.eval_interval=10",
    "evaluate.eval_episodes=4",
    "evaluate.final_eval_episodes=4",
    "evaluate.eval_envs=4",
    "evaluate.batch_size=8",
    "tune.checkpoint_period_s=1",
    "tune.space={augment.augmenter: eaq, seed: 0}",
    "ray.num_cpus=4",
]


@pytest.mark.slow
def test_driver_killed_mid_fit_then_resume_with_allowed_code_change_finishes(tmp_path):
    """``rayeaq.tune`` SIGKILLed (with its Ray) while a trial fits: nothing half-written is left where a later
    stage reads (no finished generator, no summary). The code changes before the resume: ``--resume`` alone is
    refused in one line; ``--resume --allow-change code_version.git_commit`` finishes, the trial's own fit
    resuming from its checkpoint under the same allowance (recorded in the fit's ``run.json``)."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "sweep"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(
        JAX_PLATFORMS="cpu",
        RAY_AUTH_MODE="disabled",
        RAY_TRAIN_HEALTH_CHECK_INTERVAL_S="0.2",
        RAY_USAGE_STATS_ENABLED="0",
        PYTHONPATH=str(repo),
    )
    command = [sys.executable, "-m", "rayeaq.tune", str(repo / QUICK), *SWEEP_TINY, "--out", str(out)]
    snapshots = _kill_when_found(
        command, repo, env, "generators/gen-*/ray_train/fit/checkpoint_manager_snapshot.json", out
    )
    assert snapshots, "the fit should have a checkpoint while the sweep still runs"
    generator = snapshots[0].parents[2]
    assert not (generator / "DONE.json").exists() and not (generator / "checkpoint" / "generator.pt").exists()
    assert not (out / "summary.csv").exists()

    for run_dir in (out, generator):  # as if an older commit had written them
        record = json.loads((run_dir / RUN_FILE).read_text())
        record["code_version"]["git_commit"] = "0" * 40
        (run_dir / RUN_FILE).write_text(json.dumps(record))
    time.sleep(2.0)  # the killed Ray's processes are gone

    refused = subprocess.run(command + ["--resume"], cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert refused.returncode == 2 and len(errors) == 1 and "code_version.git_commit 0000" in errors[0], refused.stderr
    again = subprocess.run(
        command + ["--resume", "--allow-change", "code_version.git_commit"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    fit = json.loads((generator / "fit.json").read_text())
    assert fit["step"] == 40 and 0 < fit["resumed_from"] < 40, fit
    (entry,) = json.loads((generator / RUN_FILE).read_text())["resumes"]
    assert set(entry["changed"]) == {"code_version.git_commit"} and entry["allow_change"] == ["code_version.git_commit"]
    assert (generator / "DONE.json").is_file()
    summary = (out / "summary.csv").read_text().splitlines()
    assert len(summary) == 2 and "TERMINATED" in summary[1], summary


@pytest.mark.slow
def test_driver_killed_mid_evaluation_then_resume_continues_the_evaluation(tmp_path):
    """``rayeaq.tune`` SIGKILLed (with its Ray) after the trial's evaluation saved its first progress checkpoint:
    ``--resume`` continues that evaluation from its checkpoint (the trial says from which update) instead of
    redoing its updates, and the sweep finishes."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "sweep"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(JAX_PLATFORMS="cpu", RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(repo))
    tiny = [
        *SWEEP_TINY[:4],
        "evaluate.updates=400",  # long enough that the driver is killed between two evaluations
        "evaluate.eval_interval=20",
        "evaluate.eval_episodes=4",
        "evaluate.final_eval_episodes=4",
        "evaluate.eval_envs=4",
        "evaluate.batch_size=8",
        "evaluate.checkpoint=false",
        "tune.checkpoint_period_s=1",
        "tune.space={augment.augmenter: none, seed: 0}",
        "ray.num_cpus=4",
    ]
    command = [sys.executable, "-m", "rayeaq.tune", str(repo / QUICK), *tiny, "--out", str(out)]
    # 1 s past the first progress checkpoint, before the end of the 400 updates
    progress = _kill_when_found(command, repo, env, "*/evaluate/progress/progress.json", out, settle_s=1.0)
    assert progress, "the evaluation should have saved progress while the sweep runs"
    assert not (out / "summary.csv").exists()
    time.sleep(2.0)  # the killed Ray's processes are gone

    again = subprocess.run(command + ["--resume"], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    text = again.stdout + again.stderr
    assert again.returncode == 0, text[-3000:]
    resumed = [line for line in text.splitlines() if "evaluate: resuming from update" in line]
    assert resumed, text[-3000:]
    assert int(resumed[0].rsplit("update", 1)[1].split()[0]) >= 20
    summary = (out / "summary.csv").read_text().splitlines()
    assert len(summary) == 2 and "TERMINATED" in summary[1], summary


def _kill_when_found(command, repo, env, pattern: str, out, settle_s: float = 0.0, timeout_s: float = 400) -> list:
    """Run ``command`` in its own session and SIGKILL it with the Ray it started (the whole session) as soon as
    ``out.glob(pattern)`` finds something while it still runs (``settle_s`` later); returns what was found
    (empty if the command ended first or nothing appeared within ``timeout_s``)."""
    import os
    import signal
    import subprocess
    import time

    proc = subprocess.Popen(
        command, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    found: list = []
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and proc.poll() is None and not found:
            found = list(out.glob(pattern))
            time.sleep(0.1)
        if proc.poll() is not None:
            return []
        time.sleep(settle_s)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return found
