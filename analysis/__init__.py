"""Analysis of Tune results: aggregate statistics (:mod:`analysis.stats`), loaders and notebooks."""
