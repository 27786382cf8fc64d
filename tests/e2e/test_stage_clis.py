"""The fit and augment commands end to end on real collected SMAX episodes, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

from rayeaq.augmenters.mixing import load_augmented
from rayeaq.data.reader import load_dataset

TINY = [
    "diffusion.horizon=16",
    "diffusion.dim=8",
    "diffusion.dim_mults=[1,2]",
    "diffusion.groups=4",
    "diffusion.n_diffusion_steps=10",
    "fit.steps=20",
    "fit.batch_size=16",
    "fit.report_every=10",
    "fit.checkpoint_every=10",
    "fit.workers=1",
    "fit.cpus_per_worker=0.9",
    "ray.num_cpus=4",
]


def _run(module: str, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", module, "tune_configs/fit_3m.yaml", *TINY, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_fit_then_augment_commands(real_3m_poor_dataset, tmp_path):
    fit_out, aug_out = tmp_path / "fit", tmp_path / "aug"
    fitted = _run("rayeaq.fit", "--dataset", str(real_3m_poor_dataset), "--out", str(fit_out))
    assert fitted.stdout.strip().splitlines()[-1].startswith("fitted 20 steps")
    assert (fit_out / "checkpoint" / "generator.pt").is_file() and (fit_out / "run.json").is_file()
    # a rerun resumes from the last checkpoint instead of starting over
    again = _run("rayeaq.fit", "--dataset", str(real_3m_poor_dataset), "--out", str(fit_out), "fit.steps=30")
    assert "resumed from 20" in again.stdout.strip().splitlines()[-1]

    _run(
        "rayeaq.augment",
        "--dataset",
        str(real_3m_poor_dataset),
        "--checkpoint",
        str(fit_out),
        "--out",
        str(aug_out),
        "augment.augmenter=eaq",
        "augment.drop_illegal=false",
        "augment.num_episodes=40",
        "augment.workers=2",
        "augment.sampling_steps=4",
    )
    synthetic = load_dataset(aug_out)
    assert synthetic.card.source == "synthetic" and len(synthetic.episodes) > 0
    assert (synthetic.episodes.source == "synthetic").all()
    assert synthetic.card.generation  # the generator's fingerprint and config travel with the data
    fidelity = json.loads((aug_out / "fidelity.json").read_text())
    assert 0.0 < fidelity["share_kept"] <= 1.0 and 0.0 <= fidelity["legal_action_share"] <= 1.0
    n_real = len(load_dataset(real_3m_poor_dataset).episodes)
    ratio = min(0.1, len(synthetic.episodes) / n_real)
    mixed, _ = load_augmented(real_3m_poor_dataset, aug_out, ratio=ratio, seed=0)
    assert (mixed.source == "real").sum() == n_real
    assert (mixed.source == "synthetic").sum() == round(ratio * n_real)


def test_stage_commands_reject_bad_input(tmp_path):
    for module in ("rayeaq.fit", "rayeaq.augment", "rayeaq.evaluate"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                module,
                "tune_configs/fit_3m.yaml",
                "fit.steps=-1",
                "--dataset",
                str(tmp_path / "missing"),
                "--out",
                str(tmp_path / module),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, (module, proc.stderr[-2000:])
        assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1, proc.stderr
