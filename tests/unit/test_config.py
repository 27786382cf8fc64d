"""Config loading: every shipped YAML validates; errors are one line naming file, key and expectation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from rayeaq.core.errors import ConfigError
from rayeaq.run_config import load_run_config

ROOT = Path(__file__).resolve().parents[2]
YAMLS = sorted((ROOT / "tune_configs").glob("*.yaml"))


def test_there_are_configs():
    assert any(p.name == "collect_3m.yaml" for p in YAMLS)


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_every_tune_config_loads(path):
    cfg = load_run_config(path)
    assert cfg.env.backend in ("smax", "sc2", "mpe")


def test_issue_overrides_work_as_written():
    cfg = load_run_config(
        ROOT / "tune_configs" / "collect_3m.yaml",
        [
            "env.map=2s3z",
            "env.backend=smax",
            "collect.episodes=200",
            "collect.workers=2",
            "collect.tiers=[good,poor]",
            "seed=7",
        ],
    )
    assert (cfg.env.map, cfg.collect.episodes, cfg.collect.workers, cfg.seed) == ("2s3z", 200, 2, 7)
    assert cfg.collect.tiers == ["good", "poor"]
    assert cfg.env.resolved_episode_limit == 120


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, expected",
    [
        ("env:\n  mapp: 3m\n", r"cfg\.yaml: env\.mapp: unknown key"),
        ("collect:\n  episodes: many\n", r"cfg\.yaml: collect\.episodes: expected an integer, got 'many'"),
        ("collect:\n  episodes: 0\n", r"cfg\.yaml: collect\.episodes: .*greater than or equal to 1"),
        ("env:\n  backend: starcraft\n", r"cfg\.yaml: env\.backend: expected one of 'mpe', 'smax' or 'sc2'"),
        ("env:\n  map: 4m\n", r"cfg\.yaml: env\.map: expected a SMAX map"),
        ("collect:\n  tiers: [great]\n", r"cfg\.yaml: collect\.tiers\.0: expected one of"),
        (
            "collect:\n  tier_bands:\n    good: {win_rate: [0.9, 0.1]}\n",
            r"collect\.tier_bands\.good\.win_rate: expected \[low, high\]",
        ),
        (
            "collect:\n  tiers: [medium_replay]\n",
            r"cfg\.yaml: collect: .*tier medium_replay needs collect\.medium_replay\.online_config",
        ),
        (
            "collect:\n  tier_bands:\n    medium_replay: {win_rate: [0.2, 0.4], epsilon: 0.1}\n",
            r"collect: .*tier_bands \['medium_replay'\]: expected only win_rate",
        ),
        ("- just\n- a list\n", r"cfg\.yaml: top level must be a mapping"),
        ("env: [unclosed\n", r"cfg\.yaml \(line \d+\): not valid YAML"),
    ],
)
def test_config_errors_are_one_line(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=expected) as err:
        load_run_config(_write(tmp_path, text))
    assert "\n" not in str(err.value)


def test_override_errors_name_the_command_line(tmp_path):
    path = _write(tmp_path, "seed: 1\n")
    with pytest.raises(ConfigError, match=r"^command line: collect\.workers: expected an integer"):
        load_run_config(path, ["collect.workers=two"])
    with pytest.raises(ConfigError, match=r"^command line: env\.colour: unknown key"):
        load_run_config(path, ["env.colour=red"])
    with pytest.raises(ConfigError, match=r"not of the form key.path=value"):
        load_run_config(path, ["seed"])


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_run_config(tmp_path / "nope.yaml")


def test_cli_exit_code_2_without_traceback(tmp_path):
    path = _write(tmp_path, "collect:\n  episodes: -3\n")
    proc = subprocess.run(
        [sys.executable, "-m", "rayeaq.collect", str(path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "collect.episodes" in lines[0] and "cfg.yaml" in lines[0]
    assert not (tmp_path / "out").exists()  # nothing written for a bad config


def test_a_retired_key_names_its_replacement(tmp_path):
    """A key a section no longer has fails with one line saying what replaced it."""
    from rayeaq.core.config import StrictModel, load_config

    class Section(StrictModel):
        RETIRED = {"num_workers": "renamed to workers"}
        workers: int = 1

    with pytest.raises(ConfigError, match=r"^command line: num_workers: was renamed to workers$"):
        load_config(Section, None, ["num_workers=2"])
    assert load_config(Section, None, ["workers=2"]).workers == 2


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("fit.num_workers", "fit.workers"),
        ("augment.tasks", "augment.workers"),
        ("augment.cpus_per_task", "augment.cpus_per_worker"),
        ("evaluate.num_learners", "evaluate.learners"),
        ("evaluate.num_cpus_per_learner", "evaluate.cpus_per_learner"),
        ("evaluate.num_gpus_per_learner", "evaluate.gpus_per_learner"),
        ("evaluate.rollout_worker_cpus", "evaluate.cpus_per_rollout_worker"),
    ],
)
def test_old_resource_spellings_name_their_new_key(old, new, tmp_path):
    from rayeaq.run_config import load_run_config

    with pytest.raises(ConfigError, match=rf"^command line: {re.escape(old)}: was renamed to {re.escape(new)}$"):
        load_run_config(None, [f"{old}=1"])
    section, key = old.split(".")
    path = tmp_path / "old.yaml"
    path.write_text(f"{section}:\n  {key}: 1\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(path))}: {re.escape(old)}: was renamed to {re.escape(new)}"
    ):
        load_run_config(path, [])
    new_section, new_key = new.split(".")
    assert getattr(getattr(load_run_config(None, [f"{new}=1"]), new_section), new_key) == 1
