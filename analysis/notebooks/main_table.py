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
# # Main table: normalized return and win rate per map × tier × augmenter
#
# Interquartile mean (IQM) over seeds with a 95 % stratified-bootstrap confidence interval (rliable's
# definitions, `analysis.stats`), the relative improvement of the IQM over `none` (the paper's
# "+17.3 % medium / +12.9 % poor" metric, with its own bootstrap interval) and the dataset's own mean.

# %% tags=["parameters"]
import os

results_dir = os.environ.get("RAYEAQ_RESULTS_DIR", "results/tune")  # one Tune results directory
out_dir = os.environ.get("RAYEAQ_REPORT_DIR", "")  # default: <results_dir>/report
bootstrap_reps = 2000

# %%
from pathlib import Path

from analysis import loader, tables

out = Path(out_dir or Path(results_dir) / "report")
(out / "tables").mkdir(parents=True, exist_ok=True)
results = loader.load_results(results_dir)
trials = tables.finished(results.trials)
print(f"{len(results.trials)} trials ({len(trials)} finished) in {results_dir}")
trials[
    [
        "trial_id",
        "map",
        "tier",
        "augmenter",
        "q_weight",
        "horizon",
        "ratio",
        "seed",
        "normalized_return",
        "win_rate",
        "status",
    ]
]

# %% [markdown]
# Sweeps that also vary λ, horizon or ratio have several trials per cell and seed; the main table keeps one
# value of each per augmenter: the sweep's base config value when it was run, else the most common one.

# %%
main_trials, chosen = tables.select_main(trials, prefer=results.defaults)
print(chosen or "every augmenter has a single configuration")

# %%
table = tables.main_table(main_trials, reps=bootstrap_reps)
table.to_csv(out / "tables" / "main_table.csv", index=False)
pretty = tables.format_main(table)
pretty.to_csv(out / "tables" / "main_table_formatted.csv", index=False)
pretty

# %% [markdown]
# Relative improvement of `eaq` over `none` per map × tier (the cells of the table above):

# %%
per_cell = table[table["augmenter"] == "eaq"][
    ["map", "tier", "normalized_return_rel_impr", "normalized_return_rel_low", "normalized_return_rel_high"]
]
per_cell.assign(**{c: per_cell[c] * 100 for c in per_cell.columns[2:]}).round(1)

# %% [markdown]
# Per tier, pooled over maps (the paper's headline "+17.3 % medium / +12.9 % poor" form): the IQM over every
# seed × map of the tier, maps as tasks, with a stratified-bootstrap interval (seeds resampled within each map).

# %%
headline = tables.tier_improvement_table(main_trials, "eaq", "none", reps=bootstrap_reps)
headline.to_csv(out / "tables" / "tier_improvement.csv", index=False)
headline.assign(**{c: headline[c] * 100 for c in ("rel_impr", "rel_low", "rel_high")}).round(1)
