"""Fit once, augment many: the content-addressed cache of the sweep (rayeaq.sweep.cache)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

from rayeaq.sweep.cache import DONE_FILE, cached, generator_key

FIT = {
    "steps": 100,
    "batch_size": 32,
    "lr": 2e-4,
    "checkpoint_every": 50,
    "report_every": 10,
    "workers": 1,
    "cpus_per_worker": 0.9,
    "torch_threads": 1,
    "keep_checkpoints": 2,
}


def _build(directory: Path, log: str, seconds: float) -> None:
    with open(log, "a", encoding="utf-8") as f:  # one line per build that started
        f.write(f"{os.getpid()}\n")
    time.sleep(seconds)
    (directory / "checkpoint").mkdir(exist_ok=True)
    (directory / "checkpoint" / "generator.pt").write_text("weights", encoding="utf-8")


def _worker(root: str, key: str, log: str, seconds: float, results) -> None:
    directory, built = cached(Path(root), key, lambda d: _build(d, log, seconds), record=lambda: {"by": os.getpid()})
    results.put((str(directory), built))


def test_same_key_is_built_once_by_concurrent_trials(tmp_path):
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    log = tmp_path / "builds.log"
    procs = [
        ctx.Process(target=_worker, args=(str(tmp_path / "cache"), "gen-a", str(log), 1.0, results)) for _ in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    outcomes = [results.get(timeout=5) for _ in procs]
    assert len(log.read_text().splitlines()) == 1  # one fit for three trials
    assert sorted(built for _, built in outcomes) == [False, False, True]
    assert len({d for d, _ in outcomes}) == 1 and (Path(outcomes[0][0]) / DONE_FILE).is_file()
    # another key fits again
    _, built = cached(tmp_path / "cache", "gen-b", lambda d: _build(d, str(log), 0.0))
    assert built and len(log.read_text().splitlines()) == 2


def test_a_killed_build_is_redone_and_a_finished_one_reused(tmp_path):
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    log = tmp_path / "builds.log"
    victim = ctx.Process(target=_worker, args=(str(tmp_path / "cache"), "gen-k", str(log), 30.0, results))
    victim.start()
    deadline = time.time() + 30
    while not (log.is_file() and log.read_text().strip()) and time.time() < deadline:
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)  # killed mid-fit, holding the lock
    victim.join(10)
    assert not (tmp_path / "cache" / "gen-k" / DONE_FILE).exists()  # nothing half-built counts as done
    directory, built = cached(tmp_path / "cache", "gen-k", lambda d: _build(d, str(log), 0.0))
    assert built and (directory / DONE_FILE).is_file()  # the lock died with the process; the fit is redone
    directory, built = cached(tmp_path / "cache", "gen-k", lambda d: _build(d, str(log), 0.0))
    assert not built and len(log.read_text().splitlines()) == 2


def test_generator_key_follows_what_determines_the_generator():
    diffusion = {"horizon": 32, "q_weight": 0.1}
    key = generator_key("fp1", diffusion, FIT, 0)
    bookkeeping = {**FIT, "checkpoint_every": 7, "report_every": 3, "cpus_per_worker": 0.5, "keep_checkpoints": 5}
    assert generator_key("fp1", diffusion, bookkeeping, 0) == key
    assert generator_key("fp2", diffusion, FIT, 0) != key
    assert generator_key("fp1", {**diffusion, "q_weight": 0.0}, FIT, 0) != key
    assert generator_key("fp1", diffusion, {**FIT, "steps": 200}, 0) != key
    assert generator_key("fp1", diffusion, FIT, 1) != key
    # return-conditioned: λ is the sampling-time guidance scale, so eaq (λ 1) and eaq_noq (λ 0) share one fit
    guided = {"horizon": 32, "objective": "return", "q_weight": 1.0}
    assert generator_key("fp1", {**guided, "q_weight": 0.0}, FIT, 0) == generator_key("fp1", guided, FIT, 0)
    assert generator_key("fp1", {**guided, "cond_drop": 0.5}, FIT, 0) != generator_key("fp1", guided, FIT, 0)


def test_trials_with_the_same_augment_config_share_one_synthetic_dataset(tmp_path):
    from rayeaq.data.reader import load_dataset
    from rayeaq.data.writer import write_dataset
    from rayeaq.run_config import load_run_config
    from rayeaq.sweep.trial import run_stages
    from support.plain_stages import PlainStages
    from support.random_episodes import toy_episodes, toy_spec

    episodes = toy_episodes(10, seed=2)
    episodes.source[:] = "real"
    real = tmp_path / "real"
    write_dataset(real, episodes, toy_spec(), source="real", tier="medium")
    stages = PlainStages(result=lambda sources: {"normalized_return": 0.5, "synthetic_weight": sources[-1][1]})
    cache, rows = tmp_path / "cache", []
    base = ["augment.augmenter=gaussian_noise", "augment.num_episodes=6", "seed=3"]

    def trial(name: str, *extra: str) -> dict:
        cfg = load_run_config(None, [*base, *extra])
        return run_stages(cfg, real, tmp_path / name, stages, lambda row, ckpt: rows.append(row), generators=cache)

    first = trial("a", "evaluate.lr=0.001")
    second = trial("b", "evaluate.lr=0.0003", "augment.ratio=0.5")  # evaluator and mixing change: same data
    assert stages.augments == 1
    assert (first["synthetic_reused"], second["synthetic_reused"]) == (False, True)
    assert first["synthetic_key"] == second["synthetic_key"] and first["aug_kept"] == second["aug_kept"] == 6
    assert len(load_dataset(cache / first["synthetic_key"] / "data").episodes) == 6  # kept for the next trial
    assert (tmp_path / "b" / "synthetic").resolve() == (cache / first["synthetic_key"] / "data").resolve()
    third = trial("c", "augment.noise_sigma=0.2")  # other data
    assert stages.augments == 2 and third["synthetic_key"] != first["synthetic_key"]
    fourth = trial("d", "seed=4")
    assert stages.augments == 3 and not fourth["synthetic_reused"]
