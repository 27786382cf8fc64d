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
# # Generator fidelity and a t-SNE of real against synthetic observations
#
# The augment stage's fidelity figures (mean and std over seeds) per map × tier × augmenter × λ × horizon,
# and the paper's Figure 3: a 2-D t-SNE of per-agent observations drawn from the real dataset and from a
# trial's synthetic dataset (read with `rayeaq.data.reader.load_dataset` from the paths the trial recorded).

# %% tags=["parameters"]
import os

results_dir = os.environ.get("RAYEAQ_RESULTS_DIR", "results/tune")
out_dir = os.environ.get("RAYEAQ_REPORT_DIR", "")
tsne_rows = 300  # observation rows per side
tsne_panels = 3  # trials shown (one per map × tier × augmenter, eaq first)

# %%
from pathlib import Path

import pandas as pd

from analysis import figures, loader, tables

out = Path(out_dir or Path(results_dir) / "report")
(out / "tables").mkdir(parents=True, exist_ok=True)
trials = tables.finished(loader.load_results(results_dir).trials)
fidelity = tables.fidelity_table(trials)
fidelity.to_csv(out / "tables" / "fidelity.csv", index=False)
fidelity

# %% [markdown]
# Trials whose synthetic dataset still has its shards (`tune.keep_synthetic: true`) next to a readable real
# dataset:


# %%
def readable(path) -> bool:
    return isinstance(path, str) and any((Path(path) / "shards").glob("*"))


candidates = trials[trials["synthetic_dataset"].map(readable) & trials["real_dataset"].map(readable)]
candidates = candidates.sort_values(
    ["augmenter", "seed"], key=lambda s: s.map(lambda a: a != "eaq") if s.name == "augmenter" else s
)
picked = candidates.drop_duplicates(["map", "tier", "augmenter"]).head(tsne_panels)
panels = []
for row in picked.itertuples():
    real = figures.observation_sample(row.real_dataset, tsne_rows, seed=0)
    synthetic = figures.observation_sample(row.synthetic_dataset, tsne_rows, seed=1)
    embedding, is_synthetic = figures.tsne_embedding(real, synthetic, seed=0)
    panels.append((f"{row.map} · {row.tier} · {row.augmenter} (seed {row.seed})", embedding, is_synthetic))
    pd.DataFrame({"x": embedding[:, 0], "y": embedding[:, 1], "synthetic": is_synthetic}).to_csv(
        out / "tables" / f"tsne_{row.trial_id}.csv", index=False
    )
print(f"t-SNE panels: {len(panels)}")

# %%
figures.save(figures.tsne_plot(panels), out / "figures" / "tsne_real_vs_synthetic.png")
