"""analysis.stats against rliable (the reference) and against hand-computed values.

rliable's bootstrap draws its resampling indices from numpy's *global* RandomState; ours from a
RandomState seeded with the same number, in the same order, so the intervals must agree exactly.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from analysis import stats


def _import_rliable():
    """Import rliable's modules. Its dependency ``arch`` 7.x (rliable pins arch<8) calls pandas'
    ``deprecate_kwarg(old, new)``; pandas 3 added a leading ``klass`` argument. Adapt the call only."""
    import pandas.util._decorators as dec

    if list(inspect.signature(dec.deprecate_kwarg).parameters)[0] == "klass" and not hasattr(dec, "_rayeaq_compat"):
        original = dec.deprecate_kwarg

        @functools.wraps(original)
        def compat(*args, **kwargs):
            if args and isinstance(args[0], type) and issubclass(args[0], Warning):
                return original(*args, **kwargs)
            return original(FutureWarning, *args, **kwargs)

        dec.deprecate_kwarg = compat
        dec._rayeaq_compat = True
    from rliable import library, metrics

    return library, metrics


rly, rlm = _import_rliable()


def _scores(seed: int, runs: int, tasks: int, shift: float = 0.0) -> np.ndarray:
    return np.random.RandomState(seed).normal(loc=shift, size=(runs, tasks))


def _rliable_ci(scores, func, reps, seed):
    """rliable's point estimate and percentile CI, seeding numpy's global RNG (which it uses)."""
    np.random.seed(seed)
    point, ci = rly.get_interval_estimates({"x": scores}, lambda *a: np.array([func(*a)]), reps=reps)
    return float(point["x"][0]), float(ci["x"][0, 0]), float(ci["x"][1, 0])


# ------------------------------------------------------------------------------------------ point estimates


def test_iqm_by_hand():
    # 8 values: 2 cut from each end -> mean(3, 4, 5, 6)
    assert stats.iqm(np.arange(1.0, 9.0).reshape(4, 2)) == pytest.approx(4.5)
    # 5 values: int(1.25) = 1 cut from each end
    assert stats.iqm(np.array([[100.0], [1.0], [2.0], [3.0], [-50.0]])) == pytest.approx(2.0)


@pytest.mark.parametrize("shape", [(5, 1), (7, 3), (10, 4), (3, 2)])
def test_point_estimates_match_rliable(shape):
    s = _scores(sum(shape), *shape)
    assert stats.iqm(s) == pytest.approx(rlm.aggregate_iqm(s), abs=1e-12)
    assert stats.iqm(s) == pytest.approx(scipy.stats.trim_mean(s, 0.25, axis=None), abs=1e-12)
    assert stats.mean(s) == pytest.approx(rlm.aggregate_mean(s), abs=1e-12)
    assert stats.median(s) == pytest.approx(rlm.aggregate_median(s), abs=1e-12)


def test_iqm_is_batched_over_leading_axes():
    batch = np.stack([_scores(i, 6, 2) for i in range(4)])
    np.testing.assert_allclose(stats.iqm(batch), [rlm.aggregate_iqm(b) for b in batch], atol=1e-12)


def test_probability_of_improvement_matches_rliable():
    x, y = _scores(1, 6, 3, shift=0.5), _scores(2, 4, 3)
    assert stats.probability_of_improvement(x, y) == pytest.approx(rlm.probability_of_improvement(x, y), abs=1e-12)
    # ties count one half; identical samples give exactly 0.5
    ties = np.array([[1.0, 2.0], [1.0, 3.0]])
    assert stats.probability_of_improvement(ties, ties) == 0.5
    x, y = np.array([[1.0], [2.0], [2.0]]), np.array([[2.0], [0.0]])
    assert stats.probability_of_improvement(x, y) == pytest.approx((0 + 1 + 0.5 + 1 + 0.5 + 1) / 6)
    assert stats.probability_of_improvement(x, y) == pytest.approx(rlm.probability_of_improvement(x, y))


def test_relative_improvement_by_hand():
    assert stats.relative_improvement(np.full(5, 1.173), np.full(5, 1.0)) == pytest.approx(0.173)
    assert stats.relative_improvement(np.full(4, -0.5), np.full(4, -1.0)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="baseline"):
        stats.relative_improvement(np.ones(4), np.zeros(4))


# ------------------------------------------------------------------------------------------ bootstrap


@pytest.mark.parametrize("name", ["iqm", "mean", "median"])
@pytest.mark.parametrize("seed", [0, 7])
def test_bootstrap_ci_matches_rliable_exactly(name, seed):
    s = _scores(seed + 3, 5, 3)
    ours = stats.bootstrap_ci(s, getattr(stats, name), reps=500, seed=seed)
    ref_func = {"iqm": rlm.aggregate_iqm, "mean": rlm.aggregate_mean, "median": rlm.aggregate_median}[name]
    np.testing.assert_allclose(ours, _rliable_ci(s, ref_func, 500, seed), atol=1e-12)


def test_bootstrap_ci_close_to_rliable_with_independent_draws():
    """Different random streams: the intervals still agree to within Monte Carlo error."""
    s = _scores(5, 10, 2)
    ours = stats.bootstrap_ci(s, reps=4000, seed=123)
    ref = _rliable_ci(s, rlm.aggregate_iqm, 4000, 999)
    width = ref[2] - ref[1]
    assert ours[0] == pytest.approx(ref[0])
    assert abs(ours[1] - ref[1]) < 0.1 * width and abs(ours[2] - ref[2]) < 0.1 * width
    assert ours[1] < ours[0] < ours[2]


def test_resampling_is_stratified_by_task():
    """Each task's resampled runs come from that task only (disjoint value ranges make mixing visible)."""
    s = np.stack([np.arange(6.0), 100 + np.arange(6.0), 200 + np.arange(6.0)], axis=1)
    boot = stats._resample(s, np.random.RandomState(0), 200)
    for task in range(3):
        assert np.isin(boot[:, :, task], s[:, task]).all()
    assert len(np.unique(boot[:, :, 0])) > 1  # runs really are resampled


def test_constant_scores_give_zero_width_interval():
    assert stats.bootstrap_ci(np.full((5, 2), 0.7), reps=100) == pytest.approx((0.7, 0.7, 0.7))


def test_more_seeds_narrow_the_interval():
    few = stats.bootstrap_ci(_scores(1, 5, 1), reps=2000)
    many = stats.bootstrap_ci(_scores(1, 80, 1), reps=2000)
    assert many[2] - many[1] < few[2] - few[1]


def test_paired_intervals_match_rliable_exactly():
    x, y = _scores(1, 6, 2, shift=0.4), _scores(2, 5, 2)

    np.random.seed(4)
    p, ci = rly.get_interval_estimates(
        {"k": [x, y]}, lambda a, b: np.array([rlm.probability_of_improvement(a, b)]), reps=300
    )
    ours = stats.probability_of_improvement_ci(x, y, reps=300, seed=4)
    np.testing.assert_allclose(ours, [p["k"][0], ci["k"][0, 0], ci["k"][1, 0]], atol=1e-12)

    def rel(a, b):
        return np.array([(rlm.aggregate_iqm(a) - rlm.aggregate_iqm(b)) / abs(rlm.aggregate_iqm(b))])

    np.random.seed(9)
    p, ci = rly.get_interval_estimates({"k": [x + 3, y + 3]}, rel, reps=300)
    ours = stats.relative_improvement_ci(x + 3, y + 3, reps=300, seed=9)
    np.testing.assert_allclose(ours, [p["k"][0], ci["k"][0, 0], ci["k"][1, 0]], atol=1e-12)


def test_bad_inputs_are_errors():
    with pytest.raises(ValueError, match="finite"):
        stats.bootstrap_ci(np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="shape"):
        stats.bootstrap_ci(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="tasks"):
        stats.probability_of_improvement(np.zeros((3, 2)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="confidence"):
        stats.bootstrap_ci(np.ones(4), confidence=95)


# ------------------------------------------------------------------------------------------ pandas


def _frame() -> pd.DataFrame:
    rng = np.random.RandomState(0)
    rows = [
        {"map": m, "augmenter": a, "seed": s, "ret": rng.normal(1.0 if a == "eaq" else 0.8, 0.1)}
        for m in ("3m", "8m")
        for a in ("eaq", "none")
        for s in range(5)
    ]
    return pd.DataFrame(rows)


def test_score_matrix_and_summarize():
    df = _frame()
    m = stats.score_matrix(df[df.augmenter == "eaq"], "ret", task_cols=["map"])
    assert m.shape == (5, 2)
    table = stats.summarize(df, "ret", by=["augmenter"], task_cols=["map"], reps=300)
    assert list(table.augmenter) == ["eaq", "none"]
    assert (table.n_runs == 5).all()
    expected = stats.bootstrap_ci(m, reps=300, seed=0)
    np.testing.assert_allclose(table.loc[0, ["iqm", "ci_low", "ci_high"]].to_numpy(float), expected)
    # one task per group when task_cols is empty
    per_cell = stats.summarize(df, "ret", by=["map", "augmenter"], reps=100)
    assert len(per_cell) == 4 and (per_cell.ci_low <= per_cell.iqm).all() and (per_cell.iqm <= per_cell.ci_high).all()


def test_score_matrix_tasks_are_the_present_combinations_not_their_product():
    # 3m x {medium, poor} + 8m x {medium}: three tasks; (8m, poor) was never run and is not a gap
    rows = [
        (m, t, s, float(i * 10 + s))
        for i, (m, t) in enumerate([("3m", "medium"), ("3m", "poor"), ("8m", "medium")])
        for s in range(4)
    ]
    df = pd.DataFrame(rows, columns=["map", "tier", "seed", "ret"])
    m = stats.score_matrix(df, "ret", task_cols=["map", "tier"])
    np.testing.assert_array_equal(m, [[0, 10, 20], [1, 11, 21], [2, 12, 22], [3, 13, 23]])
    with pytest.raises(ValueError, match="missing"):  # a real gap still fails
        stats.score_matrix(df.drop(index=5), "ret", task_cols=["map", "tier"])


def test_tier_improvement_pools_maps_as_tasks():
    from analysis import tables

    rng = np.random.RandomState(1)
    rows = [
        {
            "map": m,
            "tier": t,
            "augmenter": a,
            "seed": s,
            "status": "done",
            "win_rate": 0.5,
            "normalized_return": rng.normal(0.6 if a == "eaq" else 0.5, 0.05) + (0.2 if m == "8m" else 0.0),
        }
        for m, tiers in (("3m", ("medium", "poor")), ("8m", ("medium",)))
        for t in tiers
        for a in ("eaq", "none")
        for s in range(5)
    ]
    df = pd.DataFrame(rows)
    table = tables.tier_improvement_table(df, metrics=["normalized_return"], reps=200)
    assert list(table["tier"]) == ["medium", "poor"] and list(table["maps"]) == [2, 1]
    medium = df[df.tier == "medium"].pivot(index="seed", columns=["map", "augmenter"], values="normalized_return")
    x, y = medium.xs("eaq", axis=1, level=1).to_numpy(), medium.xs("none", axis=1, level=1).to_numpy()
    expected = stats.relative_improvement_ci(x, y, reps=200)
    np.testing.assert_allclose(table.loc[0, ["rel_impr", "rel_low", "rel_high"]].to_numpy(float), expected)
    assert table.loc[0, "rel_low"] > 0


def test_score_matrix_rejects_missing_or_duplicate_runs():
    df = _frame()
    with pytest.raises(ValueError, match="missing"):
        stats.score_matrix(df.drop(index=0), "ret", task_cols=["map", "augmenter"])
    with pytest.raises(ValueError, match="duplicates"):
        stats.score_matrix(pd.concat([df, df.iloc[:1]]), "ret", task_cols=["map", "augmenter"])
