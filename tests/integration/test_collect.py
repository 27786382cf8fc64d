"""Collection with Ray actors: worker-count invariance, crash recovery, the CLI end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from rayeaq.data.card import read_card
from rayeaq.data.reader import load_dataset
from rayeaq.run_config import load_run_config
from rayeaq.stages.collect.driver import collect_all
from support.faults import CollectorKiller

TINY = [
    "env.map=3m",
    "collect.episodes=90",
    "collect.shard_episodes=20",
    "collect.envs_per_worker=32",
    "collect.tiers=[poor]",
    "collect.tier_bands.poor.epsilon=0.3",
    "collect.tier_bands.poor.script=spread_fire",
    "collect.tier_bands.poor.win_rate=[0.0,0.2]",
    "seed=3",
]


def _collect(tmp_path, name: str, workers: int):
    cfg = load_run_config(None, [*TINY, f"collect.workers={workers}"])
    out = tmp_path / name
    summary = collect_all(cfg, out)
    return summary, read_card(out / "poor")


def test_one_and_two_workers_give_the_same_dataset(ray_local, tmp_path):
    s1, card1 = _collect(tmp_path, "w1", 1)
    _s2, card2 = _collect(tmp_path, "w2", 2)
    assert card1.stats.episodes == card2.stats.episodes == 90
    assert card1.fingerprint == card2.fingerprint
    assert len(card1.shards) == 5
    assert card1.behaviour_policy["name"] == "spread_fire(noise=0.300)"
    assert card1.behaviour_policy["provenance"] == {"script": "rayeaq.policies.scripts:spread_fire"}
    assert s1["episodes"] == 90 and s1["transitions"] == card1.stats.transitions


def test_actor_crash_loses_and_duplicates_nothing(ray_local, tmp_path, monkeypatch):
    _, reference = _collect(tmp_path, "ref", 2)
    killer = CollectorKiller(monkeypatch, tmp_path / "crash" / "poor")  # SIGKILL both actors at the first shard
    _, card = _collect(tmp_path, "crash", 2)
    assert killer.killed and killer.shards_at_kill < 5  # the crash really happened, in the middle of the run
    data = load_dataset(tmp_path / "crash" / "poor")
    assert sorted(data.episodes.episode_id.tolist()) == list(range(90))
    assert card.fingerprint == reference.fingerprint


def test_collect_cli_end_to_end_and_resume(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(
        "seed: 5\n"
        "env: {map: 3m}\n"
        "collect:\n"
        "  episodes: 40\n"
        "  shard_episodes: 20\n"
        "  tiers: [good, poor]\n"
        "  workers: 2\n"
        "  envs_per_worker: 32\n"
        "  calibration_episodes: 16\n"
        "  policy: {ladder: [focus_team, spread_fire]}\n"
        "ray: {num_cpus: 4}\n"
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "rayeaq.collect", str(cfg), "--out", str(out), "collect.tier_bands.poor.epsilon=0.6"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("collected 80 episodes") and "env-steps/s" in last and "win rate" in last
    good, poor = read_card(out / "good"), read_card(out / "poor")
    assert good.stats.win_rate > poor.stats.win_rate
    assert [row["policy"] for row in good.quality["calibration"]] == [
        "focus_team(noise=0.050)",
        "spread_fire(noise=0.050)",
    ]
    assert good.quality["band_met"] in (True, False) and good.behaviour_policy["own_win_rate"] is not None
    assert poor.quality["epsilon"] == 0.6 and poor.behaviour_policy["epsilon"] == 0.6
    assert poor.quality["policy"].endswith("(noise=0.600)")
    run = json.loads((out / "run.json").read_text())
    assert run["seed"] == 5 and run["config"]["collect"]["episodes"] == 40 and "git_commit" in run["code_version"]
    assert (out / "config.resolved.yaml").is_file()
    # rerun: both tiers are complete and kept
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("complete already") == 2
    assert read_card(out / "good").fingerprint == good.fingerprint


def test_resume_after_partial_tier(ray_local, tmp_path):
    """Shards already on disk are kept; only the missing ones are collected."""
    _, full = _collect(tmp_path, "a", 1)
    shards = tmp_path / "a" / "poor" / "shards"
    (tmp_path / "a" / "poor" / "card.json").unlink()
    (shards / "shard-000000020.parquet").unlink()
    kept = (shards / "shard-000000060.parquet").stat().st_mtime_ns
    _, resumed = _collect(tmp_path, "a", 1)
    assert resumed.fingerprint == full.fingerprint
    assert (shards / "shard-000000060.parquet").stat().st_mtime_ns == kept


@pytest.mark.parametrize("bad", ["collect.workers=0", "env.map=3x", "collect.tiers=[best]"])
def test_bad_collect_config_fails_before_ray(bad, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "rayeaq.collect", "tune_configs/collect_3m.yaml", bad, "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert bad.split("=")[0] in proc.stderr


def test_trained_checkpoint_as_behaviour_policy(ray_local, tmp_path, real_3m_poor_dataset):
    """Closing the loop: a BC checkpoint trained by rayeaq.evaluate is the behaviour policy of collect."""
    from rayeaq.evaluate import main as evaluate_main

    run = tmp_path / "bc"
    assert (
        evaluate_main(
            [
                "tune_configs/evaluate_3m.yaml",
                "evaluate.algorithm=bc",
                "evaluate.updates=20",
                "evaluate.eval_interval=20",
                "evaluate.eval_episodes=4",
                "evaluate.final_eval_episodes=4",
                "evaluate.eval_envs=4",
                "evaluate.hidden_dim=16",
                "--dataset",
                str(real_3m_poor_dataset),
                "--out",
                str(run),
            ]
        )
        == 0
    )
    checkpoint = json.loads((run / "summary.json").read_text())["checkpoint"]
    cfg = load_run_config(
        None,
        [
            *TINY,
            "collect.workers=1",
            "collect.episodes=24",
            "collect.policy.kind=qmix_checkpoint",
            f"collect.policy.checkpoint={checkpoint}",
        ],
    )
    collect_all(cfg, tmp_path / "loop")
    data = load_dataset(tmp_path / "loop" / "poor")
    assert len(data.episodes) == 24
    assert data.card.behaviour_policy["kind"] == "qmix_checkpoint"
    from rayeaq.policies import checkpoint_fingerprint

    assert data.card.behaviour_policy["provenance"]["checkpoint_fingerprint"] == checkpoint_fingerprint(checkpoint)
    two = cfg.model_copy(update={"collect": cfg.collect.model_copy(update={"workers": 2})})
    collect_all(two, tmp_path / "loop2")  # the checkpoint policy through 2 collector actors: the same episodes
    assert read_card(tmp_path / "loop2" / "poor").fingerprint == data.card.fingerprint
    assert all(name.startswith("qmix_mix(epsilon=0.300") for name in data.episodes.behaviour_policy)
    taken = np.take_along_axis(data.episodes.avail_actions, data.episodes.actions[..., None], axis=-1)[..., 0]
    assert taken[data.episodes.filled].all()


def test_missing_checkpoint_is_a_config_error(tmp_path):
    from rayeaq.core.errors import ConfigError

    cfg = load_run_config(
        None, [*TINY, "collect.policy.kind=qmix_checkpoint", f"collect.policy.checkpoint={tmp_path}/none"]
    )
    with pytest.raises(ConfigError, match=r"collect.policy.checkpoint"):
        collect_all(cfg, tmp_path / "x")


def test_out_dir_of_another_config_is_refused(ray_local, tmp_path):
    from rayeaq.core.errors import ConfigError

    _collect(tmp_path, "same", 1)
    run_before = (tmp_path / "same" / "run.json").read_text()
    cfg = load_run_config(None, [*TINY, "seed=4"])
    with pytest.raises(ConfigError, match="different seed"):
        collect_all(cfg, tmp_path / "same")
    assert (tmp_path / "same" / "run.json").read_text() == run_before  # the refused run changed nothing
    assert set(json.loads(run_before)["dataset_fingerprints"]) == {"poor"}
