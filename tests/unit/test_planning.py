"""Neyman allocation, the sample-size planner, and the difference estimator against ppi_py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.sampling import stratified_sample_plan
from annotator.stats.planning import confusion_estimate, neyman_allocation, plan_sample_size, stratum_spread
from annotator.stats.prevalence import estimate_prevalence, simulate_coverage
from tests.unit.test_prevalence import SHARES, biased_confusion


def test_neyman_allocation_is_proportional_to_size_times_spread_with_a_floor() -> None:
    alloc = neyman_allocation([1000, 1000, 100, 3], [0.1, 0.4, 0.4, 0.4], 200, floor=2)
    assert alloc.sum() == 200 and alloc[3] == 2  # floor, even though N_h S_h is tiny
    assert alloc[1] == pytest.approx(4 * alloc[0], rel=0.1)  # same size, four times the spread
    assert alloc[1] == pytest.approx(10 * alloc[2], rel=0.15)
    assert neyman_allocation([5, 5], [1, 1], 100).tolist() == [5, 5]  # capped at the stratum sizes
    with pytest.raises(ValueError):
        neyman_allocation([5, -1], [1, 1], 3)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 500), min_size=1, max_size=8), st.integers(0, 1500), st.integers(0, 5), st.data())
def test_allocation_always_sums_to_the_target_within_sizes(sizes, total, floor, data) -> None:
    spreads = data.draw(st.lists(st.floats(0, 0.5), min_size=len(sizes), max_size=len(sizes)))
    alloc = neyman_allocation(sizes, spreads, total, floor=floor)
    assert alloc.sum() == min(total, sum(sizes))
    assert (alloc >= 0).all() and (alloc <= np.array(sizes)).all()


def test_stratified_plan_uses_the_spreads() -> None:
    predicted = pd.Series(["big"] * 5000 + ["small"] * 500, index=[f"t{i:05d}" for i in range(5500)])
    even = stratified_sample_plan(predicted, size=200, seed=1)
    neyman = stratified_sample_plan(predicted, size=200, seed=1, spreads={"big": 0.05, "small": 0.45})
    assert even["stratum"].value_counts()["small"] == pytest.approx(200 * 500 / 5500, abs=1)
    assert neyman["stratum"].value_counts()["small"] > 2 * even["stratum"].value_counts()["small"]
    assert neyman.groupby("stratum")["weight"].first()["big"] == pytest.approx(
        5000 / neyman["stratum"].value_counts()["big"])


def test_neyman_stratified_sample_beats_simple_random_for_a_biased_model() -> None:
    kwargs = dict(n_sims=150, N=20_000, n=300, true_shares=SHARES, confusion=biased_confusion(), seed=4)
    srs = simulate_coverage(design="srs", **kwargs)
    strat = simulate_coverage(design="stratified", **kwargs)
    assert np.mean(list(strat["rmse"].values())) < np.mean(list(srs["rmse"].values()))


def test_confusion_estimate_shrinks_toward_the_prior_and_rows_sum_to_one() -> None:
    p = confusion_estimate([900, 100], np.array([[0, 0], [0, 0]]))
    assert p[0, 0] == pytest.approx(0.8 + 0.2 * 0.9) and p.sum(axis=1) == pytest.approx([1, 1])
    p = confusion_estimate([900, 100], np.array([[98, 2], [10, 10]]))
    assert p[1, 1] == pytest.approx((10 + 2 * (0.8 + 0.2 * 0.1)) / 22)
    assert stratum_spread(p, 1) == pytest.approx(np.sqrt(p[:, 1] * (1 - p[:, 1])))


def test_planner_sample_sizes_give_the_target_width() -> None:
    sizes = [18_000, 2_000]
    p = np.array([[0.95, 0.05], [0.10, 0.90]])
    plan = plan_sample_size(sizes, p, category=1, width=0.04)
    z = 1.959964
    # difference estimator: half-width z sqrt((1 - n/N) var_r / n) equals 0.02 at the planned n
    n, N = plan["srs"], 20_000
    var_r = 0.9 * 0.05 + 0.1 * 0.10 - (0.9 * 0.05 - 0.1 * 0.10) ** 2
    assert z * np.sqrt((1 - n / N) * var_r / n) <= 0.02 < z * np.sqrt((1 - (n - 1) / N) * var_r / (n - 1))
    assert plan["stratified_neyman"] <= plan["stratified_proportional"] <= plan["srs"] * 1.05
    assert plan["share"] == pytest.approx(0.9 * 0.05 + 0.1 * 0.9)
    with pytest.raises(ValueError, match="width"):
        plan_sample_size(sizes, p, category=1, width=0)


def test_difference_estimator_matches_ppi_py_point_and_rectifier_variance() -> None:
    """ppi_py (Angelopoulos et al.) estimates a super-population mean from a separate unlabelled set:
    its point estimate equals ours when the unlabelled set is the whole frame; its variance is
    var_f / N + var_r / n where ours, for this frame, is (1 - n/N) var_r / n (no var_f term)."""
    import ppi_py

    rng = np.random.default_rng(3)
    N, n = 5_000, 400
    truth = rng.choice(3, size=N, p=[0.6, 0.3, 0.1])
    model = np.where(rng.random(N) < 0.85, truth, rng.choice(3, size=N))
    idx = rng.choice(N, size=n, replace=False)
    cats = ["a", "b", "c"]
    counts = {c: int((model == k).sum()) for k, c in enumerate(cats)}
    sample = pd.DataFrame({"model": [cats[k] for k in model[idx]], "human": [cats[k] for k in truth[idx]]})
    ours = estimate_prevalence(counts, sample, categories=cats)
    for k, c in enumerate(cats):
        y, yhat, yhat_all = (truth[idx] == k).astype(float), (model[idx] == k).astype(float), (model == k).astype(float)
        point = float(ppi_py.ppi_mean_pointestimate(y, yhat, yhat_all, lam=1)[0])
        assert ours["categories"][c]["corrected_share"] == pytest.approx(point, abs=1e-12)
        lo, hi = ppi_py.ppi_mean_ci(y, yhat, yhat_all, alpha=0.05, lam=1)
        ppi_var = ((hi - lo) / (2 * 1.959963984540054)) ** 2
        # ppi_py uses population variances (ddof=0); ours the sample variance of the rectifier
        assert float(np.squeeze(ppi_var)) == pytest.approx(yhat_all.var() / N + (y - yhat).var() / n, rel=1e-9)
        var_r = (y - yhat).var(ddof=1) / n
        assert ours["categories"][c]["se"] ** 2 == pytest.approx((1 - n / N) * var_r, rel=1e-9)
