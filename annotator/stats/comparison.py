"""Model-versus-human comparison statistics.

Pure functions that compare a classifier's labels (GPT-4o, or the local
scikit-learn model) with the adjudicated consensus, with individual reviewers,
and with another run; plus an automation-bias measure for the "reveal the
model's label" step.

Measures and references
-----------------------
- Accuracy, precision, recall, F1 (per category, macro, support-weighted):
  scikit-learn's ``accuracy_score`` / ``precision_recall_fscore_support`` /
  ``f1_score``; F1 = 2TP / (2TP + FP + FN) (van Rijsbergen, 1979).
- Cohen's kappa, nominal (Cohen, 1960), via ``sklearn.metrics.cohen_kappa_score``.
- Percentile bootstrap confidence intervals (Efron & Tibshirani, 1993, ch. 13).
  Every measure here depends on the items only through the confusion matrix,
  so resampling ``n`` items with replacement is exactly equivalent to drawing
  the confusion matrix from Multinomial(n, observed cell shares); that is how
  the resamples are drawn (fast for n in the tens of thousands).
- Human ceiling per category: proportion of specific agreement for multiple
  raters, p_s(c) = sum_i n_ic (n_ic - 1) / sum_i n_ic (n_i - 1) over items rated
  at least twice (Uebersax, 1982; Cicchetti & Feinstein, 1990). For two raters
  it equals 2a / (2a + b + c), which is the F1 of one rater scored against the
  other, so it is directly comparable with the model's per-category F1.

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
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

__all__ = ["compare_to_consensus", "compare_runs", "reveal_effect"]

_CI_LEVEL = 95.0
_RATING_COLUMNS = ("item", "reviewer", "category")


# --------------------------------------------------------------------------- #
# Public functions
# --------------------------------------------------------------------------- #
def compare_to_consensus(
    predictions: Mapping[str, str | None],
    consensus: Mapping[str, str],
    *,
    categories: Sequence[str],
    reviewer_ratings: pd.DataFrame | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Score model predictions against consensus labels, with bootstrap CIs.

    Args:
        predictions: item id -> predicted category, or ``None`` for a failed
            prediction. A predicted label outside ``categories`` is also
            treated as failed (counted in ``n_failed`` and ``n_out_of_codebook``).
        consensus: item id -> adjudicated category; every label must be one of
            ``categories`` (``ValueError`` otherwise).
        categories: the codebook's categories, in display order.
        reviewer_ratings: optional long table with string columns ``item``,
            ``reviewer``, ``category`` (one row per blind rating; one rating per
            item and reviewer). Enables the human ceiling, model-vs-reviewer
            kappas and reviewer-pair kappas.
        n_boot: bootstrap resamples for the 95% percentile CIs (0 disables them).
        seed: seed of the bootstrap generator (``numpy.random.default_rng``).

    Returns:
        A JSON-serialisable dict: ``n`` (items scored), ``n_consensus``,
        ``n_failed``, ``n_out_of_codebook``, ``n_missing`` (consensus items with
        no prediction at all), ``accuracy``, ``macro_f1`` (mean F1 over the
        categories present in the consensus or the predictions),
        ``weighted_f1``, ``cohen_kappa``, the ``*_ci95`` pairs ``[low, high]``,
        ``per_category`` (precision, recall, f1, f1_ci95, support, predicted,
        human_ceiling), ``confusion_matrix`` (``labels``, ``matrix`` with rows =
        consensus and columns = model), ``model_vs_reviewer``,
        ``reviewer_pairs``, ``model_mean_kappa``, ``human_kappa_range``,
        ``model_within_human_range`` (bool), ``model_vs_human_position``
        (``"below"``/``"within"``/``"above"``), ``n_boot``, ``seed`` and
        ``undefined`` (dotted measure path -> reason).
    """
    cats = _validate_categories(categories)
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    unknown = sorted({str(v) for v in consensus.values()} - set(cats))
    if unknown:
        raise ValueError(f"consensus labels not in categories: {unknown}")

    undefined: dict[str, str] = {}
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
            y_true.append(truth)
            y_pred.append(pred)
    n = len(y_true)

    result: dict[str, Any] = {
        "n": n,
        "n_consensus": len(consensus),
        "n_failed": n_failed,
        "n_out_of_codebook": n_out,
        "n_missing": n_missing,
        "n_boot": n_boot,
        "seed": seed,
    }
    result.update(_point_metrics(y_true, y_pred, cats, undefined))
    result.update(_bootstrap_cis(y_true, y_pred, cats, n_boot, seed, result, undefined))
    result["per_category"] = _per_category(y_true, y_pred, cats, result, undefined)
    result["confusion_matrix"] = {
        "labels": list(cats),
        "matrix": _confusion(y_true, y_pred, cats),
    }
    result.update(_reviewer_section(predictions, reviewer_ratings, cats, result, undefined))
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


def _kappa(y1: Sequence[Hashable], y2: Sequence[Hashable], path: str, undefined: dict[str, str]) -> float | None:
    """Unweighted Cohen's kappa, or None (reason recorded) when undefined."""
    if len(y1) == 0:
        undefined[path] = "no items rated by both"
        return None
    with _quiet():
        value = cohen_kappa_score(y1, y2)  # NaN when undefined (sklearn < 1.9 and >= 1.9 alike)
    if not np.isfinite(value):
        undefined[path] = "chance agreement is 1 (both used a single, identical category)"
        return None
    return float(value)


def _confusion(y_true: Sequence[str], y_pred: Sequence[str], cats: list[str]) -> list[list[int]]:
    if not y_true:
        return [[0] * len(cats) for _ in cats]
    with _quiet():
        return confusion_matrix(y_true, y_pred, labels=cats).astype(int).tolist()


def _point_metrics(y_true: list[str], y_pred: list[str], cats: list[str], undefined: dict[str, str]) -> dict[str, Any]:
    if not y_true:
        for name in ("accuracy", "macro_f1", "weighted_f1", "cohen_kappa"):
            undefined[name] = "no item has both a valid prediction and a consensus label"
        return dict.fromkeys(("accuracy", "macro_f1", "weighted_f1", "cohen_kappa"))
    present = [c for c in cats if c in set(y_true) | set(y_pred)]
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0.0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=cats, average="weighted", zero_division=0.0)),
        "cohen_kappa": _kappa(y_true, y_pred, "cohen_kappa", undefined),
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
) -> dict[str, dict[str, Any]]:
    f1_cis = result.pop("_f1_ci95")
    f1_ci_reason = result.pop("_f1_ci95_reason")
    if y_true:
        precision, recall, f1, support = precision_recall_fscore_support(
            y_true, y_pred, labels=cats, average=None, zero_division=np.nan
        )
    else:
        precision = recall = f1 = np.full(len(cats), np.nan)
        support = np.zeros(len(cats), dtype=int)
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
        row["human_ceiling"] = None
        table[cat] = row
    return table


def _validated_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _RATING_COLUMNS if c not in ratings.columns]
    if missing:
        raise ValueError(f"reviewer_ratings is missing columns: {missing}")
    frame = ratings.loc[:, list(_RATING_COLUMNS)].dropna().astype(str)
    if frame.duplicated(["item", "reviewer"]).any():
        raise ValueError("reviewer_ratings has more than one rating per (item, reviewer)")
    return frame


def _specific_agreement(frame: pd.DataFrame, cats: list[str]) -> dict[str, float | None]:
    """Proportion of specific agreement per category over items rated >= 2 times."""
    counts = pd.crosstab(frame["item"], frame["category"])
    per_item = counts.sum(axis=1)
    counts = counts[per_item >= 2]
    per_item = per_item[per_item >= 2]
    out: dict[str, float | None] = {}
    for cat in cats:
        if cat not in counts.columns:
            out[cat] = None
            continue
        n_ic = counts[cat].to_numpy(dtype=float)
        den = float((n_ic * (per_item.to_numpy(dtype=float) - 1)).sum())
        out[cat] = float((n_ic * (n_ic - 1)).sum() / den) if den > 0 else None
    return out


def _reviewer_section(
    predictions: Mapping[str, str | None],
    ratings: pd.DataFrame | None,
    cats: list[str],
    result: dict[str, Any],
    undefined: dict[str, str],
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model_vs_reviewer": [],
        "reviewer_pairs": [],
        "model_mean_kappa": None,
        "human_kappa_range": None,
        "model_within_human_range": None,
        "model_vs_human_position": None,
    }
    if ratings is None:
        reason = "no reviewer ratings given"
        for cat in cats:
            undefined[f"per_category.{cat}.human_ceiling"] = reason
        for name in ("model_mean_kappa", "human_kappa_range", "model_within_human_range", "model_vs_human_position"):
            undefined[name] = reason
        return out

    frame = _validated_ratings(ratings)
    for cat, value in _specific_agreement(frame, cats).items():
        result["per_category"][cat]["human_ceiling"] = value
        if value is None:
            undefined[f"per_category.{cat}.human_ceiling"] = (
                "no reviewer used this category on an item rated at least twice"
            )

    wide = frame.pivot(index="item", columns="reviewer", values="category")
    model = pd.Series(
        {item: label for item, label in predictions.items() if label in cats}, dtype=object
    ).reindex(wide.index)
    for reviewer in sorted(wide.columns):
        both = wide[reviewer].notna() & model.notna()
        path = f"model_vs_reviewer.{reviewer}.kappa"
        kappa = _kappa(wide.loc[both, reviewer].tolist(), model[both].tolist(), path, undefined)
        out["model_vs_reviewer"].append({"reviewer": reviewer, "n": int(both.sum()), "kappa": kappa})

    rated = wide.notna().to_numpy()
    overlap = rated.T.astype(int) @ rated.astype(int)
    names = list(wide.columns)
    for (i, ra), (j, rb) in itertools.combinations(enumerate(names), 2):
        if overlap[i, j] == 0:
            continue
        ra, rb = sorted((ra, rb))
        both = wide[ra].notna() & wide[rb].notna()
        path = f"reviewer_pairs.{ra}|{rb}.kappa"
        kappa = _kappa(wide.loc[both, ra].tolist(), wide.loc[both, rb].tolist(), path, undefined)
        out["reviewer_pairs"].append({"reviewer_a": ra, "reviewer_b": rb, "n": int(both.sum()), "kappa": kappa})
    out["reviewer_pairs"].sort(key=lambda p: (p["reviewer_a"], p["reviewer_b"]))

    model_kappas = [r["kappa"] for r in out["model_vs_reviewer"] if r["kappa"] is not None]
    human_kappas = [p["kappa"] for p in out["reviewer_pairs"] if p["kappa"] is not None]
    if model_kappas:
        out["model_mean_kappa"] = float(np.mean(model_kappas))
    else:
        undefined["model_mean_kappa"] = "no defined model-vs-reviewer kappa"
    if human_kappas:
        out["human_kappa_range"] = [float(min(human_kappas)), float(max(human_kappas))]
    else:
        undefined["human_kappa_range"] = "no defined kappa between two reviewers"
    if out["model_mean_kappa"] is None or out["human_kappa_range"] is None:
        reason = undefined.get("model_mean_kappa") or undefined["human_kappa_range"]
        undefined["model_within_human_range"] = reason
        undefined["model_vs_human_position"] = reason
        return out
    low, high = out["human_kappa_range"]
    mean = out["model_mean_kappa"]
    out["model_within_human_range"] = bool(low <= mean <= high)
    out["model_vs_human_position"] = "below" if mean < low else "above" if mean > high else "within"
    return out
