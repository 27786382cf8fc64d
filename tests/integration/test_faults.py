"""Fault drills: SIGKILL a Ray worker process by its pid mid-run; the result must equal the uninterrupted run's.

The victim is found by its process title (``ray::CollectorActor...``) among the children of this test
session's own raylet (never another user's Ray on the same machine), and killed with ``os.kill(pid, SIGKILL)``
from a watcher thread once the run is under way.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from rayeaq.data.card import SHARD_DIR, read_card
from rayeaq.data.reader import load_dataset
from rayeaq.run_config import load_run_config
from rayeaq.stages.collect.driver import collect_all


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


def our_ray_workers(title: str) -> list[int]:
    """Pids of processes titled ``title...`` whose parent (a raylet) this process started."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmd = handle.read().replace(b"\0", b" ").decode(errors="replace")
            if cmd.startswith(title) and _ppid(_ppid(pid)) == me:
                found.append(pid)
        except (OSError, ValueError, IndexError):
            continue
    return sorted(found)


class Killer(threading.Thread):
    """Kills one process titled ``title`` (ours) once ``ready()`` is true; records what it killed."""

    def __init__(self, title: str, ready, timeout_s: float = 300.0):
        super().__init__(daemon=True)
        self.title, self.ready, self.timeout_s, self.killed, self.stop = title, ready, timeout_s, [], False

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not self.stop and time.monotonic() < deadline:
            pids = our_ray_workers(self.title)
            if pids and self.ready():
                os.kill(pids[0], signal.SIGKILL)
                self.killed.append(pids[0])
                return
            time.sleep(0.05)


TINY = [
    "env.map=3m",
    "collect.episodes=120",
    "collect.shard_episodes=10",
    "collect.envs_per_worker=16",
    "collect.tiers=[poor]",
    "collect.tier_bands.poor.epsilon=0.3",
    "collect.tier_bands.poor.win_rate=[0.0,0.2]",
    "seed=11",
    "collect.workers=2",
]


@pytest.mark.slow
def test_sigkill_collector_actor_mid_collection_gives_the_same_dataset(ray_local, tmp_path):
    cfg = load_run_config(None, TINY)
    reference = collect_all(cfg, tmp_path / "ref")
    out = tmp_path / "killed"
    shards = out / "poor" / SHARD_DIR

    def some_shards_written() -> bool:
        return shards.is_dir() and len(list(shards.glob("shard-*.parquet"))) >= 2

    killer = Killer("ray::CollectorActor", some_shards_written)
    killer.start()
    try:
        summary = collect_all(cfg, out)
    finally:
        killer.stop = True
        killer.join(timeout=5)
    assert killer.killed, "no collector actor was killed mid-run (the run finished first?)"
    assert _dies_within(Path(f"/proc/{killer.killed[0]}"), seconds=60.0), "the killed actor is still running"
    card, ref_card = read_card(out / "poor"), read_card(tmp_path / "ref" / "poor")
    assert card.fingerprint == ref_card.fingerprint and summary["episodes"] == reference["episodes"] == 120
    data = load_dataset(out / "poor")
    assert sorted(data.episodes.episode_id.tolist()) == list(range(120))  # nothing lost, nothing twice
    # a shard being written when the actor died stays a hidden temporary (``.shard-*.tmp-PID``): never data
    assert set(card.shards) == {p.name for p in shards.glob("shard-*.parquet")}


def _dies_within(proc_dir: Path, seconds: float) -> bool:
    """True once ``proc_dir``'s process is gone or a zombie; a SIGKILLed process with a large address space can
    still be tearing its memory down (state ``R``/``D``) when a fast run has already finished on a loaded machine."""
    deadline = time.monotonic() + seconds
    while _alive(proc_dir):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _alive(proc_dir: Path) -> bool:
    try:
        return "Z" not in (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False


@pytest.mark.slow
def test_sigkill_augment_sampling_task_gives_the_same_synthetic_dataset(ray_local, tmp_path):
    """Ray retries a sampling task whose worker died; its seed is derived from its index, so the data is the same."""
    from test_diffusion_augment import SPEC, TINY, make_checkpoint

    from rayeaq.data.writer import write_dataset
    from rayeaq.stages.augment import run_augment
    from support.smooth_episodes import toy_episodes

    real = tmp_path / "real"
    write_dataset(real, toy_episodes(SPEC, 20, seed=3), SPEC, source="real", tier="medium")
    ckpt = make_checkpoint(real, tmp_path / "ckpt", q_weight=0.5)
    cfg = load_run_config(
        None,
        TINY
        + [
            "augment.augmenter=eaq",
            "augment.num_episodes=300",
            "augment.workers=2",
            "augment.sampling_steps=10",
            "augment.drop_illegal=false",
            "augment.oversample=2",
            "augment.batch_size=32",
        ],
    )
    reference = run_augment(cfg, real, ckpt, tmp_path / "ref")
    killer = Killer("ray::augment:sample:", lambda: True)  # the task title (its dashboard name)
    killer.start()
    try:
        report = run_augment(cfg, real, ckpt, tmp_path / "killed")
    finally:
        killer.stop = True
        killer.join(timeout=5)
    assert killer.killed, "no sampling task was killed mid-run"
    assert report["dataset_fingerprint"] == reference["dataset_fingerprint"]
    assert read_card(tmp_path / "killed").fingerprint == read_card(tmp_path / "ref").fingerprint


@pytest.mark.slow
def test_sigkill_train_worker_mid_fit_then_rerun_gives_the_same_generator(ray_local, tmp_path):
    """The killed fit stops with one line naming the step to resume from; the rerun ends with the uninterrupted
    run's weights (batches are drawn from step-derived seeds, the optimiser and EMA are checkpointed)."""
    import torch
    from test_resources import SPEC

    from rayeaq.data.writer import write_dataset
    from rayeaq.stages.fit import SNAPSHOT_FILE, FitFailedError, run_fit
    from support.smooth_episodes import toy_episodes

    real = tmp_path / "real"
    write_dataset(real, toy_episodes(SPEC, 8, seed=1), SPEC, source="real")
    cfg = load_run_config(
        None,
        [
            "diffusion.dim=8",
            "diffusion.dim_mults=[1,2]",
            "diffusion.n_diffusion_steps=10",
            "diffusion.groups=4",
            "fit.batch_size=8",
            "fit.report_every=10",
            "fit.checkpoint_every=20",
            "fit.workers=1",
            "fit.steps=200",
        ],
    )
    reference = run_fit(cfg, real, tmp_path / "ref")
    out = tmp_path / "killed"
    # once Ray Train has registered a checkpoint (its snapshot lists it), so that a rerun has one to resume from
    killer = Killer("ray::RayTrainWorker", lambda: (out / "ray_train" / "fit" / SNAPSHOT_FILE).is_file())
    killer.start()
    try:
        with pytest.raises(FitFailedError) as err:
            run_fit(cfg, real, out)
    finally:
        killer.stop = True
        killer.join(timeout=5)
    assert killer.killed
    text = str(err.value)
    assert "\n" not in text and "rerun the same command to resume from step" in text, text
    assert not (out / "checkpoint").exists()  # no exported generator that a later stage would read
    again = run_fit(cfg, real, out)
    assert again["step"] == 200 and 0 < again["resumed_from"] < 200 and f"step {again['resumed_from']}" in text
    a = torch.load(tmp_path / "ref" / "checkpoint" / "generator.pt", weights_only=True)
    b = torch.load(out / "checkpoint" / "generator.pt", weights_only=True)
    assert b["fingerprint"] == a["fingerprint"] == reference["fingerprint"]
    for name in ("model", "ema"):
        assert all(torch.equal(a[name][k], b[name][k]) for k in a[name]), name


def _eval_dataset(tmp_path: Path) -> str:
    """12 random-action episodes of SMAX 3m's sizes (60-step limit)."""
    from rayeaq.data.writer import write_dataset
    from rayeaq.envs.smax.maps import smax_spec
    from support.random_episodes import toy_episodes

    spec = smax_spec("3m", 60)
    ep = toy_episodes(
        12,
        episode_limit=60,
        n_agents=3,
        obs_dim=spec.obs_shape,
        state_dim=spec.state_shape,
        n_actions=spec.n_actions,
        seed=14,
    )
    write_dataset(tmp_path / "ds", ep, spec, source="real", tier="good", behaviour_policy={"kind": "toy"})
    return str(tmp_path / "ds")


def _eval_cfg(extra: list[str]):
    tiny = [
        "evaluate.eval_episodes=4",
        "evaluate.final_eval_episodes=6",
        "evaluate.eval_envs=4",
        "evaluate.hidden_dim=16",
        "evaluate.batch_size=4",
    ]
    return load_run_config("tune_configs/evaluate_3m.yaml", tiny + extra)


def test_dead_actors_are_named_by_class_and_pid(ray_local):
    """The GCS lookup behind the evaluate stage's one line: a SIGKILLed actor is named, a ray.kill-ed one not."""
    import ray

    from rayeaq.core.ray_actors import actor_ids, died_since

    @ray.remote(num_cpus=0.01)
    class Victim:
        def pid(self) -> int:
            return os.getpid()

    before = actor_ids()
    killed, ended = Victim.remote(), Victim.remote()
    pid, _ = ray.get([killed.pid.remote(), ended.pid.remote()])  # both started
    assert died_since(before, wait_s=0) == []
    os.kill(pid, signal.SIGKILL)
    ray.kill(ended)
    dead = died_since(before, wait_s=30)
    assert dead == [f"class Victim, pid {pid} (WORKER_DIED)"], dead
    assert died_since(actor_ids(), wait_s=0) == []  # older deaths are not this run's


@pytest.mark.slow
def test_sigkill_rollout_actor_mid_evaluate_gives_the_same_result(ray_local, tmp_path):
    """A rollout actor (``evaluate.rollout_workers=1``) killed while it plays episodes is restarted and the
    episodes replayed: the metrics equal the uninterrupted run's."""
    import json

    from rayeaq.stages.evaluate import run_evaluation

    data = _eval_dataset(tmp_path)
    cfg = _eval_cfg(
        [
            "evaluate.updates=40",
            "evaluate.eval_interval=20",
            "evaluate.rollout_workers=1",
            "evaluate.cpus_per_rollout_worker=0.5",
        ]
    )
    reference = run_evaluation(cfg, [(data, 1.0)], tmp_path / "ref")
    killer = Killer("ray::evaluate:rollout:", lambda: True)  # the title while it runs a rollout
    killer.start()
    try:
        summary = run_evaluation(cfg, [(data, 1.0)], tmp_path / "killed")
    finally:
        killer.stop = True
        killer.join(timeout=5)
    assert killer.killed, "no rollout actor was killed mid-rollout"

    def metrics(row: dict) -> dict:  # without timings and the run's own paths
        return {
            k: v
            for k, v in row.items()
            if "time" not in k and "second" not in k and not k.endswith("_s") and str(tmp_path) not in str(v)
        }

    assert metrics(summary) == metrics(reference)
    rows = [
        [metrics(json.loads(line)) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        for name in ("ref", "killed")
    ]
    assert rows[0] == rows[1] and len(rows[0]) >= 2


@pytest.mark.slow
def test_sigkill_rllib_learner_mid_evaluate_is_one_line_and_writes_no_summary(ray_local, tmp_path):
    """A remote RLlib learner (``evaluate.learners=1``) killed mid-training: one line naming its pid (from the
    GCS, whichever error RLlib raised), no summary.json."""
    from rayeaq.stages.evaluate import EvaluateFailedError, run_evaluation

    data = _eval_dataset(tmp_path)
    cfg = _eval_cfg(
        [
            "evaluate.updates=2000",
            "evaluate.eval_interval=1000",
            "evaluate.learners=1",
            "evaluate.cpus_per_learner=0.5",
        ]
    )
    out = tmp_path / "out"
    start = time.monotonic()
    killer = Killer("ray::_WrappedExecutable.apply", lambda: time.monotonic() - start > 2.0)  # mid-update
    killer.start()
    try:
        with pytest.raises(EvaluateFailedError) as err:
            run_evaluation(cfg, [(data, 1.0)], out)
    finally:
        killer.stop = True
        killer.join(timeout=5)
    assert killer.killed
    text = str(err.value)
    assert "\n" not in text and f"pid {killer.killed[0]}" in text and "rerun the same command" in text, text
    assert not (out / "summary.json").exists()  # nothing a later stage would take as a finished evaluation
