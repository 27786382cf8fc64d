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
# # Probability of improvement
#
# P(X > Y): the probability that a run of `X` scores higher than a run of `Y` on the same map × tier task
# (ties count one half), averaged over tasks, with a 95 % stratified-bootstrap interval (X's and Y's seeds
# resampled independently). Above 0.5 means `X` tends to win; an interval that excludes 0.5 is a
# statistically meaningful improvement (Agarwal et al., 2021).

# %% tags=["parameters"]
import os

results_dir = os.environ.get("RAYEAQ_RESULTS_DIR", "results/tune")
out_dir = os.environ.get("RAYEAQ_REPORT_DIR", "")
bootstrap_reps = 2000

# %%
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from analysis import figures, loader, tables

out = Path(out_dir or Path(results_dir) / "report")
(out / "tables").mkdir(parents=True, exist_ok=True)
results = loader.load_results(results_dir)
trials, _ = tables.select_main(tables.finished(results.trials), prefer=results.defaults)
poi = tables.improvement_table(trials, pairs=[("eaq", "none"), ("eaq", "eaq_noq")], reps=bootstrap_reps)
poi.to_csv(out / "tables" / "probability_of_improvement.csv", index=False)
poi

# %%
fig, ax = plt.subplots(figsize=(6, 0.6 + 0.5 * max(len(poi), 1)))
if poi.empty:
    ax.text(0.5, 0.5, "no pair of augmenters shares a map × tier task", ha="center", va="center")
    ax.axis("off")
else:
    labels = [f"P({r.x} > {r.y}) · {figures.METRIC_LABELS.get(r.metric, r.metric)}" for r in poi.itertuples()]
    y = range(len(poi))
    ax.errorbar(
        poi["poi"],
        y,
        xerr=[poi["poi"] - poi["ci_low"], poi["ci_high"] - poi["poi"]],
        fmt="o",
        color="#d62728",
        capsize=4,
    )
    ax.axvline(0.5, ls="--", color="grey")
    ax.set_yticks(list(y), labels)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("probability of improvement (95 % CI)")
    ax.grid(axis="x", alpha=0.3)
fig.tight_layout()
figures.save(fig, out / "figures" / "probability_of_improvement.png")
