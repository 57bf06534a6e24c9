"""Chance-corrected coefficients with missing ratings: published values, irrCAC, intervals at the edges."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator.stats.agreement import (
    agreement_report,
    conger_kappa,
    fleiss_kappa,
    fleiss_kappa_by_category,
    gwet_ac1,
    pabak,
    pairwise_cohen_kappa,
)
from annotator.stats.chance_corrected import analyse
from tests.published import FLEISS_1971, FLEISS_1971_KAPPAS, GWET_4RATERS, KRIPPENDORFF_2011, PREVALENCE_PARADOX
from tests.unit.test_agreement import long_from_contingency, long_from_wide

# irrCAC (Gwet's coefficients, Python port) is the reference. It pins pandas < 3 and scipy == 1.12, so
# scripts/test.sh installs it with --no-deps next to the test extras instead of listing it there.
import irrCAC.raw as irr  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore:.*keyword-only.*")


def wide_frame(wide: dict[str, list]) -> pd.DataFrame:
    return pd.DataFrame({r: [np.nan if v is None else float(v) for v in vals] for r, vals in wide.items()})


def irrcac(wide: dict[str, list], categories: list[float], method: str) -> dict:
    """irrCAC's estimate; categories are passed explicitly (with pandas 3 it would count NaN as one)."""
    frame = wide_frame(wide).dropna(how="all")
    return getattr(irr.CAC(frame, categories=categories), method)()["est"]


# --------------------------------------------------------------------------- #
# Published values
# --------------------------------------------------------------------------- #
def test_gwet_published_ac1_and_fleiss_with_standard_errors_on_the_four_rater_example() -> None:
    ratings = long_from_wide(KRIPPENDORFF_2011)
    report = agreement_report(ratings, categories=["1", "2", "3", "4", "5"], n_boot=200, seed=1)
    for key, published in GWET_4RATERS.items():
        entry = report["coefficients"][key]
        assert round(entry["estimate"], 3) == round(published["value"], 3)
        assert round(entry["analytic_se"], 3) == round(published["se"], 3)
        assert [round(x, 3) for x in entry["analytic_ci95"]] == [round(x, 3) for x in published["ci"]]
        assert entry["n_threads"] == 12
    assert round(report["fleiss_kappa"], 4) == 0.7612  # the "published generalisation"
    assert round(report["krippendorff_alpha"], 3) == 0.743


def test_fleiss_1971_per_category_and_overall_kappas() -> None:
    rows = [(f"p{u:02d}", f"r{r}", str(v)) for u, row in enumerate(FLEISS_1971) for r, v in enumerate(row)]
    ratings = pd.DataFrame(rows, columns=["item", "reviewer", "category"])
    by_category = fleiss_kappa_by_category(ratings, ["1", "2", "3", "4", "5"])
    for category in "12345":
        assert round(by_category[category], 3) == FLEISS_1971_KAPPAS[category]
    assert round(fleiss_kappa(ratings)[0], 3) == FLEISS_1971_KAPPAS["overall"]
    report = agreement_report(ratings, categories=list("12345"), n_boot=300, seed=2)
    assert round(report["per_category"]["3"]["fleiss_kappa"], 3) == 0.520
    lo, hi = report["per_category"]["3"]["fleiss_kappa_ci95"]
    assert lo < 0.520 < hi


def test_prevalence_paradox_kappa_low_ac1_high_at_85_percent_agreement() -> None:
    ratings = long_from_contingency(PREVALENCE_PARADOX["table"], ["yes", "no"])
    [pair] = pairwise_cohen_kappa(ratings, n_boot=500, seed=3)
    assert pair["percent_agreement"] == pytest.approx(PREVALENCE_PARADOX["percent_agreement"])
    assert round(pair["kappa"], 3) == 0.318 and round(pair["kappa"], 2) == PREVALENCE_PARADOX["kappa"]
    ac1 = gwet_ac1(ratings)
    assert round(ac1, 3) == 0.808 and round(ac1, 2) == PREVALENCE_PARADOX["ac1"]
    assert pabak(ratings) == pytest.approx(0.7)
    lo, hi = pair["kappa_ci95"]
    assert lo < pair["kappa"] < hi


# --------------------------------------------------------------------------- #
# Against irrCAC on incomplete designs
# --------------------------------------------------------------------------- #
def random_design(seed: int, n_items: int = 60, raters: str = "abcd", q: int = 5, missing: float = 0.3) -> dict:
    rng = np.random.default_rng(seed)
    truth = rng.choice(q, size=n_items, p=np.r_[0.5, np.full(q - 1, 0.5 / (q - 1))])
    wide = {}
    for r in raters:
        labels = np.where(rng.random(n_items) < 0.7, truth, rng.integers(0, q, n_items)) + 1
        wide[r] = [None if rng.random() < missing else int(v) for v in labels]
    return wide


@pytest.mark.parametrize("seed", range(6))
def test_values_and_standard_errors_match_irrcac_with_missing_ratings(seed: int) -> None:
    wide = random_design(seed, missing=0.15 + 0.1 * seed)
    cats = [1.0, 2.0, 3.0, 4.0, 5.0]
    ratings = long_from_wide(wide)
    report = agreement_report(ratings, categories=["1", "2", "3", "4", "5"], n_boot=0)
    for key, method in (("fleiss_kappa", "fleiss"), ("gwet_ac1", "gwet"), ("pabak", "bp"),
                        ("krippendorff_alpha", "krippendorff")):
        ref = irrcac(wide, cats, method)
        entry = report["coefficients"][key]
        assert entry["estimate"] == pytest.approx(float(ref["coefficient_value"]), abs=6e-6), key
        assert entry["analytic_se"] == pytest.approx(float(ref["se"]), abs=6e-6), key
    ref = irrcac(wide, cats, "conger")
    kappa, se = conger_kappa(ratings, ["1", "2", "3", "4", "5"])
    assert kappa == pytest.approx(float(ref["coefficient_value"]), abs=6e-6)
    assert se == pytest.approx(float(ref["se"]), abs=6e-6)
    assert report["coefficients"]["conger_kappa"]["analytic_se"] == pytest.approx(se)


def test_ac1_and_pabak_observed_q_variant_equals_irrcac_without_the_unused_categories() -> None:
    wide = random_design(11, q=3)
    ratings = long_from_wide(wide)
    codebook = ["1", "2", "3", "4", "5", "6"]  # three never used
    report = agreement_report(ratings, categories=codebook, n_boot=0)
    assert report["q_codebook"] == 6 and report["q_observed"] == 3
    assert report["gwet_ac1"] == pytest.approx(float(irrcac(wide, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "gwet")["coefficient_value"]), abs=6e-6)
    assert report["gwet_ac1_observed_q"] == pytest.approx(float(irrcac(wide, [1.0, 2.0, 3.0], "gwet")["coefficient_value"]), abs=6e-6)
    assert report["pabak"] == pytest.approx(float(irrcac(wide, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "bp")["coefficient_value"]), abs=6e-6)
    assert report["pabak_observed_q"] == pytest.approx(float(irrcac(wide, [1.0, 2.0, 3.0], "bp")["coefficient_value"]), abs=6e-6)
    assert report["coefficients"]["gwet_ac1"]["q"] == 6
    assert "codebook's 6 categories" in report["conventions"]["gwet_ac1"]


# --------------------------------------------------------------------------- #
# Bootstrap: one matrix product equals resampling threads
# --------------------------------------------------------------------------- #
def test_vectorised_bootstrap_equals_recomputing_each_resample() -> None:
    ratings = long_from_wide(random_design(4, n_items=40))
    from annotator.stats.agreement import _prepare
    from annotator.stats.chance_corrected import bootstrap_weights

    table = _prepare(ratings, ["1", "2", "3", "4", "5"])
    result = analyse(table.counts, q=5, n_boot=50, seed=9)
    profiles, _, weights = bootstrap_weights(table.counts, 50, 9)
    fleiss = []
    for row in weights:
        resample = np.repeat(profiles, row.astype(int), axis=0)
        fleiss.append(analyse(resample, q=5, n_boot=0, seed=0)["values"]["fleiss_kappa"])
    assert result["bootstrap"]["fleiss_kappa"][0] == pytest.approx(tuple(np.percentile(fleiss, [2.5, 97.5])))


def test_bca_is_an_option_and_brackets_the_estimate() -> None:
    ratings = long_from_wide(random_design(5, n_items=120))
    cats = ["1", "2", "3", "4", "5"]
    pct = agreement_report(ratings, categories=cats, n_boot=800, seed=4, interval="percentile")
    bca = agreement_report(ratings, categories=cats, n_boot=800, seed=4)
    assert bca["interval_method"] == "bca" and "BCa" in bca["conventions"]["bootstrap"]
    for key in ("krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "pabak"):
        lo, hi = bca["coefficients"][key]["ci95"]
        assert lo < bca[key] < hi
        assert bca["coefficients"][key]["ci_method"] == "BCa bootstrap over threads"
        assert lo == pytest.approx(pct["coefficients"][key]["ci95"][0], abs=0.05)
    with pytest.raises(ValueError, match="interval must be one of"):
        agreement_report(ratings, interval="studentized")


# --------------------------------------------------------------------------- #
# Honest intervals at the edges
# --------------------------------------------------------------------------- #
def test_single_multiply_rated_thread_withholds_every_interval_with_the_reason() -> None:
    ratings = long_from_wide({"a": ["x", "y", None], "b": ["y", None, "x"], "c": ["x", None, None]})
    report = agreement_report(ratings, n_boot=200, seed=1)
    assert report["n_items_pairable"] == 1
    for key, entry in report["coefficients"].items():
        assert entry["ci95"] == [None, None], key
        if entry["estimate"] is not None:
            assert "at least 10" in entry["ci_reason"], key
    assert report["krippendorff_alpha_ci95"] == [None, None]


def test_perfect_agreement_gives_a_wilson_interval_for_agreement_and_no_zero_width_kappa_interval() -> None:
    labels = ["x", "y"] * 55  # 110 threads, 110 agreements
    ratings = long_from_wide({"a": labels, "b": labels})
    report = agreement_report(ratings, n_boot=300, seed=2)
    pa = report["coefficients"]["percent_agreement"]
    assert pa["estimate"] == 1.0
    lo, hi = pa["ci95"]
    assert round(lo, 3) == 0.966 and hi == 1.0  # Wilson 110 of 110; Clopper-Pearson would give 0.967
    [pair] = report["pairwise_cohen_kappa"]
    assert round(pair["percent_agreement_ci95"][0], 3) == 0.966
    for key in ("krippendorff_alpha", "fleiss_kappa", "gwet_ac1"):
        assert report[key] == pytest.approx(1.0)
        assert report[f"{key}_ci95"] == [None, None]
        assert "zero width" in report["undefined"][f"{key}_ci95"]


@st.composite
def designs(draw: st.DrawFn) -> pd.DataFrame:
    n_items = draw(st.integers(1, 40))
    n_reviewers = draw(st.integers(2, 4))
    q = draw(st.integers(1, 4))
    cells = draw(st.lists(st.one_of(st.none(), st.integers(0, q - 1)), min_size=n_items * n_reviewers,
                          max_size=n_items * n_reviewers))
    rows = [(f"t{i}", f"r{r}", f"c{cells[i * n_reviewers + r]}") for i in range(n_items) for r in range(n_reviewers)
            if cells[i * n_reviewers + r] is not None]
    return pd.DataFrame(rows, columns=["item", "reviewer", "category"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(designs(), st.sampled_from(["percentile", "bca"]))
def test_no_interval_is_ever_zero_width_or_without_a_reason(ratings: pd.DataFrame, method: str) -> None:
    report = agreement_report(ratings, n_boot=40, seed=0, interval=method)
    json.dumps(report, allow_nan=False)
    for key, entry in report["coefficients"].items():
        lo, hi = entry["ci95"]
        if lo is None:
            assert entry["ci_reason"], key
        else:
            assert lo < hi and entry["estimate"] is not None, key
    for row in report["pairwise_cohen_kappa"]:
        for field in ("kappa_ci95", "percent_agreement_ci95"):
            lo, hi = row[field]
            assert lo is None or lo < hi
    for entry in report["per_category"].values():
        for name in ("fleiss_kappa", "specific_agreement", "kappa_one_vs_rest"):
            lo, hi = entry[f"{name}_ci95"]
            assert lo is None or lo < hi
