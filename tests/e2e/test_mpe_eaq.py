"""EAQ on continuous actions end to end, as a user runs it: ``rayeaq.collect`` a tiny MPE dataset, ``rayeaq.fit``
the generator (state-derived layout) for a few steps, ``rayeaq.augment``; the synthetic dataset loads, its box
actions lie in the box, every episode starts at row 0 and lasts MPE's 25 steps, it mixes with the real one, and
``fidelity.json`` carries the physics residual (real at its floor) and the simulator's consistency figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rayeaq.data.reader import load_dataset, load_mixture

TINY_FIT = [
    "env.backend=mpe",
    "env.map=omar_spread",
    "diffusion.layout=state",
    "diffusion.dim=8",
    "diffusion.dim_mults=[1,2]",
    "diffusion.groups=4",
    "diffusion.n_diffusion_steps=10",
    "fit.steps=20",
    "fit.batch_size=16",
    "fit.report_every=10",
    "fit.checkpoint_every=10",
    "fit.workers=1",
    "augment.workers=1",
    "augment.num_episodes=16",
    "augment.sampling_steps=5",
    "augment.sim_transitions=200",
]


@pytest.mark.slow
def test_collect_fit_augment_on_mpe(ray_local, tmp_path):
    from rayeaq.augment import main as augment
    from rayeaq.collect import main as collect
    from rayeaq.fit import main as fit

    data, fit_out, aug_out = tmp_path / "data", tmp_path / "fit", tmp_path / "aug"
    assert (
        collect(
            [
                "tune_configs/collect_mpe.yaml",
                "collect.episodes=32",
                "collect.mpe.tiers=[expert]",
                "collect.mpe.chunk=32",
                "--out",
                str(data),
            ]
        )
        == 0
    )
    real_dir = data / "expert"
    assert fit(["tune_configs/fit_3m.yaml", *TINY_FIT, "--dataset", str(real_dir), "--out", str(fit_out)]) == 0
    code = augment(
        [
            "tune_configs/fit_3m.yaml",
            *TINY_FIT,
            "--dataset",
            str(real_dir),
            "--checkpoint",
            str(fit_out),
            "--out",
            str(aug_out),
        ]
    )
    assert code == 0
    syn = load_dataset(aug_out)
    card, e = syn.card, syn.episodes
    assert card.source == "synthetic" and card.is_box and card.has_agent_reward and len(e) == 16
    assert card.action_space == {"kind": "box", "dim": 2, "low": -1.0, "high": 1.0}
    assert e.is_box and e.avail_actions is None and e.agent_reward is not None
    assert (e.actions >= -1.0).all() and (e.actions <= 1.0).all()
    assert (e.length == 25).all() and e.filled[:, 0].all()
    assert (e.filled.sum(1) == e.length).all() and not e.terminated.any()
    np.testing.assert_allclose(e.reward, e.agent_reward.mean(-1), atol=1e-4)

    mixed, _ = load_mixture([(str(real_dir), 1.0), (str(aug_out), 1.0)], seed=0)
    assert len(mixed) == 32 + 16 and mixed.is_box

    report = json.loads((aug_out / "fidelity.json").read_text())
    physics = report["simulator"]["physics_residual"]
    assert physics["real"]["mean"] < 1e-5 and physics["synthetic"]["transitions"] == 200
    assert physics["ratio"] >= 1.0 and physics["relative_to_step"] > 0
    consistency = report["simulator"]["consistency"]["synthetic"]
    assert consistency["obs_abs_error"] < 1e-5 and consistency["reward_abs_error"] < 1e-3  # state layout
