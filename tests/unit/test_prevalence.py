"""Tests for annotator.stats.prevalence and annotator.reports.prevalence."""

from __future__ import annotations

import base64
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.reports.prevalence import render_prevalence
from annotator.sampling import stratified_sample_plan
from annotator.stats.prevalence import estimate_prevalence, simulate_coverage

# Shares of the seed paper's Fig. 1 (10 categories) plus "Other" at 5%.
SHARES = np.array([0.539, 0.091, 0.067, 0.061, 0.059, 0.044, 0.035, 0.026, 0.020, 0.008, 0.05])
SHARES = SHARES / SHARES.sum()


def biased_confusion() -> np.ndarray:
    """P(model = j | truth = i): over-predicts category 0, confuses 7 and 8."""
    k = SHARES.size
    conf = np.eye(k) * 0.85
    conf[:, 0] += 0.10
    conf[:, 10] += 0.05
    conf[0] = 0.0
    conf[0, 0], conf[0, 10] = 0.95, 0.05
    conf[7] = 0.0
    conf[7, [7, 8, 0]] = 0.60, 0.35, 0.05
    conf[8] = 0.0
    conf[8, [8, 7, 0]] = 0.70, 0.25, 0.05
    return conf / conf.sum(axis=1, keepdims=True)


def small_example() -> tuple[dict[str, int], pd.DataFrame]:
    counts = {"A": 80, "B": 20}
    sample = pd.DataFrame(
        {"model": ["A"] * 8 + ["B"] * 2, "human": ["A"] * 7 + ["B"] + ["B"] * 2}
    )
    return counts, sample


# --------------------------------------------------------------------------- #
# Simulation: coverage and bias
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("method", ["ppi", "confusion"])
def test_srs_intervals_cover_and_correction_removes_bias(method: str) -> None:
    sim = simulate_coverage(
        n_sims=300, N=20_000, n=1000, true_shares=SHARES, confusion=biased_confusion(),
        seed=7, method=method,
    )
    assert 0.93 <= sim["mean_coverage"] <= 0.975
    # every reported category, including the 0.8% one whose misses hide in the big stratum
    assert min(v for v in sim["coverage"].values() if v is not None) >= 0.90
    assert sim["corrected_mean_abs_bias"] < sim["naive_mean_abs_bias"] / 5
    # the classifier over-predicts category 0 by about 1.7 points
    assert sim["naive_bias"]["c0"] > 0.01
    assert abs(sim["corrected_bias"]["c0"]) < 0.005


def test_stratified_design_intervals_cover() -> None:
    sim = simulate_coverage(
        n_sims=300, N=20_000, n=1000, true_shares=SHARES, confusion=biased_confusion(),
        seed=11, method="ppi", design="stratified",
    )
    assert 0.93 <= sim["mean_coverage"] <= 0.975
    assert min(v for v in sim["coverage"].values() if v is not None) >= 0.90
    assert sim["corrected_mean_abs_bias"] < sim["naive_mean_abs_bias"] / 5


def test_small_samples_withhold_rare_category_intervals_instead_of_miscovering() -> None:
    sim = simulate_coverage(n_sims=200, N=20_000, n=100, true_shares=SHARES, confusion=biased_confusion(), seed=5)
    assert sim["reported"]["c9"] < 0.05  # the 0.8% category: under 5 human labels in 100 nearly always
    assert sim["reported"]["c0"] == 1.0


def test_simulation_is_reproducible_with_its_seed() -> None:
    kwargs = dict(n_sims=20, N=2_000, n=100, true_shares=SHARES, confusion=biased_confusion())
    assert simulate_coverage(seed=3, **kwargs) == simulate_coverage(seed=3, **kwargs)
    assert simulate_coverage(seed=3, **kwargs) != simulate_coverage(seed=4, **kwargs)


def test_simulation_rejects_a_confusion_matrix_whose_rows_do_not_sum_to_one() -> None:
    with pytest.raises(ValueError, match="rows summing to 1"):
        simulate_coverage(
            n_sims=1, N=100, n=10, true_shares=[0.5, 0.5], confusion=[[1, 0], [0.5, 0.4]], seed=0
        )


# --------------------------------------------------------------------------- #
# Worked values
# --------------------------------------------------------------------------- #
def test_ppi_matches_hand_computed_values() -> None:
    counts, sample = small_example()
    result = estimate_prevalence(counts, sample, categories=["A", "B"])
    a = result["categories"]["A"]
    # theta_A = 80/100 + (0 missed - 1 false positive)/10
    assert a["naive_share"] == pytest.approx(0.8)
    assert a["corrected_share"] == pytest.approx(0.7)
    # rectifier values: nine 0 and one -1; design variance (1 - n/N) s_r^2 / n
    var_r = (1 - 1 / 10) / 9
    assert a["se"] == pytest.approx(math.sqrt((1 - 10 / 100) * var_r / 10))
    lo, hi = a["ci"]
    assert lo < 0.7 < hi and "Tango" in a["ci_method"]
    assert result["categories"]["B"]["corrected_share"] == pytest.approx(0.3)
    # B has 3 human labels: no two-sided interval, an upper bound instead
    b = result["categories"]["B"]
    assert b["ci"] is None and "at least 5" in b["ci_reason"] and 0.3 < b["upper_bound"] <= 1.0
    assert (a["n_sample_human"], a["n_sample_model"]) == (7, 8)
    assert result["N"] == 100 and result["n"] == 10 and result["method"] == "ppi"


def test_tango_bounds_solve_the_score_equation() -> None:
    from statistics import NormalDist

    from annotator.stats.prevalence import _tango

    z = NormalDist().inv_cdf(0.975)
    b, c, n = np.array([4.0, 0.0, 12.0]), np.array([1.0, 0.0, 3.0]), 120.0
    lo, hi = _tango(b, c, n, z)
    for d0 in (lo, hi):
        w = -(b + c) + d0 * (2 * n - b + c)
        x = (-w + np.sqrt(w * w + 8 * n * c * d0 * (1 - d0))) / (4 * n)
        score = (b - c - n * d0) / np.sqrt(n * (2 * x + d0 * (1 - d0)))
        assert np.abs(score) == pytest.approx(np.full(3, z), abs=1e-6)
    assert lo[1] < 0 < hi[1]  # no discordant thread: still a non-zero-width interval


def test_confusion_method_matches_hand_computed_values() -> None:
    counts, sample = small_example()
    result = estimate_prevalence(counts, sample, categories=["A", "B"], method="confusion")
    # share_A = 0.8 * P(A | model A) = 0.8 * 7/8; share_B = 0.8 * 1/8 + 0.2 * 1
    assert result["categories"]["A"]["corrected_share"] == pytest.approx(0.7)
    assert result["categories"]["B"]["corrected_share"] == pytest.approx(0.3)
    # stratum A: p = 7/8 from 8 threads; stratum B: 0 "A" of 2; FPC per stratum
    var = 0.8**2 * (1 - 8 / 80) * (7 / 8) * (1 / 8) / 7
    assert result["categories"]["A"]["se"] == pytest.approx(math.sqrt(var))
    assert "Post-stratified" in result["method_description"]


def test_failed_predictions_stay_in_n_and_are_estimated_from_the_sample() -> None:
    sample = pd.DataFrame({"model": ["A"] * 6 + ["B"] * 4 + [None] * 2, "human": ["A"] * 6 + ["B"] * 4 + ["B"] * 2})
    result = estimate_prevalence({"A": 60, "B": 20}, sample, categories=["A", "B"], n_failed=20)
    assert result["N"] == 100 and result["n_failed"] == 20
    assert result["categories"]["B"]["naive_share"] == pytest.approx(0.2)
    # difference estimator: 0.2 + 2 missed (failed, human B) / 12
    assert result["categories"]["B"]["corrected_share"] == pytest.approx(0.2 + 2 / 12)
    assert any("no model label" in note for note in result["notes"])
    strat = estimate_prevalence({"A": 60, "B": 20}, sample, categories=["A", "B"], n_failed=20, method="confusion")
    assert strat["categories"]["B"]["corrected_share"] == pytest.approx(0.2 + 0.2)  # the failed stratum is all B


def test_simultaneous_intervals_use_bonferroni_and_are_wider() -> None:
    counts = {"A": 500, "B": 300, "C": 200}
    rng = np.random.default_rng(1)
    model = rng.choice(["A", "B", "C"], size=120, p=[0.5, 0.3, 0.2])
    human = np.where(rng.random(120) < 0.85, model, rng.choice(["A", "B", "C"], size=120))
    sample = pd.DataFrame({"model": model, "human": human})
    one = estimate_prevalence(counts, sample, categories=list(counts))
    joint = estimate_prevalence(counts, sample, categories=list(counts), simultaneous=True)
    assert joint["confidence_per_category"] == pytest.approx(1 - 0.05 / 3)
    assert "Bonferroni" in joint["conventions"]["simultaneous"]
    for cat in counts:
        lo1, hi1 = one["categories"][cat]["ci"]
        lo2, hi2 = joint["categories"][cat]["ci"]
        assert lo2 < lo1 and hi2 > hi1


def test_weighted_sample_is_estimated_by_stratum_and_methods_agree() -> None:
    counts = {"A": 900, "B": 100}
    # 20 per stratum: over-sampled B; in A 4 are really B, in B 10 are really A
    sample = pd.DataFrame(
        {
            "model": ["A"] * 20 + ["B"] * 20,
            "human": ["A"] * 16 + ["B"] * 4 + ["A"] * 10 + ["B"] * 10,
            "weight": [900 / 20] * 20 + [100 / 20] * 20,
        }
    )
    ppi = estimate_prevalence(counts, sample, categories=["A", "B"])
    conf = estimate_prevalence(counts, sample, categories=["A", "B"], method="confusion")
    # 0.9 * 16/20 + 0.1 * 10/20
    assert ppi["categories"]["A"]["corrected_share"] == pytest.approx(0.77)
    assert ppi["design"].startswith("stratified")
    for cat in ("A", "B"):
        assert ppi["categories"][cat]["ci"] == pytest.approx(conf["categories"][cat]["ci"])
    # ignoring the design (unweighted PPI) gives a different, wrong estimate
    srs = estimate_prevalence(counts, sample.drop(columns="weight"), categories=["A", "B"])
    # 0.9 + (26 - 20) / 40, clipped
    assert srs["categories"]["A"]["unclipped_share"] == pytest.approx(1.05)
    assert srs["categories"]["A"]["corrected_share"] == 1.0 and srs["categories"]["A"]["clipped"]


# --------------------------------------------------------------------------- #
# Degenerate inputs
# --------------------------------------------------------------------------- #
def test_category_absent_from_sample_gets_an_upper_bound_and_a_reason() -> None:
    counts, sample = small_example()
    result = estimate_prevalence({**counts, "C": 0}, sample, categories=["A", "B", "C"])
    c = result["categories"]["C"]
    assert c["corrected_share"] == 0.0 and c["n_sample_human"] == 0
    assert c["ci"] is None and "0 human-labelled" in c["ci_reason"]
    assert 0.0 < c["upper_bound"] < 0.5
    json.dumps(result, allow_nan=False)


def test_empty_sample_gives_none_with_reason() -> None:
    counts, _ = small_example()
    empty = pd.DataFrame({"model": [], "human": []})
    result = estimate_prevalence(counts, empty, categories=["A", "B"])
    assert result["n"] == 0
    assert result["categories"]["A"]["naive_share"] == pytest.approx(0.8)
    assert result["categories"]["A"]["corrected_share"] is None
    assert result["categories"]["A"]["ci"] is None
    assert "n = 0" in result["undefined"]["categories.A.ci"]
    json.dumps(result, allow_nan=False)


def test_empty_corpus_gives_none_with_reason() -> None:
    result = estimate_prevalence({}, pd.DataFrame({"model": [], "human": []}), categories=["A"])
    assert result["categories"]["A"]["naive_share"] is None
    assert "N = 0" in result["undefined"]["categories.A.naive_share"]
    json.dumps(result, allow_nan=False)


def test_stratum_without_labels_is_left_uncorrected_and_noted() -> None:
    sample = pd.DataFrame({"model": ["A", "A", "A"], "human": ["A", "B", "A"], "weight": [10.0] * 3})
    result = estimate_prevalence({"A": 30, "B": 70}, sample, categories=["A", "B"])
    assert result["categories"]["B"]["corrected_share"] == pytest.approx(0.7 + 0.3 / 3)
    assert any("'B'" in note and "uncorrected" in note for note in result["notes"])


@pytest.mark.parametrize(
    ("counts", "sample", "kwargs", "message"),
    [
        ({"A": 1}, pd.DataFrame({"model": ["A"], "human": ["Z"]}), {}, "column 'human' has labels outside"),
        ({"Z": 1}, pd.DataFrame({"model": [], "human": []}), {}, "model_counts has categories outside"),
        ({"A": 1}, pd.DataFrame({"model": ["A"]}), {}, r"missing columns \['human'\]"),
        (
            {"A": 1, "B": 1},
            pd.DataFrame({"model": ["B", "B"], "human": ["B", "A"]}),
            {},
            r"more threads than the frame under model label\(s\) \['B'\]",
        ),
        ({"A": 1}, pd.DataFrame({"model": ["A"], "human": ["A"]}), {"method": "x"}, "method must be"),
        ({"A": 1}, pd.DataFrame({"model": ["A"], "human": ["A"], "weight": [0.0]}), {}, "weights"),
        ({"A": -1}, pd.DataFrame({"model": [], "human": []}), {}, "non-negative"),
    ],
)
def test_invalid_input_is_rejected(counts, sample, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        estimate_prevalence(counts, sample, categories=["A", "B"], **kwargs)


# --------------------------------------------------------------------------- #
# Properties
# --------------------------------------------------------------------------- #
CATS = ["a", "b", "c", "d"]


@st.composite
def corpus_and_sample(draw):
    n = draw(st.integers(1, 60))
    models = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    humans = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    extra = draw(st.lists(st.integers(0, 5_000), min_size=4, max_size=4))
    counts = [models.count(i) + extra[i] for i in range(4)]
    weighted = draw(st.booleans())
    frame = pd.DataFrame({"model": [CATS[i] for i in models], "human": [CATS[i] for i in humans]})
    if weighted:
        per = frame["model"].value_counts()
        frame["weight"] = [counts[CATS.index(m)] / per[m] for m in frame["model"]]
    return dict(zip(CATS, counts)), frame


@settings(max_examples=150, deadline=None)
@given(corpus_and_sample(), st.sampled_from(["ppi", "confusion"]))
def test_shares_sum_to_one_and_clipped_values_stay_in_unit_interval(data, method) -> None:
    counts, sample = data
    result = estimate_prevalence(counts, sample, categories=CATS, method=method)
    rows = result["categories"].values()
    assert sum(r["unclipped_share"] for r in rows) == pytest.approx(1.0)
    for r in rows:
        if r["ci"] is None:
            assert r["ci_reason"] and 0.0 <= r["upper_bound"] <= 1.0
            continue
        lo, hi = r["ci"]
        assert 0.0 <= lo <= r["corrected_share"] <= hi <= 1.0 and lo < hi
        if r["unclipped_share"] != r["corrected_share"]:
            assert r["clipped"]
    json.dumps(result, allow_nan=False)


# --------------------------------------------------------------------------- #
# Sample plan
# --------------------------------------------------------------------------- #
def predicted_items() -> pd.Series:
    labels = ["big"] * 5_000 + ["mid"] * 800 + ["rare"] * 30 + ["tiny"] * 7
    return pd.Series(labels, index=[f"t{i:05d}" for i in range(len(labels))])


def test_plan_gives_each_stratum_its_floor_and_weights_sum_to_n() -> None:
    plan = stratified_sample_plan(predicted_items(), size=200, seed=1, min_per_stratum=20)
    per = plan["stratum"].value_counts()
    assert len(plan) == 200 and plan["item"].is_unique
    assert per["tiny"] == 7 and per["rare"] == 20 and per["mid"] >= 20
    assert per["big"] > per["mid"]  # the remainder goes proportionally
    assert plan["weight"].sum() == pytest.approx(5_837)
    assert (plan["weight"] * plan["inclusion_prob"]).to_numpy() == pytest.approx(1.0)
    assert plan.loc[plan["stratum"] == "tiny", "inclusion_prob"].eq(1.0).all()


def test_plan_is_reproducible_and_independent_of_input_order() -> None:
    items = predicted_items()
    plan = stratified_sample_plan(items, size=150, seed=5)
    shuffled = items.sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(plan, stratified_sample_plan(shuffled, size=150, seed=5))
    pd.testing.assert_frame_equal(plan, stratified_sample_plan(items.to_dict(), size=150, seed=5))
    assert set(plan["item"]) != set(stratified_sample_plan(items, size=150, seed=6)["item"])


def test_plan_lowers_the_floor_evenly_when_size_is_too_small() -> None:
    plan = stratified_sample_plan(predicted_items(), size=30, seed=2, min_per_stratum=20)
    assert plan["stratum"].value_counts().sort_index().tolist() == [8, 8, 7, 7]


def test_plan_feeds_the_weighted_estimator() -> None:
    items = predicted_items()
    plan = stratified_sample_plan(items, size=200, seed=3)
    sample = pd.DataFrame({"model": plan["stratum"], "human": plan["stratum"], "weight": plan["weight"]})
    counts = items.value_counts().to_dict()
    result = estimate_prevalence(counts, sample, categories=["big", "mid", "rare", "tiny"])
    for cat, r in result["categories"].items():
        assert r["corrected_share"] == pytest.approx(counts[cat] / len(items))


# --------------------------------------------------------------------------- #
# Renderers
# --------------------------------------------------------------------------- #
def rendered_result() -> dict:
    counts = {"Email | docs": 80, "<b>Coding</b>": 20}
    sample = pd.DataFrame(
        {"model": ["Email | docs"] * 8 + ["<b>Coding</b>"] * 2,
         "human": ["Email | docs"] * 7 + ["<b>Coding</b>"] * 3}
    )
    return estimate_prevalence(counts, sample, categories=list(counts))


def test_json_render_round_trips() -> None:
    result = rendered_result()
    assert json.loads(render_prevalence(result, "json", title="t")) == result


def test_markdown_render_has_table_rows_and_method() -> None:
    text = render_prevalence(rendered_result(), "md", title="Usage, corrected")
    assert text.startswith("# Usage, corrected\n")
    assert "| Category | Model share | Corrected share | 95% CI |" in text
    assert "| Email \\| docs | 80.0% | 70.0% | 41.1% – 99.0% | 7 | 8 |" in text
    assert "| &lt;b&gt;Coding&lt;/b&gt; | 20.0% | 30.0% | ≤ 58.9% † | 3 | 2 |" in text
    assert "<b>" not in text
    assert "prediction-powered inference" in text and "## Conventions" in text
    assert "97.5% upper bound" in text


def test_html_render_is_self_contained_escaped_and_has_a_png_chart() -> None:
    text = render_prevalence(rendered_result(), "html", title="<script>x</script>")
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "&lt;b&gt;Coding&lt;/b&gt;" in text
    assert not re.search(r"(src|href)=\"(?!data:)", text)
    png = base64.b64decode(re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text).group(1))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_undefined_result_renders_with_dashes_and_reasons() -> None:
    empty = estimate_prevalence({"A": 5}, pd.DataFrame({"model": [], "human": []}), categories=["A"])
    md = render_prevalence(empty, "md", title="t")
    assert "| A | 100.0% | – | – | 0 | 0 |" in md and "n = 0" in md
    assert "data:image/png" in render_prevalence(empty, "html", title="t")
    with pytest.raises(ValueError, match="fmt must be one of"):
        render_prevalence(empty, "pdf", title="t")
