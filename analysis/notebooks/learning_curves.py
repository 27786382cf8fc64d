# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Evaluator learning curves per augmenter
#
# Greedy evaluations of the offline QMIX learner during training: IQM over seeds at each evaluation step
# with a 95 % stratified-bootstrap band, one line per augmenter (the main-table configuration of each).

# %% tags=["parameters"]
import os

results_dir = os.environ.get("RAYEAQ_RESULTS_DIR", "results/tune")
out_dir = os.environ.get("RAYEAQ_REPORT_DIR", "")
bootstrap_reps = 500

# %%
from pathlib import Path

from analysis import figures, loader, tables

out = Path(out_dir or Path(results_dir) / "report")
(out / "tables").mkdir(parents=True, exist_ok=True)
results = loader.load_results(results_dir)
main_trials, _ = tables.select_main(tables.finished(results.trials), prefer=results.defaults)
steps = results.steps[results.steps["trial_id"].isin(main_trials["trial_id"])]
print(f"{len(steps)} evaluation steps from {steps['trial_id'].nunique()} trials")

# %%
for metric in ("normalized_return", "win_rate"):
    curves = tables.learning_curves(steps, metric, reps=bootstrap_reps)
    curves.to_csv(out / "tables" / f"learning_curves_{metric}.csv", index=False)
    figures.save(figures.learning_curve_plot(curves), out / "figures" / f"learning_curves_{metric}.png")
