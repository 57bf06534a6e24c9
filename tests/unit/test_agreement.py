"""Agreement statistics: published worked values, degenerate inputs, bootstrap and invariants."""

from __future__ import annotations

import json
import math

import krippendorff
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator.stats.agreement import (
    _bootstrap_weights,
    _fast_alpha,
    _prepare,
    agreement_report,
    alpha_with_bootstrap,
    category_coincidence,
    fleiss_kappa,
    gwet_ac1,
    kappa_one_vs_rest,
    krippendorff_alpha_nominal,
    pabak,
    pairwise_cohen_kappa,
    percent_agreement,
    percent_agreement_reviewer_pairs,
    reviewer_overlap,
    reviewer_vs_others,
    specific_agreement,
)
from tests.published import FLEISS_WIKIPEDIA, KRIPPENDORFF_2011

_ = None  # a missing rating in the wide tables below


def long_from_wide(wide: dict[str, list[object]]) -> pd.DataFrame:
    """Long ratings from {reviewer: [category per item, or None]}; items are u01, u02..."""
    rows = [
        (f"u{u:02d}", reviewer, str(value))
        for reviewer, values in wide.items()
        for u, value in enumerate(values, 1)
        if value is not None
    ]
    return pd.DataFrame(rows, columns=["item", "reviewer", "category"])


def long_from_counts(table: list[list[int]]) -> pd.DataFrame:
    """Long ratings from an items x categories count table, with synthetic rater names r0, r1..."""
    rows = []
    for u, counts in enumerate(table):
        rater = 0
        for c, n in enumerate(counts):
            for _ in range(n):
                rows.append((f"item{u:02d}", f"r{rater:02d}", f"cat{c}"))
                rater += 1
    return pd.DataFrame(rows, columns=["item", "reviewer", "category"])


def long_from_contingency(table: list[list[int]], labels: list[str]) -> pd.DataFrame:
    """Two raters A and B from a contingency table (rows: A's category, columns: B's)."""
    rows, item = [], 0
    for i, row in enumerate(table):
        for j, n in enumerate(row):
            for _ in range(n):
                rows += [(f"i{item:04d}", "A", labels[i]), (f"i{item:04d}", "B", labels[j])]
                item += 1
    return pd.DataFrame(rows, columns=["item", "reviewer", "category"])


def reliability_data(ratings: pd.DataFrame, categories: list[str]) -> np.ndarray:
    """Raters x units float codes with NaN for missing: krippendorff's own input layout."""
    wide = ratings.pivot(index="item", columns="reviewer", values="category")
    codes = {c: i for i, c in enumerate(categories)}
    return wide.apply(lambda col: col.map(codes)).to_numpy(dtype=float).T



# irrCAC vignette "Calculating Chance-corrected Agreement Coefficients" (Gwet),
# dataset cont3x3abstractors: 100 pregnancies classified by two abstractors.
ABSTRACTORS = [[13, 0, 0], [0, 20, 7], [0, 4, 56]]
ABSTRACTOR_LABELS = ["Ectopic", "AIU", "NIU"]


# --------------------------------------------------------------------------- #
# Published worked values
# --------------------------------------------------------------------------- #
def test_krippendorff_2011_nominal_example_gives_0_743() -> None:
    """Krippendorff (2011) section C, nominal alpha = 0.743 (also in the krippendorff package docs)."""
    ratings = long_from_wide(KRIPPENDORFF_2011)
    assert round(krippendorff_alpha_nominal(ratings), 3) == 0.743
    assert round(_fast_alpha(_prepare(ratings).counts), 3) == 0.743
    assert round(agreement_report(ratings, n_boot=0)["krippendorff_alpha"], 3) == 0.743


def test_four_raters_with_missing_match_gwet_handbook_values() -> None:
    """Same 4 x 12 data as Gwet (2014) p. 120 / irrCAC cac.raw4raters: p_a = 0.818, AC1 = 0.775.

    p_a is over the 11 units with two or more ratings (9/11 of pairs agree on
    average); unit 12 (one rating) is excluded. AC1's chance agreement is 0.190.
    """
    ratings = long_from_wide(KRIPPENDORFF_2011)
    assert round(percent_agreement(ratings), 3) == 0.818
    assert round(gwet_ac1(ratings), 3) == 0.775


def test_fleiss_kappa_wikipedia_worked_example_gives_0_210() -> None:
    """Wikipedia "Fleiss' kappa" worked example (10 subjects, 14 raters, 5 categories): kappa = 0.210."""
    kappa, n_used, reason = fleiss_kappa(long_from_counts(FLEISS_WIKIPEDIA))
    assert round(kappa, 3) == 0.210
    assert n_used == 10
    assert reason is None


def test_cohen_kappa_wikipedia_50_proposals_gives_0_4() -> None:
    """Wikipedia "Cohen's kappa": 50 grant proposals, yes/yes 20, yes/no 5, no/yes 10, no/no 15: kappa 0.4."""
    ratings = long_from_contingency([[20, 5], [10, 15]], ["yes", "no"])
    [row] = pairwise_cohen_kappa(ratings)
    assert (row["reviewer_a"], row["reviewer_b"], row["n"]) == ("A", "B", 50)
    assert round(row["kappa"], 3) == 0.4
    assert row["percent_agreement"] == pytest.approx(0.7)
    assert row["reason"] is None
    # Two raters: PABAK = 2 p_o - 1; specific agreement on "yes" = 2a / (2a + b + c) = 40 / 55.
    assert pabak(ratings) == pytest.approx(0.4)
    assert specific_agreement(ratings)["yes"] == pytest.approx(40 / 55)


def test_two_abstractors_match_irrcac_vignette() -> None:
    """irrCAC vignette, cont3x3abstractors: kappa 0.7964, AC1 0.8493, alpha 0.7973, PA 0.89, BP 0.835."""
    ratings = long_from_contingency(ABSTRACTORS, ABSTRACTOR_LABELS)
    report = agreement_report(ratings, categories=ABSTRACTOR_LABELS, n_boot=0)
    assert round(report["pairwise_cohen_kappa"][0]["kappa"], 4) == 0.7964
    assert round(report["gwet_ac1"], 4) == 0.8493
    assert round(report["krippendorff_alpha"], 4) == 0.7973
    assert report["percent_agreement"] == pytest.approx(0.89)
    assert report["pabak"] == pytest.approx(0.835)  # Brennan-Prediger with q = 3
    assert report["fleiss_kappa"] == pytest.approx(0.7962397, abs=1e-6)  # Scott's pi for two raters


# --------------------------------------------------------------------------- #
# Conventions on incomplete data
# --------------------------------------------------------------------------- #
def test_fleiss_kappa_is_gwets_generalisation_and_complete_case_is_a_sensitivity_figure() -> None:
    """Krippendorff (2011) example C: generalised Fleiss 0.7612 (irrCAC); listwise Fleiss on the 8 complete units."""
    ratings = long_from_wide(KRIPPENDORFF_2011)
    kappa, n_used, reason = fleiss_kappa(ratings)
    assert (round(kappa, 4), n_used, reason) == (0.7612, 12, None)
    full = [u for u in range(12) if all(KRIPPENDORFF_2011[r][u] is not None for r in "ABCD")]
    subset = long_from_wide({r: [v for u, v in enumerate(vals) if u in full] for r, vals in KRIPPENDORFF_2011.items()})
    report = agreement_report(ratings, n_boot=0)
    assert report["fleiss_n_items"] == 12
    assert (report["fleiss_complete_case_n_items"], report["fleiss_complete_case_ratings_per_item"]) == (8, 4)
    assert report["fleiss_kappa_complete_case"] == pytest.approx(fleiss_kappa(subset)[0])
    assert "8 threads" in report["conventions"]["fleiss_kappa_complete_case"]


def test_complete_case_fleiss_uses_the_threads_with_the_most_ratings() -> None:
    ratings = long_from_wide({"a": list("xyxyx"), "b": list("xyyyx"), "c": [_, _, _, _, "y"]})
    report = agreement_report(ratings, n_boot=0)
    assert (report["fleiss_complete_case_n_items"], report["fleiss_complete_case_ratings_per_item"]) == (1, 3)
    two = long_from_wide({"a": list("xyxy"), "b": list("xyyy")})
    assert fleiss_kappa(two)[0] == pytest.approx(agreement_report(two, n_boot=0)["fleiss_kappa_complete_case"])


def test_item_rated_by_one_of_three_is_left_out() -> None:
    base = long_from_wide({"a": list("xxyyx"), "b": list("xxyxx"), "c": list("xyyyx")})
    lonely = pd.concat([base, pd.DataFrame([("u99", "a", "y")], columns=base.columns)], ignore_index=True)
    assert krippendorff_alpha_nominal(lonely) == pytest.approx(krippendorff_alpha_nominal(base))
    assert percent_agreement(lonely) == pytest.approx(percent_agreement(base))
    report = agreement_report(lonely, n_boot=50)
    assert (report["n_items"], report["n_items_pairable"], report["n_ratings"]) == (6, 5, 16)


def test_percent_agreement_conventions_differ_on_unbalanced_data() -> None:
    ratings = long_from_wide({"a": ["x", "x", "y"], "b": ["x", "y", _], "c": ["x", _, _]})
    # Items: u01 all agree (1), u02 disagree (0); u03 has one rating. Item mean = 0.5.
    assert percent_agreement(ratings) == pytest.approx(0.5)
    # Pairs: a-b 1/2, a-c 1/1, b-c 1/1 -> mean 5/6.
    assert percent_agreement_reviewer_pairs(ratings) == pytest.approx(5 / 6)


def test_categories_keep_codebook_order_and_unused_ones_are_none_with_reason() -> None:
    ratings = long_from_wide({"a": ["x", "y", "z"], "b": ["x", "y", "z"]})
    report = agreement_report(ratings, categories=["y", "Other", "x"], n_boot=20)
    assert report["categories"] == ["y", "Other", "x", "z"]
    assert report["confusion_matrix"]["labels"] == ["y", "Other", "x", "z"]
    other = report["per_category"]["Other"]
    assert other["n_ratings"] == 0 and other["specific_agreement"] is None
    assert "not used" in report["undefined"]["per_category.Other.specific_agreement"]
    assert "per_category.Other.kappa_one_vs_rest_ci95" in report["undefined"]


# --------------------------------------------------------------------------- #
# Degenerate inputs: None with a reason, never a crash, NaN or silent 0
# --------------------------------------------------------------------------- #
HEADLINE = ["percent_agreement", "krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "pabak"]


def assert_clean(report: dict) -> None:
    json.dumps(report, allow_nan=False)
    for key in HEADLINE:
        if report[key] is None:
            assert report["undefined"][key]


def test_empty_ratings_give_none_everywhere() -> None:
    for empty in (pd.DataFrame(columns=["item", "reviewer", "category"]), pd.DataFrame()):
        report = agreement_report(empty)
        assert_clean(report)
        assert all(report[k] is None for k in HEADLINE)
        assert report["undefined"]["krippendorff_alpha"] == "no ratings"
        assert report["krippendorff_alpha_ci95"] == [None, None]
        assert (report["n_items"], report["n_reviewers"], report["n_ratings"]) == (0, 0, 0)
        assert report["pairwise_cohen_kappa"] == [] and report["per_category"] == {}
    assert krippendorff_alpha_nominal(pd.DataFrame()) is None
    assert alpha_with_bootstrap(pd.DataFrame(), n_boot=10, seed=1) == (None, (None, None))


def test_one_reviewer_gives_none_with_reason() -> None:
    report = agreement_report(long_from_wide({"a": ["x", "y", "x"]}), n_boot=10)
    assert_clean(report)
    assert all(report[k] is None for k in HEADLINE)
    assert report["undefined"]["krippendorff_alpha"] == "only one reviewer"
    assert report["per_category"]["x"]["specific_agreement"] is None


def test_one_category_only_gives_none_not_one_or_zero() -> None:
    ratings = long_from_wide({"a": ["x", "x", "x"], "b": ["x", "x", "x"], "c": ["x", "x", _]})
    report = agreement_report(ratings, n_boot=10)
    assert_clean(report)
    assert report["percent_agreement"] == 1.0  # observed agreement is defined
    for key in ("krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "pabak"):
        assert report[key] is None and "one category" in report["undefined"][key]
    assert all(row["kappa"] is None and "one category" in row["reason"] for row in report["pairwise_cohen_kappa"])
    assert report["per_category"]["x"]["specific_agreement"] == 1.0
    assert report["per_category"]["x"]["kappa_one_vs_rest"] is None
    assert kappa_one_vs_rest(ratings) == {"x": None}


def test_no_item_with_two_ratings_gives_none() -> None:
    ratings = long_from_wide({"a": ["x", _, _], "b": [_, "y", _], "c": [_, _, "x"]})
    report = agreement_report(ratings, n_boot=10)
    assert_clean(report)
    assert all(report[k] is None for k in HEADLINE)
    assert report["undefined"]["krippendorff_alpha"] == "no item has ratings from two or more reviewers"
    assert report["fleiss_complete_case_n_items"] == 0
    assert all(row["n"] == 0 and row["kappa"] is None for row in report["pairwise_cohen_kappa"])
    assert report["percent_agreement_reviewer_pairs"] is None


def test_malformed_ratings_raise_value_error() -> None:
    twice = pd.DataFrame([("u1", "a", "x"), ("u1", "a", "y")], columns=["item", "reviewer", "category"])
    with pytest.raises(ValueError, match="reviewer 'a' rated item 'u1' more than once"):
        agreement_report(twice)
    with pytest.raises(ValueError, match="ratings is missing column\\(s\\): category"):
        agreement_report(pd.DataFrame({"item": ["u1"], "reviewer": ["a"]}))
    with pytest.raises(ValueError, match="ratings has empty values in column 'category'"):
        agreement_report(pd.DataFrame({"item": ["u1"], "reviewer": ["a"], "category": [None]}))
    with pytest.raises(ValueError, match="n_boot must be a non-negative integer, got -1"):
        agreement_report(long_from_wide(KRIPPENDORFF_2011), n_boot=-1)


# --------------------------------------------------------------------------- #
# Pairwise, each reviewer against the others, and coincidence
# --------------------------------------------------------------------------- #
def _brute_force_vs_others(ratings: pd.DataFrame) -> dict[str, tuple[int, list[str], list[str]]]:
    """Reviewer -> (n, own labels, reference labels), one item at a time: the reference is the category
    every other reviewer of the item chose, when there is at least one other and they all agree."""
    out: dict[str, tuple[int, list[str], list[str]]] = {}
    for reviewer in sorted(ratings["reviewer"].unique()):
        own, ref = [], []
        for item, group in ratings.groupby("item"):
            mine = group[group["reviewer"] == reviewer]
            others = group[group["reviewer"] != reviewer]["category"].unique()
            if len(mine) and len(others) == 1:
                own.append(mine["category"].iloc[0])
                ref.append(others[0])
        out[reviewer] = (len(own), own, ref)
    return out


def test_leave_one_out_reviewer_who_disagrees_scores_below_one_where_the_old_consensus_said_100() -> None:
    """The circular case: before adjudication only unanimous threads had a consensus, so every reviewer
    scored 100% against it. Against the other reviewers' agreed label, the dissenter scores below 1."""
    ratings = long_from_wide({
        "ann": ["x", "y", "x", "y", "x", "z"],
        "ben": ["x", "y", "x", "y", "x", "z"],
        "cas": ["x", "y", "y", "x", "z", "z"],  # disagrees with ann and ben on u03-u05
    })
    unanimous = {"u01": "x", "u02": "y", "u06": "z"}  # what the old consensus held before adjudication
    for reviewer in ("ann", "ben", "cas"):  # the old, circular comparison: 100% for everyone
        mine = ratings[ratings["reviewer"] == reviewer].set_index("item")["category"]
        assert all(mine[i] == c for i, c in unanimous.items())
    result = reviewer_vs_others(ratings)
    assert (result["cas"]["n"], result["cas"]["n_rated"]) == (6, 6)
    assert result["cas"]["accuracy"] == pytest.approx(3 / 6)  # below 1, where the old comparison said 100%
    own = ratings[ratings["reviewer"] == "cas"]["category"].tolist()
    assert result["cas"]["kappa"] == pytest.approx(cohen_kappa(own, ["x", "y", "x", "y", "x", "z"]))
    # ann's others (ben, cas) agree only where cas does: u01, u02, u06
    assert (result["ann"]["n"], result["ann"]["accuracy"]) == (3, 1.0)
    report = agreement_report(ratings, n_boot=0)
    assert report["per_reviewer_vs_others"] == result


def cohen_kappa(a: list[str], b: list[str]) -> float:
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(a, b))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 7), st.sampled_from("abcd"), st.sampled_from("xyz")), max_size=40))
def test_leave_one_out_equals_a_brute_force_that_never_uses_the_reviewers_own_label(rows) -> None:
    ratings = pd.DataFrame([(f"t{i}", r, c) for i, r, c in rows], columns=["item", "reviewer", "category"])
    ratings = ratings.drop_duplicates(["item", "reviewer"])
    result = reviewer_vs_others(ratings)
    for reviewer, (n, own, ref) in _brute_force_vs_others(ratings).items():
        row = result[reviewer]
        assert row["n"] == n
        if n < 2:
            assert row["accuracy"] is None and row["kappa"] is None and "fewer than 2" in row["reason"]
        else:
            assert row["accuracy"] == pytest.approx(np.mean(np.array(own) == np.array(ref)))
            if len(set(own) | set(ref)) > 1:
                assert row["kappa"] == pytest.approx(cohen_kappa(own, ref))


def test_leave_one_out_with_design_weights_matches_weighted_sklearn() -> None:
    from sklearn.metrics import accuracy_score, cohen_kappa_score

    ratings = long_from_wide({"a": ["x", "y", "x", "y", "z"], "b": ["x", "y", "y", "y", "z"], "c": ["x", "x", "y", "y", "z"]})
    weights = {"u01": 1.0, "u02": 4.0, "u03": 2.0, "u04": 1.0, "u05": 3.0}
    result = reviewer_vs_others(ratings, weights=weights)
    # a: others (b, c) agree on u01 x, u03 y, u04 y, u05 z
    own, ref, w = ["x", "x", "y", "z"], ["x", "y", "y", "z"], [1.0, 2.0, 1.0, 3.0]
    assert result["a"]["accuracy"] == pytest.approx(accuracy_score(ref, own, sample_weight=w))
    assert result["a"]["kappa"] == pytest.approx(cohen_kappa_score(own, ref, sample_weight=w))


def test_reviewer_with_no_reference_gets_none_with_reason_and_overlap_counts() -> None:
    ratings = long_from_wide({"a": ["x", "y", _], "b": ["x", "x", _], "c": [_, _, "y"]})
    result = reviewer_vs_others(ratings)
    assert result["c"] == {"n": 0, "n_rated": 1, "accuracy": None, "kappa": None,
                           "reason": result["c"]["reason"]}
    assert "fewer than 2" in result["c"]["reason"]
    report = agreement_report(ratings, n_boot=0)
    assert report["undefined"]["per_reviewer_vs_others.c.kappa"] == result["c"]["reason"]
    assert reviewer_overlap(ratings) == {"a": 2, "b": 2, "c": 0}


def test_coincidence_matrix_is_symmetric_and_counts_ordered_pairs() -> None:
    ratings = long_from_wide(KRIPPENDORFF_2011)
    result = category_coincidence(ratings)
    matrix = np.array(result["matrix"])
    m = _prepare(ratings).counts.sum(axis=1)
    assert result["labels"] == ["1", "2", "3", "4", "5"]
    assert (matrix == matrix.T).all()
    assert matrix.sum() == (m * (m - 1)).sum()
    assert matrix[4, 4] == 6  # unit 10: three observers say 5 -> 3 x 2 ordered pairs


# --------------------------------------------------------------------------- #
# Bootstrap
# --------------------------------------------------------------------------- #
def test_bootstrap_is_deterministic_for_a_seed_and_contains_the_point() -> None:
    ratings = long_from_contingency(ABSTRACTORS, ABSTRACTOR_LABELS)
    first = alpha_with_bootstrap(ratings, n_boot=500, seed=11)
    assert first == alpha_with_bootstrap(ratings, n_boot=500, seed=11)
    assert first[1] != alpha_with_bootstrap(ratings, n_boot=500, seed=12)[1]
    alpha, (lo, hi) = first
    assert lo < alpha < hi and hi - lo < 0.3
    report = agreement_report(ratings, n_boot=500, seed=11, interval="percentile")
    assert report["krippendorff_alpha_ci95"] == [lo, hi]
    for category, entry in report["per_category"].items():
        for name in ("specific_agreement", "kappa_one_vs_rest", "fleiss_kappa"):
            ci_lo, ci_hi = entry[f"{name}_ci95"]
            if category == "Ectopic":  # 13 of 13 agreed: every resample gives 1, so no interval
                assert ci_lo is None and "zero width" in report["undefined"][f"per_category.Ectopic.{name}_ci95"]
                continue
            assert ci_lo <= entry[name] <= ci_hi


def test_vectorised_resample_equals_krippendorff_on_the_resampled_items() -> None:
    """A weighted sum of per-item statistics is alpha of the resample itself."""
    ratings = long_from_wide(KRIPPENDORFF_2011)
    table = _prepare(ratings)
    data = reliability_data(ratings, table.categories)[:, table.counts.sum(axis=1) >= 2]
    rng = np.random.default_rng(3)
    for _ in range(20):
        draw = rng.integers(0, data.shape[1], size=data.shape[1])
        resample_counts = _prepare(ratings).pairable[draw]
        expected = krippendorff.alpha(reliability_data=data[:, draw], level_of_measurement="nominal")
        assert _fast_alpha(resample_counts) == pytest.approx(expected, abs=1e-12)


def test_bootstrap_ci_is_the_2_5_and_97_5_percentiles_of_the_resampled_alphas() -> None:
    ratings = long_from_contingency(ABSTRACTORS, ABSTRACTOR_LABELS)
    profiles, weights = _bootstrap_weights(_prepare(ratings).pairable, 300, seed=8)
    alphas = [_fast_alpha(np.repeat(profiles, row.astype(int), axis=0)) for row in weights]
    _, (lo, hi) = alpha_with_bootstrap(ratings, n_boot=300, seed=8)
    assert (lo, hi) == pytest.approx(tuple(np.percentile(alphas, [2.5, 97.5])), abs=1e-12)


def test_bootstrap_weights_resample_every_pairable_item_once_per_draw() -> None:
    table = _prepare(long_from_wide(KRIPPENDORFF_2011))
    profiles, weights = _bootstrap_weights(table.pairable, 200, seed=5)
    assert weights.shape == (200, len(profiles))
    assert (weights.sum(axis=1) == len(table.pairable)).all()


def test_bootstrap_ci_agrees_with_a_naive_item_resampling_loop() -> None:
    """Same distribution as resampling items and calling krippendorff.alpha each time."""
    rng = np.random.default_rng(0)
    truth = rng.choice(4, size=300, p=[0.55, 0.25, 0.15, 0.05])
    labels = {r: np.where(rng.random(300) < 0.8, truth, rng.integers(0, 4, 300)) for r in "abc"}
    ratings = long_from_wide({r: list(v) for r, v in labels.items()})
    data = reliability_data(ratings, ["0", "1", "2", "3"])
    naive = [
        krippendorff.alpha(reliability_data=data[:, rng.integers(0, 300, 300)], level_of_measurement="nominal")
        for _ in range(400)
    ]
    _, (lo, hi) = alpha_with_bootstrap(ratings, n_boot=2000, seed=1)
    naive_lo, naive_hi = np.percentile(naive, [2.5, 97.5])
    assert lo == pytest.approx(naive_lo, abs=0.02) and hi == pytest.approx(naive_hi, abs=0.02)


# --------------------------------------------------------------------------- #
# Properties
# --------------------------------------------------------------------------- #
@st.composite
def sparse_ratings(draw: st.DrawFn) -> pd.DataFrame:
    n_items = draw(st.integers(1, 25))
    n_reviewers = draw(st.integers(1, 5))
    n_categories = draw(st.integers(1, 5))
    cells = draw(
        st.lists(
            st.one_of(st.none(), st.integers(0, n_categories - 1)),
            min_size=n_items * n_reviewers,
            max_size=n_items * n_reviewers,
        )
    )
    rows = [
        (f"t{i}", f"r{r}", f"c{cells[i * n_reviewers + r]}")
        for i in range(n_items)
        for r in range(n_reviewers)
        if cells[i * n_reviewers + r] is not None
    ]
    return pd.DataFrame(rows, columns=["item", "reviewer", "category"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sparse_ratings())
def test_fast_alpha_equals_krippendorff_package(ratings: pd.DataFrame) -> None:
    table = _prepare(ratings)
    own = _fast_alpha(table.counts)
    point = krippendorff_alpha_nominal(ratings)
    if point is None:
        assert math.isnan(own) or len(table.categories) < 2 or (table.pairable.sum(axis=0) > 0).sum() < 2
        return
    expected = krippendorff.alpha(
        reliability_data=reliability_data(ratings, table.categories), level_of_measurement="nominal"
    )
    assert own == pytest.approx(expected, abs=1e-9)
    assert point == pytest.approx(expected, abs=1e-9)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sparse_ratings())
def test_one_vs_rest_equals_krippendorff_on_binarised_data(ratings: pd.DataFrame) -> None:
    table = _prepare(ratings)
    for category, value in kappa_one_vs_rest(ratings).items():
        if value is None:
            continue
        binary = ratings.assign(category=(ratings["category"] == category).map({True: "1", False: "0"}))
        expected = krippendorff.alpha(
            reliability_data=reliability_data(binary, ["0", "1"]), level_of_measurement="nominal"
        )
        assert value == pytest.approx(expected, abs=1e-9), table.categories


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sparse_ratings(), st.integers(0, 30), st.integers(0, 2**32 - 1))
def test_report_is_json_serialisable_and_every_none_has_a_reason(
    ratings: pd.DataFrame, n_boot: int, seed: int
) -> None:
    report = agreement_report(ratings, n_boot=n_boot, seed=seed)
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    for key in [*HEADLINE, "percent_agreement_reviewer_pairs"]:
        assert (report[key] is None) == (key in report["undefined"])
    for category, entry in report["per_category"].items():
        for name in ("specific_agreement", "kappa_one_vs_rest"):
            if entry[name] is None:
                assert f"per_category.{category}.{name}" in report["undefined"]
            if entry[f"{name}_ci95"][0] is None:
                assert f"per_category.{category}.{name}_ci95" in report["undefined"]
    for row in report["pairwise_cohen_kappa"]:
        assert (row["kappa"] is None) == (row["reason"] is not None)
