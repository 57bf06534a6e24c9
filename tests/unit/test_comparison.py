"""Tests for annotator.stats.comparison (model vs consensus, runs, reveal effect)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

from annotator.stats.comparison import (
    _metrics_from_confusion,
    compare_runs,
    compare_to_consensus,
    reveal_effect,
)

CATS = ["A", "B", "C", "D"]  # D is never used: its measures must be undefined, not 0
TRUTH = list("AAAABBBCCC")
PRED = list("AAABBBCCCA")


def _hand_case() -> tuple[dict[str, str | None], dict[str, str]]:
    consensus = {f"i{k}": t for k, t in enumerate(TRUTH)}
    predictions: dict[str, str | None] = {f"i{k}": p for k, p in enumerate(PRED)}
    consensus |= {"failed": "A", "outside": "B", "missing": "C"}
    predictions |= {"failed": None, "outside": "Z", "no_consensus": "A"}
    return predictions, consensus


def _ratings() -> pd.DataFrame:
    rows = [
        ("i0", "r1", "A"), ("i0", "r2", "A"),
        ("i1", "r1", "A"), ("i1", "r2", "B"),
        ("i4", "r1", "B"), ("i4", "r2", "B"),
        ("i7", "r1", "C"), ("i7", "r2", "C"), ("i7", "r4", "C"),
        ("i2", "r1", "A"), ("i2", "r2", "A"), ("i2", "r3", "B"),
        ("i5", "r3", "A"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["item", "reviewer", "category"])


def _none_paths(result: dict) -> set[str]:
    """Dotted paths of every None value, in the convention of result['undefined']."""
    paths = {k for k, v in result.items() if v is None}
    for cat, row in result["per_category"].items():
        paths |= {f"per_category.{cat}.{k}" for k, v in row.items() if v is None}
    a = result["as_reviewer"]
    paths |= {f"as_reviewer.{k}" for k, v in a.items() if v is None}
    for r in a["reviewers"]:
        paths |= {f"as_reviewer.reviewers.{r['reviewer']}.{k}" for k in ("agreement", "kappa") if r[k] is None}
    for p in a["pairs"]:
        paths |= {f"as_reviewer.pairs.{p['reviewer_a']}|{p['reviewer_b']}.{k}" for k in ("agreement", "kappa")
                  if p[k] is None}
    for reviewer, row in result["reviewers_vs_others"].items():
        paths |= {f"reviewers_vs_others.{reviewer}.{k}" for k in ("accuracy", "kappa") if row[k] is None}
    return paths


def test_hand_case_matches_hand_computation_and_sklearn() -> None:
    predictions, consensus = _hand_case()
    result = compare_to_consensus(predictions, consensus, categories=CATS, n_boot=200)

    assert (result["n"], result["n_failed"], result["n_out_of_codebook"], result["n_missing"]) == (10, 2, 1, 1)
    # By hand: 7 of 10 agree; confusion rows A=[3,1,0] B=[0,2,1] C=[1,0,2]; chance agreement 0.34.
    assert result["accuracy"] == pytest.approx(0.7)
    assert result["cohen_kappa"] == pytest.approx((0.7 - 0.34) / (1 - 0.34))
    assert result["macro_f1"] == pytest.approx((0.75 + 2 / 3 + 2 / 3) / 3)
    assert result["weighted_f1"] == pytest.approx(0.7)
    # And the same from sklearn directly.
    assert result["accuracy"] == pytest.approx(accuracy_score(TRUTH, PRED))
    assert result["cohen_kappa"] == pytest.approx(cohen_kappa_score(TRUTH, PRED))
    assert result["macro_f1"] == pytest.approx(f1_score(TRUTH, PRED, average="macro"))
    assert result["confusion_matrix"] == {
        "labels": CATS,
        "matrix": [[3, 1, 0, 0], [0, 2, 1, 0], [1, 0, 2, 0], [0, 0, 0, 0]],
    }
    a = result["per_category"]["A"]
    assert (a["precision"], a["recall"], a["f1"], a["support"], a["predicted"]) == pytest.approx(
        (0.75, 0.75, 0.75, 4, 4)
    )


def test_unused_category_is_undefined_with_reasons_not_zero() -> None:
    predictions, consensus = _hand_case()
    result = compare_to_consensus(predictions, consensus, categories=CATS, n_boot=50)
    d = result["per_category"]["D"]
    assert d["support"] == 0 and d["predicted"] == 0
    assert d["precision"] is None and d["recall"] is None and d["f1"] is None and d["f1_ci95"] is None
    assert result["undefined"]["per_category.D.f1"] == "category absent from consensus and predictions"
    assert result["undefined"]["per_category.D.precision"] == "the model never predicted this category"


def test_every_none_has_a_reason_and_output_is_strict_json() -> None:
    predictions, consensus = _hand_case()
    for ratings in (None, _ratings()):
        result = compare_to_consensus(predictions, consensus, categories=CATS, reviewer_ratings=ratings, n_boot=50)
        assert _none_paths(result) == set(result["undefined"])
        json.dumps(result, allow_nan=False)


def test_failed_predictions_are_counted_not_scored() -> None:
    consensus = {"a": "A", "b": "B", "c": "A"}
    result = compare_to_consensus({"a": "A", "b": None, "c": None}, consensus, categories=["A", "B"], n_boot=20)
    assert (result["n"], result["n_failed"]) == (1, 2)
    assert result["accuracy"] == 1.0
    assert result["per_category"]["B"]["support"] == 0  # the failed B item is not scored as a miss


def test_all_failed_gives_no_metrics_and_reasons() -> None:
    result = compare_to_consensus({"a": None, "b": None}, {"a": "A", "b": "B"}, categories=["A", "B"])
    assert (result["n"], result["n_failed"]) == (0, 2)
    for name in ("accuracy", "macro_f1", "weighted_f1", "cohen_kappa", "accuracy_ci95", "cohen_kappa_ci95"):
        assert result[name] is None
        assert name in result["undefined"]
    assert result["confusion_matrix"]["matrix"] == [[0, 0], [0, 0]]
    json.dumps(result, allow_nan=False)


def test_empty_inputs() -> None:
    result = compare_to_consensus({}, {}, categories=["A", "B"])
    assert result["n"] == 0 and result["accuracy"] is None
    assert result["undefined"]["accuracy"] == "no item has both a valid prediction and a consensus label"


def test_single_class_kappa_undefined_but_accuracy_defined() -> None:
    result = compare_to_consensus({"a": "A", "b": "A"}, {"a": "A", "b": "A"}, categories=["A", "B"], n_boot=50)
    assert result["accuracy"] == 1.0 and result["macro_f1"] == 1.0
    assert result["cohen_kappa"] is None and result["cohen_kappa_ci95"] is None
    assert result["undefined"]["cohen_kappa"].startswith("chance agreement is 1")
    assert result["undefined"]["cohen_kappa_ci95"] == "cohen_kappa is undefined"


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match=r"consensus labels not in categories: \['Q'\]"):
        compare_to_consensus({"a": "A"}, {"a": "Q"}, categories=["A"])
    with pytest.raises(ValueError, match="categories must not be empty"):
        compare_to_consensus({}, {}, categories=[])
    with pytest.raises(ValueError, match="n_boot must be >= 0"):
        compare_to_consensus({}, {}, categories=["A"], n_boot=-1)
    with pytest.raises(ValueError, match=r"missing columns: \['category'\]"):
        compare_to_consensus({}, {}, categories=["A"], reviewer_ratings=pd.DataFrame({"item": [], "reviewer": []}))
    dup = pd.DataFrame({"item": ["a", "a"], "reviewer": ["r", "r"], "category": ["A", "B"]})
    with pytest.raises(ValueError, match="more than one rating per"):
        compare_to_consensus({}, {}, categories=["A", "B"], reviewer_ratings=dup)


def _random_case(n: int, seed: int, accuracy: float = 0.75) -> tuple[dict[str, str], dict[str, str]]:
    rng = np.random.default_rng(seed)
    cats = np.array(list("ABCDE"))
    truth = rng.choice(cats, size=n, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    pred = np.where(rng.random(n) < accuracy, truth, rng.choice(cats, size=n))
    return ({f"i{k}": str(p) for k, p in enumerate(pred)}, {f"i{k}": str(t) for k, t in enumerate(truth)})


def test_bootstrap_is_deterministic_per_seed_and_contains_estimate() -> None:
    predictions, consensus = _random_case(400, seed=3)
    first = compare_to_consensus(predictions, consensus, categories=list("ABCDE"), seed=11)
    again = compare_to_consensus(predictions, consensus, categories=list("ABCDE"), seed=11)
    other = compare_to_consensus(predictions, consensus, categories=list("ABCDE"), seed=12)
    assert first == again
    assert first["accuracy_ci95"] != other["accuracy_ci95"]
    for name in ("accuracy", "macro_f1", "cohen_kappa"):
        low, high = first[f"{name}_ci95"]
        assert low < first[name] < high
    for row in first["per_category"].values():
        low, high = row["f1_ci95"]
        assert low <= row["f1"] <= high


def test_multinomial_bootstrap_agrees_with_naive_item_resampling() -> None:
    predictions, consensus = _random_case(400, seed=5)
    fast = compare_to_consensus(predictions, consensus, categories=list("ABCDE"), n_boot=2000, seed=1)
    truth = np.array(list(consensus.values()))
    pred = np.array([predictions[k] for k in consensus])
    rng = np.random.default_rng(99)
    accs, kappas = [], []
    for _ in range(500):
        idx = rng.integers(0, truth.size, truth.size)
        accs.append(accuracy_score(truth[idx], pred[idx]))
        kappas.append(cohen_kappa_score(truth[idx], pred[idx]))
    assert fast["accuracy_ci95"] == pytest.approx(list(np.percentile(accs, [2.5, 97.5])), abs=0.01)
    assert fast["cohen_kappa_ci95"] == pytest.approx(list(np.percentile(kappas, [2.5, 97.5])), abs=0.015)


def test_vectorised_metrics_equal_sklearn_on_random_confusions() -> None:
    rng = np.random.default_rng(0)
    labels = list("ABCD")
    for _ in range(25):
        truth = rng.choice(labels[:3], size=60)  # D absent from truth; sometimes from predictions
        pred = rng.choice(labels, size=60, p=[0.4, 0.3, 0.2, 0.1])
        cm = pd.crosstab(pd.Categorical(truth, labels), pd.Categorical(pred, labels), dropna=False).to_numpy()
        out = _metrics_from_confusion(cm[None])
        present = sorted(set(truth) | set(pred))
        assert out["accuracy"][0] == pytest.approx(accuracy_score(truth, pred))
        assert out["kappa"][0] == pytest.approx(cohen_kappa_score(truth, pred))
        assert out["macro_f1"][0] == pytest.approx(f1_score(truth, pred, labels=present, average="macro"))


def test_bootstrap_disabled() -> None:
    predictions, consensus = _hand_case()
    result = compare_to_consensus(predictions, consensus, categories=CATS, n_boot=0)
    assert result["accuracy_ci95"] is None
    assert result["undefined"]["accuracy_ci95"] == "bootstrap disabled (n_boot=0)"
    assert result["undefined"]["per_category.A.f1_ci95"] == "bootstrap disabled (n_boot=0)"


def test_large_input_runs_fast() -> None:
    import time

    predictions, consensus = _random_case(30_000, seed=8)
    start = time.perf_counter()
    result = compare_to_consensus(predictions, consensus, categories=list("ABCDE"), n_boot=1000)
    assert time.perf_counter() - start < 5.0
    assert result["n"] == 30_000


def test_model_as_reviewer_kappas_and_agreements_match_sklearn() -> None:
    predictions, consensus = _hand_case()
    ratings = _ratings()
    result = compare_to_consensus(predictions, consensus, categories=CATS, reviewer_ratings=ratings, n_boot=50)
    a = result["as_reviewer"]
    # threads with a valid model label and >= 2 reviewer labels: i0, i1, i4, i7, i2 (i5 has one label)
    assert a["n_threads"] == 5
    items = ["i0", "i1", "i4", "i7", "i2"]
    wide = ratings.pivot(index="item", columns="reviewer", values="category").reindex(items)
    for row in a["reviewers"]:
        rated = wide[row["reviewer"]].dropna()
        model = [predictions[i] for i in rated.index]
        assert row["n"] == len(rated)
        if row["n"] >= 2:
            assert row["agreement"] == pytest.approx(np.mean(np.array(model) == rated.to_numpy()))
        if row["kappa"] is not None:
            assert row["kappa"] == pytest.approx(cohen_kappa_score(rated.tolist(), model))
    by = {r["reviewer"]: r for r in a["reviewers"]}
    assert by["r1"]["kappa"] == pytest.approx(cohen_kappa_score(list("AABCA"), [predictions[i] for i in items]))
    assert by["r3"]["n"] == 1 and by["r3"]["kappa"] is None  # one thread in common: no number on nothing
    assert "fewer than 2 threads in common" in result["undefined"]["as_reviewer.reviewers.r3.kappa"]
    pairs = {(p["reviewer_a"], p["reviewer_b"]): p for p in a["pairs"]}
    assert pairs[("r1", "r2")]["n"] == 5
    assert pairs[("r1", "r2")]["kappa"] == pytest.approx(cohen_kappa_score(list("AABCA"), list("ABBCA")))
    assert pairs[("r1", "r2")]["agreement"] == pytest.approx(0.8)
    defined_model = [r["kappa"] for r in a["reviewers"] if r["kappa"] is not None]
    defined_pairs = [p["kappa"] for p in a["pairs"] if p["kappa"] is not None]
    assert a["model_mean_kappa"] == pytest.approx(np.mean(defined_model))
    assert a["reviewer_mean_kappa"] == pytest.approx(np.mean(defined_pairs))
    assert a["kappa_difference"] == pytest.approx(np.mean(defined_model) - np.mean(defined_pairs))
    assert "human_ceiling" not in result["per_category"]["A"] and "model_vs_human_position" not in result


def _reviewer_case(n: int, seed: int, model_accuracy: float, reviewer_accuracy: float = 0.8):
    """n threads, 3 reviewers and a model, each right with its own probability, else a random other category."""
    rng = np.random.default_rng(seed)
    cats = np.array(list("ABCD"))
    truth = rng.choice(cats, size=n, p=[0.4, 0.3, 0.2, 0.1])

    def noisy(acc):
        wrong = rng.choice(cats, size=n)
        return np.where(rng.random(n) < acc, truth, wrong)

    rows = [(i, r, str(c)) for r in ("r1", "r2", "r3") for i, c in enumerate(noisy(reviewer_accuracy))]
    ratings = pd.DataFrame(rows, columns=["item", "reviewer", "category"])
    predictions = {i: str(c) for i, c in enumerate(noisy(model_accuracy))}
    consensus = {i: str(t) for i, t in enumerate(truth)}
    return predictions, consensus, ratings


def test_difference_ci_matches_a_naive_thread_bootstrap() -> None:
    predictions, consensus, ratings = _reviewer_case(300, seed=1, model_accuracy=0.8)
    result = compare_to_consensus(predictions, consensus, categories=list("ABCD"), reviewer_ratings=ratings,
                                  n_boot=2000, seed=3)
    wide = ratings.pivot(index="item", columns="reviewer", values="category")
    model = np.array([predictions[i] for i in wide.index])
    rng = np.random.default_rng(5)
    diffs = []
    for _ in range(600):
        idx = rng.integers(0, len(wide), len(wide))
        w = wide.to_numpy()[idx]
        m = model[idx]
        mk = np.mean([cohen_kappa_score(m, w[:, j]) for j in range(3)])
        pk = np.mean([cohen_kappa_score(w[:, a], w[:, b]) for a, b in ((0, 1), (0, 2), (1, 2))])
        diffs.append(mk - pk)
    assert result["as_reviewer"]["kappa_difference_ci95"] == pytest.approx(
        list(np.percentile(diffs, [2.5, 97.5])), abs=0.02)


@pytest.mark.parametrize("model_accuracy, claim", [(0.8, None), (0.45, "contradicted"), (0.97, "supported")])
def test_claim_follows_the_interval(model_accuracy, claim) -> None:
    predictions, consensus, ratings = _reviewer_case(400, seed=7, model_accuracy=model_accuracy)
    a = compare_to_consensus(predictions, consensus, categories=list("ABCD"), reviewer_ratings=ratings,
                             n_boot=500, seed=1)["as_reviewer"]
    low, high = a["kappa_difference_ci95"]
    assert low < a["kappa_difference"] < high
    expected = "supported" if low >= 0 else "contradicted" if high < 0 else "not_shown"
    assert a["claim"] == expected
    if claim is not None:
        assert a["claim"] == claim


def test_a_model_with_one_reviewers_error_process_is_not_called_better_than_reviewers() -> None:
    """The old 'human ceiling' verdict called such a model 'above' most of the time; the fair comparison
    (model vs reviewers beside reviewer vs reviewer) says 'not shown' or 'supported' at chance level only."""
    verdicts = []
    for seed in range(20):
        predictions, consensus, ratings = _reviewer_case(150, seed=seed, model_accuracy=0.8)
        a = compare_to_consensus(predictions, consensus, categories=list("ABCD"), reviewer_ratings=ratings,
                                 n_boot=300, seed=seed)["as_reviewer"]
        verdicts.append(a["claim"])
    # the model is exactly another reviewer: the interval should include 0 about 95% of the time
    assert verdicts.count("not_shown") >= 16


def test_design_weights_give_sklearn_weighted_figures_and_say_so() -> None:
    predictions, consensus = _hand_case()
    scored = [k for k in consensus if predictions.get(k) in CATS]
    weights = {k: (3.0 if consensus[k] == "A" else 1.0) for k in consensus}
    result = compare_to_consensus(predictions, consensus, categories=CATS, weights=weights, n_boot=300, seed=2)
    y_true = [consensus[k] for k in scored]
    y_pred = [predictions[k] for k in scored]
    w = [weights[k] for k in scored]
    assert result["weighting"] == "design-weighted"
    assert result["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred, sample_weight=w))
    assert result["cohen_kappa"] == pytest.approx(cohen_kappa_score(y_true, y_pred, sample_weight=w))
    present = sorted(set(y_true) | set(y_pred))
    assert result["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, labels=present, average="macro",
                                                        sample_weight=w))
    assert result["per_category"]["A"]["support"] == 4  # support stays a count of threads
    low, high = result["accuracy_ci95"]
    assert low <= result["accuracy"] <= high
    assert compare_to_consensus(predictions, consensus, categories=CATS, n_boot=0)["weighting"] == "unweighted"
    with pytest.raises(ValueError, match="positive, finite design weight"):
        compare_to_consensus(predictions, consensus, categories=CATS, weights={"i0": 1.0})


def test_weighted_bootstrap_resamples_within_strata() -> None:
    """Stratified resampling keeps each stratum's size: a stratum where the model is always right and one
    where it is always wrong give the same weighted accuracy in every resample."""
    consensus = {i: "A" for i in range(40)}
    predictions = {i: ("A" if i < 10 else "B") for i in range(40)}
    weights = {i: (6.0 if i < 10 else 1.0) for i in range(40)}  # 60 vs 30 threads represented
    result = compare_to_consensus(predictions, consensus, categories=["A", "B"], weights=weights,
                                  strata={i: i < 10 for i in range(40)}, n_boot=200, seed=0)
    assert result["accuracy"] == pytest.approx(60 / 90)
    assert result["accuracy_ci95"] == pytest.approx([60 / 90, 60 / 90])


def test_compare_runs_hand_case() -> None:
    a = {"1": "A", "2": "A", "3": "B", "4": "B", "5": None, "6": "A"}
    b = {"1": "A", "2": "B", "3": "B", "4": "B", "5": "A", "7": "A"}
    result = compare_runs(a, b, categories=["A", "B"])
    assert (result["n"], result["n_only_a"], result["n_only_b"], result["n_failed_a"], result["n_failed_b"]) == (
        4,
        1,
        1,
        1,
        0,
    )
    assert result["percent_agreement"] == pytest.approx(75.0)
    # po = 0.75, pe = (2*1 + 2*3)/16 = 0.5 -> kappa 0.5
    assert result["cohen_kappa"] == pytest.approx(0.5)
    assert result["confusion_matrix"]["matrix"] == [[1, 1], [0, 2]]
    assert result["per_category"] == {"A": {"a": 2, "b": 1}, "B": {"a": 2, "b": 3}}


def test_compare_runs_nothing_in_common() -> None:
    result = compare_runs({"1": "A"}, {"2": "A"}, categories=["A"])
    assert result["n"] == 0 and result["percent_agreement"] is None and result["cohen_kappa"] is None
    assert set(result["undefined"]) == {"percent_agreement", "cohen_kappa"}
    json.dumps(result, allow_nan=False)


def test_reveal_effect_hand_case() -> None:
    rows = [  # item, blind, model, post, consensus
        ("i1", "A", "A", "A", "A"),  # model agreed, kept
        ("i2", "A", "A", "B", "A"),  # model agreed, changed anyway
        ("i3", "A", "B", "B", "B"),  # switch toward consensus (model right)
        ("i4", "A", "B", "B", "A"),  # switch away (model wrong)
        ("i5", "A", "B", "B", "C"),  # switch, neutral (model wrong)
        ("i6", "A", "B", "A", "B"),  # kept despite a right model
        ("i7", "A", "B", "C", "C"),  # changed to a third label (model wrong)
        ("i8", "A", "B", "B", None),  # switch, no consensus
        ("i9", "A", None, "A", "A"),  # failed model label: skipped
    ]
    blind = {(i, "r1"): b for i, b, _, _, _ in rows} | {("i10", "r1"): "A"}
    post = {(i, "r1"): p for i, _, _, p, _ in rows} | {("i11", "r1"): "A"}
    model = {i: m for i, _, m, _, _ in rows}
    consensus = {i: c for i, _, _, _, c in rows if c is not None}
    result = reveal_effect(blind, post, model, consensus)
    assert {k: v for k, v in result.items() if k.startswith("n_")} == {
        "n_cases": 8,
        "n_unmatched": 2,
        "n_model_agreed": 2,
        "n_changed_when_model_agreed": 1,
        "n_model_differed": 6,
        "n_switched_to_model": 4,
        "n_changed_to_other_label": 1,
        "n_switches_with_consensus": 3,
        "n_toward_consensus": 1,
        "n_away_from_consensus": 1,
        "n_neutral": 1,
        "n_differed_model_right": 2,
        "n_switched_model_right": 1,
        "n_differed_model_wrong": 3,
        "n_switched_model_wrong": 2,
    }
    assert result["switch_rate"] == pytest.approx(4 / 6)
    assert result["switch_rate_model_right"] == pytest.approx(1 / 2)
    assert result["switch_rate_model_wrong"] == pytest.approx(2 / 3)
    assert result["toward_share"] == pytest.approx(1 / 3)
    assert result["away_share"] == pytest.approx(1 / 3)
    assert result["undefined"] == {}


def test_reveal_effect_without_disagreement_is_undefined() -> None:
    result = reveal_effect({("i", "r"): "A"}, {("i", "r"): "A"}, {"i": "A"}, {"i": "A"})
    assert result["switch_rate"] is None
    assert result["undefined"]["switch_rate"] == "the model never differed from a blind label"
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in result.values())
    json.dumps(result, allow_nan=False)


def test_never_predicted_category_has_zero_f1_and_undefined_precision() -> None:
    result = compare_to_consensus(
        {"a": "A", "b": "A", "c": "B"}, {"a": "A", "b": "C", "c": "C"}, categories=["A", "B", "C"], n_boot=50
    )
    b, c = result["per_category"]["B"], result["per_category"]["C"]
    assert (c["precision"], c["recall"], c["f1"]) == (None, 0.0, 0.0)  # missed every C
    assert (b["precision"], b["recall"], b["f1"]) == (0.0, None, 0.0)  # predicted B, none exists
    assert result["undefined"]["per_category.B.recall"] == "no consensus item in this category"
    assert result["macro_f1"] == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert result["cohen_kappa"] == pytest.approx(1 / 7)  # po 1/3, pe 2/9


def test_accuracy_ci_matches_binomial_quantiles() -> None:
    # Resampling n items, the number of correct ones is Binomial(n, accuracy): the 95% percentile
    # interval must sit on its 2.5% and 97.5% quantiles (within one item).
    from scipy.stats import binom

    predictions, consensus = _random_case(400, seed=4)
    result = compare_to_consensus(predictions, consensus, categories=list("ABCDE"), n_boot=20_000, seed=2)
    n, acc = result["n"], result["accuracy"]
    expected = [binom.ppf(0.025, n, acc) / n, binom.ppf(0.975, n, acc) / n]
    assert result["accuracy_ci95"] == pytest.approx(expected, abs=1.0 / n)
