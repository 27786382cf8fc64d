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
# # Sensitivity to λ, horizon and augmentation ratio
#
# For each hyper-parameter, the IQM over seeds (95 % stratified-bootstrap CI) of `eaq` — and of `eaq_noq`
# for horizon and ratio — at each value it takes, the other hyper-parameters fixed at the sweep's base value
# (else their most common one). On the λ axis `eaq_noq` is EAQ's λ = 0 point. The dashed line and band are
# `none` (no augmentation) in the same map × tier.

# %% tags=["parameters"]
import os

results_dir = os.environ.get("RAYEAQ_RESULTS_DIR", "results/tune")
out_dir = os.environ.get("RAYEAQ_REPORT_DIR", "")
bootstrap_reps = 2000
metric = "normalized_return"

# %%
from pathlib import Path

from analysis import figures, loader, tables

out = Path(out_dir or Path(results_dir) / "report")
(out / "tables").mkdir(parents=True, exist_ok=True)
results = loader.load_results(results_dir)
trials = tables.finished(results.trials)
baseline = tables.main_table(
    tables.select_main(trials, prefer=results.defaults)[0], metrics=[metric], reps=bootstrap_reps
)

# %%
curves = {}
lambda_trials = trials.assign(augmenter=trials["augmenter"].replace({"eaq_noq": "eaq"}))  # λ = 0 is eaq_noq
for param, augmenters in [("q_weight", ["eaq"]), ("horizon", ["eaq", "eaq_noq"]), ("ratio", ["eaq", "eaq_noq"])]:
    source = lambda_trials if param == "q_weight" else trials
    curves[param] = tables.sensitivity(source, param, metric, augmenters, reps=bootstrap_reps, prefer=results.defaults)
    curves[param].to_csv(out / "tables" / f"sensitivity_{param}.csv", index=False)
    print(f"{param}: {sorted(curves[param][param].unique().tolist())}")

# %%
figures.save(
    figures.sensitivity_plot(curves["q_weight"], "q_weight", baseline), out / "figures" / "sensitivity_q_weight.png"
)

# %%
figures.save(
    figures.sensitivity_plot(curves["horizon"], "horizon", baseline), out / "figures" / "sensitivity_horizon.png"
)

# %%
figures.save(figures.sensitivity_plot(curves["ratio"], "ratio", baseline), out / "figures" / "sensitivity_ratio.png")
