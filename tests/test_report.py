"""``python -m rayeaq.report``: the notebooks execute headless on a real tiny sweep and write HTML, PNG and CSV.

The report runs as a subprocess, exactly as a user runs it, on the results of the session's tiny
``rayeaq.tune`` sweep (tests/analysis_sweep.py). The numbers it writes are compared with the tables
computed here from the loader, so a notebook that ran but wrote something else fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from analysis_sweep import AUGMENTERS, REPO, tiny_sweep

from analysis import loader, tables
from rayeaq import report

FIGURES = [
    "learning_curves_normalized_return.png",
    "learning_curves_win_rate.png",
    "probability_of_improvement.png",
    "sensitivity_horizon.png",
    "sensitivity_q_weight.png",
    "sensitivity_ratio.png",
    "tsne_real_vs_synthetic.png",
]
TABLES = [
    "fidelity.csv",
    "learning_curves_normalized_return.csv",
    "learning_curves_win_rate.csv",
    "main_table.csv",
    "main_table_formatted.csv",
    "probability_of_improvement.csv",
    "sensitivity_horizon.csv",
    "sensitivity_q_weight.csv",
    "sensitivity_ratio.csv",
    "tier_improvement.csv",
]
REPS = 200


def _report(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "rayeaq.report", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def sweep_dir(ray_local, tmp_path_factory) -> Path:
    return tiny_sweep(tmp_path_factory)


@pytest.fixture(scope="session")
def report_dir(sweep_dir) -> Path:
    done = _report(str(sweep_dir), "--reps", str(REPS))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "report: 7 figures" in done.stdout
    return sweep_dir / "report"


def test_missing_or_empty_results_dir_is_one_line_exit_2(tmp_path):
    for target in (tmp_path / "nope", tmp_path):
        done = _report(str(target), timeout=120)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert not (target / "report").exists()


def test_reps_must_be_positive_and_missing_extras_are_one_line(tmp_path, monkeypatch, capsys):
    for bad in ("0", "-3", "x"):
        with pytest.raises(SystemExit) as exit_info:
            report.main([str(tmp_path), "--reps", bad])
        assert exit_info.value.code == 2 and "expected a positive integer" in capsys.readouterr().err
    monkeypatch.setattr(report, "EXTRAS", ("jupytext", "rayeaq_no_such_module"))
    with pytest.raises(
        report.ReportError, match=r"missing: rayeaq_no_such_module\): pip install -e \"\.\[analysis\]\""
    ):
        report.make_report(tmp_path)


def test_parameters_are_injected_after_the_tagged_cell():
    import jupytext

    nb = jupytext.read(report.notebook_dir() / "main_table.py")
    tagged = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    report.inject(nb, {"results_dir": "/x", "bootstrap_reps": 7})
    cell = nb.cells[tagged + 1]
    assert cell.metadata["tags"] == ["injected-parameters"]
    assert "results_dir = '/x'" in cell.source and "bootstrap_reps = 7" in cell.source
    assert set(report.NOTEBOOKS) == {p.stem for p in report.notebook_dir().glob("*.py")}


def test_kernel_runs_this_interpreter(tmp_path, monkeypatch):
    # a "python3" kernel spec elsewhere on the machine (here: a broken one first on JUPYTER_PATH) is never used
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps({"argv": ["/bin/false", "{connection_file}"], "display_name": "broken", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys, os; print(sys.executable)")])
    source = tmp_path / "probe.py"
    import jupytext

    jupytext.write(nb, source, fmt="py:percent")
    report.execute_notebook(source, {}, tmp_path)
    out = nbformat.read(tmp_path / "probe.ipynb", as_version=4)
    assert out.cells[-1].outputs[0]["text"].strip() == sys.executable
    assert (tmp_path / "probe.html").read_text().count("<html") == 1


def test_a_failing_cell_is_a_user_error_naming_the_notebook(tmp_path):
    import jupytext

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise ValueError('boom')")])
    jupytext.write(nb, tmp_path / "bad.py", fmt="py:percent")
    with pytest.raises(report.ReportError, match=r"bad\.py failed .*ValueError: boom"):
        report.execute_notebook(tmp_path / "bad.py", {}, tmp_path)
    assert (tmp_path / "bad.ipynb").is_file()


@pytest.mark.slow
def test_report_writes_notebooks_figures_and_tables(report_dir):
    for name in report.NOTEBOOKS:
        nb = nbformat.read(report_dir / f"{name}.ipynb", as_version=4)
        errors = [
            o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o["output_type"] == "error"
        ]
        assert not errors, (name, errors)
        assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code"), name
        assert "<html" in (report_dir / f"{name}.html").read_text()
    assert sorted(p.name for p in (report_dir / "figures").glob("*.png")) == FIGURES
    assert sorted(p.name for p in (report_dir / "tables").glob("*.csv") if not p.name.startswith("tsne_")) == TABLES
    index = (report_dir / "index.html").read_text()
    assert all(f"figures/{f}" in index for f in FIGURES) and all(f"tables/{t}" in index for t in TABLES)


@pytest.mark.slow
def test_report_numbers_are_the_loaders(report_dir, sweep_dir):
    results = loader.load_results(sweep_dir)
    main_trials, _ = tables.select_main(tables.finished(results.trials), prefer=results.defaults)
    expected = tables.main_table(main_trials, reps=REPS)
    written = pd.read_csv(report_dir / "tables" / "main_table.csv")
    assert list(written["augmenter"]) == list(AUGMENTERS)
    for column in (
        "normalized_return_iqm",
        "normalized_return_ci_low",
        "win_rate_ci_high",
        "normalized_return_rel_impr",
        "dataset_normalized_return",
    ):
        np.testing.assert_allclose(written[column], expected[column], err_msg=column)
    poi = pd.read_csv(report_dir / "tables" / "probability_of_improvement.csv")
    expected_pairs = {("eaq", "none"), ("eaq", "eaq_noq")} if "eaq" in AUGMENTERS else set()
    assert set(zip(poi["x"], poi["y"])) == expected_pairs
    tiers = pd.read_csv(report_dir / "tables" / "tier_improvement.csv")
    expected_tiers = tables.tier_improvement_table(main_trials, "eaq", "none", reps=REPS)
    np.testing.assert_allclose(tiers["rel_impr"], expected_tiers["rel_impr"])


@pytest.mark.slow
def test_tsne_of_real_and_synthetic_observations(report_dir):
    import matplotlib.image

    embeddings = sorted((report_dir / "tables").glob("tsne_*.csv"))
    assert embeddings, "no t-SNE was computed"
    e = pd.read_csv(embeddings[0])
    assert e["synthetic"].any() and (~e["synthetic"]).any()
    assert np.isfinite(e[["x", "y"]].to_numpy()).all() and e[["x", "y"]].std().min() > 0
    image = matplotlib.image.imread(report_dir / "figures" / "tsne_real_vs_synthetic.png")
    assert image.shape[0] > 200 and image.shape[1] > 200 and image[..., :3].std() > 0.05
    nb = nbformat.read(report_dir / "fidelity.ipynb", as_version=4)
    assert any(
        "t-SNE panels: " in o.get("text", "") and "t-SNE panels: 0" not in o.get("text", "")
        for c in nb.cells
        for o in c.get("outputs", [])
    )
    assert json.loads(json.dumps(list(e.columns))) == ["x", "y", "synthetic"]
