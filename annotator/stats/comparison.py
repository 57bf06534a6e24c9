"""Model-versus-human comparison statistics.

Pure functions that compare a classifier's labels (GPT-4o, or the local
scikit-learn model) with the final (adjudicated) labels, with individual
reviewers as another reviewer would be, and with another run; plus an
automation-bias measure for the "reveal the model's label" step.

Measures and references
-----------------------
- Accuracy, precision, recall, F1 (per category, macro, support-weighted):
  scikit-learn's ``accuracy_score`` / ``precision_recall_fscore_support`` /
  ``f1_score``; F1 = 2TP / (2TP + FP + FN) (van Rijsbergen, 1979).
- Cohen's kappa, nominal (Cohen, 1960), via ``sklearn.metrics.cohen_kappa_score``.
- Design weights: a round sampled by predicted category (over-sampling rare
  strata) gives each thread the weight N_h / n_h of its stratum. Accuracy, F1
  and kappa are then computed from the weighted confusion matrix (every
  scikit-learn measure with ``sample_weight``), which estimates the corpus
  figure rather than the sample's (Horvitz & Thompson, 1952; Cochran, 1977,
  ch. 5); the result says ``"weighting": "design-weighted"``.
- Percentile bootstrap confidence intervals (Efron & Tibshirani, 1993, ch. 13).
  Unweighted, every measure depends on the items only through the confusion
  matrix, so resampling ``n`` items with replacement is exactly drawing the
  confusion matrix from Multinomial(n, observed cell shares). Weighted, the
  items are resampled within their strata (each stratum keeps its size) and
  the weighted confusion matrices are one matrix product per stratum.
- The model as another reviewer: on the threads with a model label and at
  least two reviewer labels, the model's Cohen's kappa and raw agreement with
  each reviewer beside each reviewer pair's, and the difference D = mean over
  reviewers of kappa(model, reviewer) - mean over reviewer pairs of
  kappa(reviewer, reviewer), with a percentile bootstrap 95% CI over threads
  (all kappas recomputed on each resample). If the model labelled like one
  more reviewer, D would be 0 on average; this is the comparison that can
  support "the model labels as well as a reviewer" (a non-inferiority claim
  at margin 0 needs the whole interval at or above 0). The final label is not
  a fair yardstick for that claim: it was built from the reviewers' labels.
- Reviewers against a reference without them: each reviewer's accuracy
  against the category all *other* reviewers of a thread agree on
  (:func:`annotator.stats.agreement.reviewer_vs_others`), shown beside the
  model's accuracy against the final label.

Missing values: a prediction of ``None`` is a failed call; it is counted and
never scored. Every undefined measure is ``None`` and its reason is stored in
the result's ``undefined`` mapping under the measure's dotted path (for
example ``"per_category.Coding.precision"``). Results are plain JSON types and
never contain NaN.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

__all__ = ["compare_to_consensus", "compare_runs", "reveal_effect", "CLAIM_WORDS"]

_CI_LEVEL = 95.0
_RATING_COLUMNS = ("item", "reviewer", "category")
#: Share of bootstrap resamples allowed to be undefined before a CI is withheld (as for agreement).
MAX_UNDEFINED_RESAMPLE_SHARE = 0.05
CLAIM_WORDS = {
    "supported": "supported",
    "not_shown": "not shown (the interval includes a deficit)",
    "contradicted": "contradicted",
}


# --------------------------------------------------------------------------- #
# Public functions
# --------------------------------------------------------------------------- #
def compare_to_consensus(
    predictions: Mapping[Hashable, str | None],
    consensus: Mapping[Hashable, str],
    *,
    categories: Sequence[str],
    reviewer_ratings: pd.DataFrame | None = None,
    weights: Mapping[Hashable, float] | None = None,
    strata: Mapping[Hashable, Hashable] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Score model predictions against the final labels, and against the reviewers as a reviewer would be.

    Args:
        predictions: item id -> predicted category, or ``None`` for a failed
            prediction. A predicted label outside ``categories`` is also
            treated as failed (counted in ``n_failed`` and ``n_out_of_codebook``).
        consensus: item id -> final category; every label must be one of
            ``categories`` (``ValueError`` otherwise).
        categories: the codebook's categories, in display order.
        reviewer_ratings: optional long table ``item``, ``reviewer``,
            ``category`` (one row per blind rating; one per item and
            reviewer), items keyed like ``predictions``. Enables the model
            as another reviewer and each reviewer against the others.
        weights: optional item -> design weight (> 0) for every item of
            ``consensus`` and of ``reviewer_ratings``; every measure is then
            design-weighted.
        strata: optional item -> stratum, for resampling within strata
            (default: the items sharing a weight form a stratum).
        n_boot: bootstrap resamples for the 95% percentile CIs (0 disables them).
        seed: seed of the bootstrap generator (``numpy.random.default_rng``).

    Returns:
        A JSON-serialisable dict: ``n`` (items scored), ``n_consensus``,
        ``n_failed``, ``n_out_of_codebook``, ``n_missing`` (final labels with
        no prediction), ``weighting`` (``"unweighted"`` or
        ``"design-weighted"``), ``accuracy``, ``macro_f1`` (mean F1 over the
        categories present in the final labels or the predictions),
        ``weighted_f1``, ``cohen_kappa``, the ``*_ci95`` pairs ``[low, high]``,
        ``per_category`` (precision, recall, f1, f1_ci95, support = items
        with that final label, predicted), ``confusion_matrix`` (item counts;
        rows = final label, columns = model), ``as_reviewer`` (see
        :func:`_as_reviewer`), ``reviewers_vs_others`` (reviewer -> n,
        n_rated, accuracy, kappa, reason: each reviewer against the category
        the other reviewers agree on, on the scored items), ``n_boot``,
        ``seed`` and ``undefined`` (dotted measure path -> reason).
    """
    cats = _validate_categories(categories)
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    unknown = sorted({str(v) for v in consensus.values()} - set(cats))
    if unknown:
        raise ValueError(f"consensus labels not in categories: {unknown}")
    if weights is not None:
        bad = [i for i in consensus if not (i in weights and np.isfinite(weights[i]) and weights[i] > 0)]
        if bad:
            raise ValueError(f"every item needs a positive, finite design weight (missing or bad for {bad[0]!r})")

    undefined: dict[str, str] = {}
    items: list[Hashable] = []
    y_true: list[str] = []
    y_pred: list[str] = []
    known = set(cats)
    n_failed = n_out = n_missing = 0
    for item, truth in consensus.items():
        if item not in predictions:
            n_missing += 1
            continue
        pred = predictions[item]
        if pred is None:
            n_failed += 1
        elif pred not in known:
            n_failed += 1
            n_out += 1
        else:
            items.append(item)
            y_true.append(truth)
            y_pred.append(pred)
    n = len(y_true)
    w = None if weights is None else np.array([float(weights[i]) for i in items])

    result: dict[str, Any] = {
        "n": n,
        "n_consensus": len(consensus),
        "n_failed": n_failed,
        "n_out_of_codebook": n_out,
        "n_missing": n_missing,
        "weighting": "unweighted" if weights is None else "design-weighted",
        "n_boot": n_boot,
        "seed": seed,
    }
    result.update(_point_metrics(y_true, y_pred, cats, undefined, w))
    if w is None:
        result.update(_bootstrap_cis(y_true, y_pred, cats, n_boot, seed, result, undefined))
    else:
        groups = _strata_of(items, weights, strata)
        result.update(_weighted_bootstrap_cis(y_true, y_pred, w, groups, cats, n_boot, seed, result, undefined))
    result["per_category"] = _per_category(y_true, y_pred, cats, result, undefined, w)
    result["confusion_matrix"] = {
        "labels": list(cats),
        "matrix": _confusion(y_true, y_pred, cats),
    }
    result["as_reviewer"] = _as_reviewer(predictions, reviewer_ratings, cats, weights, strata, n_boot, seed, undefined)
    result["reviewers_vs_others"] = _reviewers_vs_others(reviewer_ratings, set(items), weights, undefined)
    result["undefined"] = undefined
    return result


def compare_runs(
    a: Mapping[str, str | None],
    b: Mapping[str, str | None],
    *,
    categories: Sequence[str],
) -> dict[str, Any]:
    """Agreement between two classification runs over the same items.

    Measures: percent agreement (share of items given the same label, times
    100) and Cohen's kappa (Cohen, 1960; ``sklearn.metrics.cohen_kappa_score``),
    over items present in both runs with a valid label in both. ``None`` or a
    label outside ``categories`` counts as failed for that run.

    Returns:
        ``n``, ``n_only_a``, ``n_only_b``, ``n_failed_a``, ``n_failed_b``
        (over items present in both), ``percent_agreement`` (0-100),
        ``cohen_kappa``, ``confusion_matrix`` (rows = run a, columns = run b),
        ``per_category`` (category -> ``{"a": count, "b": count}`` over the
        ``n`` compared items) and ``undefined``.
    """
    cats = _validate_categories(categories)
    undefined: dict[str, str] = {}
    common = [item for item in a if item in b]
    ya: list[str] = []
    yb: list[str] = []
    failed_a = failed_b = 0
    for item in common:
        la, lb = a[item], b[item]
        ok_a, ok_b = la in cats, lb in cats
        failed_a += not ok_a
        failed_b += not ok_b
        if ok_a and ok_b:
            ya.append(la)  # type: ignore[arg-type]
            yb.append(lb)  # type: ignore[arg-type]
    n = len(ya)
    if n:
        agreement: float | None = 100.0 * float(np.mean(np.asarray(ya) == np.asarray(yb)))
    else:
        agreement = None
        undefined["percent_agreement"] = "no item has a valid label in both runs"
    return {
        "n": n,
        "n_only_a": len(a) - len(common),
        "n_only_b": len(b) - len(common),
        "n_failed_a": failed_a,
        "n_failed_b": failed_b,
        "percent_agreement": agreement,
        "cohen_kappa": _kappa(ya, yb, "cohen_kappa", undefined),
        "confusion_matrix": {"labels": list(cats), "matrix": _confusion(ya, yb, cats)},
        "per_category": {c: {"a": ya.count(c), "b": yb.count(c)} for c in cats},
        "undefined": undefined,
    }


def reveal_effect(
    blind: Mapping[tuple[str, str], str],
    post: Mapping[tuple[str, str], str],
    model: Mapping[str, str | None],
    consensus: Mapping[str, str],
) -> dict[str, Any]:
    """Automation-bias measure for the reveal step (switching to the model's label).

    Data shape: ``blind`` and ``post`` map ``(item, reviewer)`` to the label the
    reviewer gave before and after seeing the model's label; ``model`` maps
    item -> model label (``None`` = failed, such cases are skipped);
    ``consensus`` maps item -> adjudicated label (ideally built from blind
    labels only, otherwise the "toward consensus" count is partly circular).

    A *case* is an ``(item, reviewer)`` key present in ``blind`` and ``post``
    with a model label. Among cases where the model differed from the blind
    label, a *switch* is a post label equal to the model's. Switches with a
    consensus label are split into toward consensus (blind wrong, post right),
    away (blind right, post wrong) and neutral (wrong before and after). The
    switch rate is also given separately for cases where the model matched the
    consensus and where it did not. This is a descriptive measure (cf. the
    automation-bias literature, Goddard et al., 2012, JAMIA 19:121); rates are
    proportions in [0, 1].

    Returns:
        Counts ``n_cases``, ``n_model_agreed``, ``n_changed_when_model_agreed``,
        ``n_model_differed``, ``n_switched_to_model``,
        ``n_changed_to_other_label``, ``n_switches_with_consensus``,
        ``n_toward_consensus``, ``n_away_from_consensus``, ``n_neutral``,
        ``n_differed_model_right``, ``n_switched_model_right``,
        ``n_differed_model_wrong``, ``n_switched_model_wrong``,
        ``n_unmatched`` (keys only in one of ``blind``/``post``); rates
        ``switch_rate``, ``switch_rate_model_right``,
        ``switch_rate_model_wrong``, ``toward_share``, ``away_share``; and
        ``undefined``.
    """
    keys = [k for k in blind if k in post and model.get(k[0]) is not None]
    unmatched = len(set(blind) ^ set(post))
    c = dict.fromkeys(
        (
            "n_model_agreed n_changed_when_model_agreed n_model_differed "
            "n_switched_to_model n_changed_to_other_label n_switches_with_consensus "
            "n_toward_consensus n_away_from_consensus n_neutral "
            "n_differed_model_right n_switched_model_right "
            "n_differed_model_wrong n_switched_model_wrong"
        ).split(),
        0,
    )
    for key in keys:
        before, after, suggested = blind[key], post[key], model[key[0]]
        truth = consensus.get(key[0])
        if suggested == before:
            c["n_model_agreed"] += 1
            c["n_changed_when_model_agreed"] += after != before
            continue
        c["n_model_differed"] += 1
        switched = after == suggested
        c["n_switched_to_model"] += switched
        c["n_changed_to_other_label"] += after not in (before, suggested)
        if truth is None:
            continue
        right = "right" if suggested == truth else "wrong"
        c[f"n_differed_model_{right}"] += 1
        c[f"n_switched_model_{right}"] += switched
        if switched:
            c["n_switches_with_consensus"] += 1
            if before != truth and after == truth:
                c["n_toward_consensus"] += 1
            elif before == truth:
                c["n_away_from_consensus"] += 1
            else:
                c["n_neutral"] += 1

    undefined: dict[str, str] = {}
    result: dict[str, Any] = {"n_cases": len(keys), "n_unmatched": unmatched, **c}
    no_switch = "no switch on an item with a consensus label"
    rates = {  # rate: (numerator, denominator, reason when the denominator is 0)
        "switch_rate": (
            "n_switched_to_model", "n_model_differed", "the model never differed from a blind label"
        ),
        "switch_rate_model_right": (
            "n_switched_model_right", "n_differed_model_right",
            "no differing case where the model matched the consensus",
        ),
        "switch_rate_model_wrong": (
            "n_switched_model_wrong", "n_differed_model_wrong",
            "no differing case where the model missed the consensus",
        ),
        "toward_share": ("n_toward_consensus", "n_switches_with_consensus", no_switch),
        "away_share": ("n_away_from_consensus", "n_switches_with_consensus", no_switch),
    }  # fmt: skip
    for name, (num, den, reason) in rates.items():
        result[name] = _ratio(c[num], c[den], name, reason, undefined)
    result["undefined"] = undefined
    return result


# --------------------------------------------------------------------------- #
# Private helpers
# --------------------------------------------------------------------------- #
def _validate_categories(categories: Sequence[str]) -> list[str]:
    cats = list(categories)
    if not cats:
        raise ValueError("categories must not be empty")
    if len(set(cats)) != len(cats):
        raise ValueError("categories must be unique")
    return cats


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence sklearn's warnings for cases this module reports itself as undefined."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.filterwarnings("ignore", message="A single label was found", category=UserWarning)
        warnings.filterwarnings("ignore", category=RuntimeWarning)  # 0/0 kappa before sklearn 1.9
        yield


def _ratio(num: int, den: int, name: str, reason: str, undefined: dict[str, str]) -> float | None:
    if den == 0:
        undefined[name] = reason
        return None
    return num / den


def _kappa(y1: Sequence[Hashable], y2: Sequence[Hashable], path: str, undefined: dict[str, str],
           weights: np.ndarray | None = None) -> float | None:
    """Cohen's kappa (optionally item-weighted), or None (reason recorded) when undefined."""
    if len(y1) == 0:
        undefined[path] = "no items rated by both"
        return None
    with _quiet():
        value = cohen_kappa_score(y1, y2, sample_weight=weights)  # NaN when undefined (sklearn < 1.9 and >= 1.9 alike)
    if not np.isfinite(value):
        undefined[path] = "chance agreement is 1 (both used a single, identical category)"
        return None
    return float(value)


def _confusion(y_true: Sequence[str], y_pred: Sequence[str], cats: list[str]) -> list[list[int]]:
    if not y_true:
        return [[0] * len(cats) for _ in cats]
    with _quiet():
        return confusion_matrix(y_true, y_pred, labels=cats).astype(int).tolist()


def _point_metrics(y_true: list[str], y_pred: list[str], cats: list[str], undefined: dict[str, str],
                   w: np.ndarray | None = None) -> dict[str, Any]:
    if not y_true:
        for name in ("accuracy", "macro_f1", "weighted_f1", "cohen_kappa"):
            undefined[name] = "no item has both a valid prediction and a consensus label"
        return dict.fromkeys(("accuracy", "macro_f1", "weighted_f1", "cohen_kappa"))
    present = [c for c in cats if c in set(y_true) | set(y_pred)]
    return {
        "accuracy": float(accuracy_score(y_true, y_pred, sample_weight=w)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0.0, sample_weight=w)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=cats, average="weighted", zero_division=0.0,
                                      sample_weight=w)),
        "cohen_kappa": _kappa(y_true, y_pred, "cohen_kappa", undefined, w),
    }


def _metrics_from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, per-class F1, macro F1 and kappa from a stack of confusion matrices.

    ``cm`` has shape (B, K, K), rows = truth, columns = prediction. F1 of a
    class absent from both truth and prediction is NaN and left out of the
    macro mean; kappa is NaN when chance agreement is 1.
    """
    cm = cm.astype(float)
    n = cm.sum(axis=(1, 2))
    tp = np.diagonal(cm, axis1=1, axis2=2)
    rows, cols = cm.sum(axis=2), cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = tp.sum(axis=1) / n
        f1 = np.where(rows + cols > 0, 2 * tp / (rows + cols), np.nan)
        present = np.isfinite(f1)
        macro = np.where(present.any(axis=1), np.nansum(f1, axis=1) / present.sum(axis=1), np.nan)
        chance = (rows * cols).sum(axis=1) / n**2
        kappa = np.where(chance < 1, (accuracy - chance) / (1 - chance), np.nan)
    return {"accuracy": accuracy, "macro_f1": macro, "kappa": kappa, "f1": f1}


def _percentile_ci(values: np.ndarray) -> list[float] | None:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    tail = (100.0 - _CI_LEVEL) / 2
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return [float(low), float(high)]


def _bootstrap_cis(
    y_true: list[str],
    y_pred: list[str],
    cats: list[str],
    n_boot: int,
    seed: int,
    point: Mapping[str, Any],
    undefined: dict[str, str],
) -> dict[str, Any]:
    names = {"accuracy": "accuracy", "macro_f1": "macro_f1", "cohen_kappa": "kappa"}
    out: dict[str, Any] = {f"{m}_ci95": None for m in names}
    out["_f1_ci95"] = [None] * len(cats)
    n = len(y_true)
    if n == 0 or n_boot == 0:
        reason = "bootstrap disabled (n_boot=0)" if n_boot == 0 else "no scored items"
        for m in names:
            undefined[f"{m}_ci95"] = reason
        out["_f1_ci95_reason"] = reason
        return out
    k = len(cats)
    observed = np.asarray(_confusion(y_true, y_pred, cats), dtype=float).ravel()
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, observed / n, size=n_boot).reshape(n_boot, k, k)
    boot = _metrics_from_confusion(draws)
    for m, key in names.items():
        if point[m] is None:
            undefined[f"{m}_ci95"] = f"{m} is undefined"
            continue
        out[f"{m}_ci95"] = _percentile_ci(boot[key])
    out["_f1_ci95"] = [_percentile_ci(boot["f1"][:, j]) for j in range(k)]
    out["_f1_ci95_reason"] = "category absent from consensus and predictions"
    return out


def _per_category(
    y_true: list[str],
    y_pred: list[str],
    cats: list[str],
    result: dict[str, Any],
    undefined: dict[str, str],
    w: np.ndarray | None = None,
) -> dict[str, dict[str, Any]]:
    f1_cis = result.pop("_f1_ci95")
    f1_ci_reason = result.pop("_f1_ci95_reason")
    if y_true:
        precision, recall, f1, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=cats, average=None, zero_division=np.nan, sample_weight=w
        )
    else:
        precision = recall = f1 = np.full(len(cats), np.nan)
    support = [y_true.count(c) for c in cats]
    predicted = {c: y_pred.count(c) for c in cats}
    table: dict[str, dict[str, Any]] = {}
    for j, cat in enumerate(cats):
        row: dict[str, Any] = {"support": int(support[j]), "predicted": predicted[cat]}
        reasons = {
            "precision": "the model never predicted this category",
            "recall": "no consensus item in this category",
            "f1": "category absent from consensus and predictions",
        }
        for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
            value = float(values[j])
            row[name] = value if np.isfinite(value) else None
            if row[name] is None:
                undefined[f"per_category.{cat}.{name}"] = reasons[name]
        row["f1_ci95"] = f1_cis[j]
        if row["f1_ci95"] is None:
            undefined[f"per_category.{cat}.f1_ci95"] = f1_ci_reason
        table[cat] = row
    return table


def _validated_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _RATING_COLUMNS if c not in ratings.columns]
    if missing:
        raise ValueError(f"reviewer_ratings is missing columns: {missing}")
    frame = ratings.loc[:, list(_RATING_COLUMNS)].dropna()
    frame = frame.assign(reviewer=frame["reviewer"].astype(str), category=frame["category"].astype(str))
    if frame.duplicated(["item", "reviewer"]).any():
        raise ValueError("reviewer_ratings has more than one rating per (item, reviewer)")
    return frame


def _strata_of(items: Sequence[Hashable], weights: Mapping[Hashable, float] | None,
               strata: Mapping[Hashable, Hashable] | None) -> list[np.ndarray]:
    """Positions of the items in each resampling stratum (one stratum without a design)."""
    if strata is not None:
        keys = [strata.get(i) for i in items]
    elif weights is not None:
        keys = [float(weights[i]) for i in items]
    else:
        return [np.arange(len(items))]
    codes = pd.factorize(pd.Series(keys, dtype=object))[0]
    return [np.flatnonzero(codes == c) for c in range(codes.max() + 1)] if len(codes) else []


def _resample_weights(groups: list[np.ndarray], n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) counts: how often each item is drawn when every stratum is resampled with
    replacement at its own size."""
    rng = np.random.default_rng(seed)
    draws = np.zeros((n_boot, n))
    for idx in groups:
        if len(idx):
            draws[:, idx] = rng.multinomial(len(idx), np.full(len(idx), 1 / len(idx)), size=n_boot)
    return draws


def _cell_matrix(cells: np.ndarray, k: int) -> sparse.csr_matrix:
    """One-hot (items x k*k) of each item's confusion cell."""
    return sparse.csr_matrix((np.ones(len(cells)), (np.arange(len(cells)), cells)), shape=(len(cells), k * k))


def _weighted_bootstrap_cis(
    y_true: list[str],
    y_pred: list[str],
    w: np.ndarray,
    groups: list[np.ndarray],
    cats: list[str],
    n_boot: int,
    seed: int,
    point: Mapping[str, Any],
    undefined: dict[str, str],
) -> dict[str, Any]:
    names = {"accuracy": "accuracy", "macro_f1": "macro_f1", "cohen_kappa": "kappa"}
    out: dict[str, Any] = {f"{m}_ci95": None for m in names}
    out["_f1_ci95"] = [None] * len(cats)
    if not y_true or n_boot == 0:
        reason = "bootstrap disabled (n_boot=0)" if n_boot == 0 else "no scored items"
        for m in names:
            undefined[f"{m}_ci95"] = reason
        out["_f1_ci95_reason"] = reason
        return out
    k = len(cats)
    index = {c: i for i, c in enumerate(cats)}
    cells = np.array([index[t] * k + index[p] for t, p in zip(y_true, y_pred)])
    draws = _resample_weights(groups, len(cells), n_boot, seed) * w
    cm = np.asarray((_cell_matrix(cells, k).T @ draws.T).T).reshape(n_boot, k, k)
    boot = _metrics_from_confusion(cm)
    for m, key in names.items():
        if point[m] is None:
            undefined[f"{m}_ci95"] = f"{m} is undefined"
            continue
        out[f"{m}_ci95"] = _percentile_ci(boot[key])
    out["_f1_ci95"] = [_percentile_ci(boot["f1"][:, j]) for j in range(k)]
    out["_f1_ci95_reason"] = "category absent from final labels and predictions"
    return out


def _kappa_and_agreement(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cohen's kappa and raw agreement from confusion matrices (..., k, k); NaN where undefined."""
    cm = cm.astype(float)
    total = cm.sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_o = np.trace(cm, axis1=-2, axis2=-1) / total
        p_e = (cm.sum(axis=-1) * cm.sum(axis=-2)).sum(axis=-1) / total**2
        kappa = np.where(p_e < 1 - 1e-12, (p_o - p_e) / (1 - p_e), np.nan)
    return kappa, p_o


def _interval(values: np.ndarray, path: str, undefined: dict[str, str]) -> list[float] | None:
    """Percentile 95% interval, withheld (reason recorded) when too many resamples are undefined."""
    share = 1 - np.isfinite(values).mean() if values.size else 1.0
    if share > MAX_UNDEFINED_RESAMPLE_SHARE:
        undefined[path] = f"undefined in {share:.0%} of bootstrap resamples (more than {MAX_UNDEFINED_RESAMPLE_SHARE:.0%})"
        return None
    return _percentile_ci(values)


def _as_reviewer(
    predictions: Mapping[Hashable, str | None],
    ratings: pd.DataFrame | None,
    cats: list[str],
    weights: Mapping[Hashable, float] | None,
    strata: Mapping[Hashable, Hashable] | None,
    n_boot: int,
    seed: int,
    undefined: dict[str, str],
) -> dict[str, Any]:
    """The model as one more reviewer, on the threads with a model label and >= 2 reviewer labels.

    ``reviewers``: the model against each reviewer (n, agreement, kappa); ``pairs``: each pair of
    reviewers (reviewer_a, reviewer_b, n, agreement, kappa); ``model_mean_*`` and ``reviewer_mean_*``
    (means over the rows whose kappa is defined), ``kappa_difference`` and ``agreement_difference``
    (model mean minus reviewer mean) with bootstrap ``*_ci95`` over threads, and ``claim``:
    ``"supported"`` (the kappa difference's interval lies at or above 0), ``"contradicted"`` (below 0)
    or ``"not_shown"`` (it includes values below 0).
    """
    out: dict[str, Any] = {
        "n_threads": 0, "reviewers": [], "pairs": [],
        "model_mean_kappa": None, "reviewer_mean_kappa": None, "kappa_difference": None,
        "kappa_difference_ci95": None, "model_mean_agreement": None, "reviewer_mean_agreement": None,
        "agreement_difference": None, "agreement_difference_ci95": None, "claim": None,
    }
    summary = ("model_mean_kappa", "reviewer_mean_kappa", "kappa_difference", "kappa_difference_ci95",
               "model_mean_agreement", "reviewer_mean_agreement", "agreement_difference", "agreement_difference_ci95",
               "claim")
    if ratings is None:
        for name in summary:
            undefined[f"as_reviewer.{name}"] = "no reviewer labels given"
        return out
    frame = _validated_ratings(ratings)
    frame = frame[frame["category"].isin(cats)]
    model = {i: p for i, p in predictions.items() if p in cats}
    n_ratings = frame.groupby("item")["reviewer"].size()
    keep = [i for i in n_ratings.index if n_ratings[i] >= 2 and i in model]
    frame = frame[frame["item"].isin(keep)]
    items = list(dict.fromkeys(frame["item"]))
    reviewers = sorted(frame["reviewer"].unique())
    n, k = len(items), len(cats)
    out["n_threads"] = n
    if n == 0 or not reviewers:
        for name in summary:
            undefined[f"as_reviewer.{name}"] = "no thread has a model label and two reviewer labels"
        return out
    index = {c: j for j, c in enumerate(cats)}
    pos = {item: r for r, item in enumerate(items)}
    labels = np.full((n, len(reviewers) + 1), -1, dtype=np.int64)
    labels[:, 0] = [index[model[i]] for i in items]
    col = {r: j + 1 for j, r in enumerate(reviewers)}
    labels[[pos[i] for i in frame["item"]], [col[r] for r in frame["reviewer"]]] = \
        [index[c] for c in frame["category"]]
    w = np.ones(n) if weights is None else np.array([float(weights[i]) for i in items])
    draws = _resample_weights(_strata_of(items, weights, strata), n, n_boot, seed) * w if n_boot else None

    def pair(a: int, b: int, path: str) -> tuple[dict[str, Any], np.ndarray | None, np.ndarray | None]:
        mask = (labels[:, a] >= 0) & (labels[:, b] >= 0)
        cells = labels[mask, a] * k + labels[mask, b]
        row: dict[str, Any] = {"n": int(mask.sum()), "agreement": None, "kappa": None}
        if row["n"] < 2:
            undefined[f"{path}.kappa"] = undefined[f"{path}.agreement"] = \
                f"fewer than 2 threads in common ({row['n']})"
            return row, None, None
        cm = np.bincount(cells, weights=w[mask], minlength=k * k).reshape(k, k)
        kappa, agreement = _kappa_and_agreement(cm)
        row["agreement"] = float(agreement)
        if np.isfinite(kappa):
            row["kappa"] = float(kappa)
        else:
            undefined[f"{path}.kappa"] = "chance agreement is 1 (both used a single, identical category)"
            return row, None, None
        if draws is None:
            return row, None, None
        boot = np.asarray((_cell_matrix(cells, k).T @ draws[:, mask].T).T).reshape(len(draws), k, k)
        return row, *_kappa_and_agreement(boot)

    model_boot, pair_boot = [], []
    for r in reviewers:
        row, kb, ab = pair(0, col[r], f"as_reviewer.reviewers.{r}")
        out["reviewers"].append({"reviewer": r, **row})
        if row["kappa"] is not None:
            model_boot.append((row, kb, ab))
    for a, b in itertools.combinations(reviewers, 2):
        if not ((labels[:, col[a]] >= 0) & (labels[:, col[b]] >= 0)).any():
            continue  # never labelled the same thread: not a pair
        row, kb, ab = pair(col[a], col[b], f"as_reviewer.pairs.{a}|{b}")
        out["pairs"].append({"reviewer_a": a, "reviewer_b": b, **row})
        if row["kappa"] is not None:
            pair_boot.append((row, kb, ab))
    if not model_boot or not pair_boot:
        reason = ("no defined kappa between the model and a reviewer" if not model_boot
                  else "no pair of reviewers has a defined kappa on 2 or more common threads")
        for name in summary:
            undefined[f"as_reviewer.{name}"] = reason
        return out
    for measure in ("kappa", "agreement"):
        model_mean = float(np.mean([row[measure] for row, _, _ in model_boot]))
        reviewer_mean = float(np.mean([row[measure] for row, _, _ in pair_boot]))
        out[f"model_mean_{measure}"] = model_mean
        out[f"reviewer_mean_{measure}"] = reviewer_mean
        out[f"{measure}_difference"] = model_mean - reviewer_mean
        if draws is None:
            undefined[f"as_reviewer.{measure}_difference_ci95"] = "bootstrap disabled (n_boot=0)"
            continue
        j = 1 if measure == "kappa" else 2
        diff = (np.mean([x[j] for x in model_boot], axis=0) - np.mean([x[j] for x in pair_boot], axis=0))
        out[f"{measure}_difference_ci95"] = _interval(diff, f"as_reviewer.{measure}_difference_ci95", undefined)
    ci = out["kappa_difference_ci95"]
    if ci is None:
        undefined["as_reviewer.claim"] = "the kappa difference has no interval"
    else:
        out["claim"] = "supported" if ci[0] >= 0 else "contradicted" if ci[1] < 0 else "not_shown"
    return out


def _reviewers_vs_others(
    ratings: pd.DataFrame | None,
    scored: set[Hashable],
    weights: Mapping[Hashable, float] | None,
    undefined: dict[str, str],
) -> dict[str, dict[str, Any]]:
    """Each reviewer against the other reviewers' agreed category, on the scored items."""
    from annotator.stats.agreement import reviewer_vs_others

    if ratings is None:
        return {}
    frame = _validated_ratings(ratings)
    frame = frame[frame["item"].isin(scored)]
    result = reviewer_vs_others(frame, weights=None if weights is None else
                                {i: weights[i] for i in frame["item"].unique() if i in weights})
    for reviewer, row in result.items():
        for name in ("accuracy", "kappa"):
            if row[name] is None:
                undefined[f"reviewers_vs_others.{reviewer}.{name}"] = row["reason"] or "undefined"
    return result
