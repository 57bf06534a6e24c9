"""Inter-rater agreement statistics for nominal labels.

Input is a long table of ratings: a pandas DataFrame with string columns
``item``, ``reviewer`` and ``category``, one row per independent rating. A
reviewer rates an item at most once; a missing rating is simply an absent row.
Optional ``categories`` gives the codebook order (categories seen in the data
but not listed are appended, sorted); its length is the codebook's number of
categories ``q`` used by AC1 and PABAK.

Internally the ratings become a count matrix ``n_uc`` of shape
(n_items, n_categories): how many reviewers put item u in category c, with
``m_u = sum_c n_uc`` ratings on item u. Every multi-rater measure below depends
on the items only through these rows. Items with one rating give no pair: they
are left out of observed agreement and alpha, but count in the category shares
of Fleiss' kappa, AC1 and Conger's kappa (Gwet 2014, as irrCAC does).

Measures and references
-----------------------
- Krippendorff's alpha, nominal (Krippendorff 2011, "Computing Krippendorff's
  Alpha-Reliability"). Point estimate from the ``krippendorff`` package with
  ``level_of_measurement="nominal"``.
- Fleiss' kappa generalised to missing ratings (Gwet 2014, *Handbook of
  Inter-Rater Reliability*, 4th ed., ch. 2; irrCAC's ``fleiss``), with the
  complete-case (listwise) Fleiss (1971) kappa as a sensitivity figure, and
  Fleiss' (1971) per-category kappas.
- Gwet's AC1 (Gwet 2008; 2014 ch. 4) and PABAK / Brennan & Prediger (1981)
  ``(q p_o - 1) / (q - 1)`` (Byrt, Bishop & Carlin 1993), with q the
  codebook's number of categories and, beside it, the categories in use.
- Conger's (1980) kappa, with Gwet's analytic standard error.
- Cohen's kappa (Cohen 1960) for reviewer pairs and for each reviewer against the leave-one-out
  reference (the category the *other* reviewers of an item agree on, so a reviewer is never compared
  with a reference containing their own label), via ``sklearn.metrics.cohen_kappa_score``.
- Proportion of specific agreement per category (Uebersax 1982) and
  one-vs-rest alpha (nominal alpha on "c" vs "not c").

Intervals (see :mod:`annotator.stats.chance_corrected`): a bootstrap over
items for every coefficient, computed from counts of distinct rating rows in one
matrix product (percentile by default, BCa as an option), Gwet's analytic
standard errors beside it, Wilson intervals for agreement rates. They generalise
over items, not over reviewers; below 10 items with two or more ratings, or
when they would have zero width, they are withheld with the reason.

Undefined values (empty input, one reviewer, no item with two ratings, one
category in use...) are ``None`` with a reason, never NaN, 0 or an exception.
Malformed input (missing columns, empty cells, a reviewer rating an item twice)
raises ``ValueError``.
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import krippendorff
import numpy as np
import pandas as pd
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import cohen_kappa_score

from annotator.stats import chance_corrected as cc
from annotator.stats.intervals import MAX_UNDEFINED_RESAMPLE_SHARE, MIN_SUPPORT, t_interval

__all__ = [
    "agreement_report",
    "alpha_with_bootstrap",
    "category_coincidence",
    "conger_kappa",
    "fleiss_kappa",
    "fleiss_kappa_by_category",
    "gwet_ac1",
    "kappa_one_vs_rest",
    "krippendorff_alpha_nominal",
    "pabak",
    "pairwise_cohen_kappa",
    "percent_agreement",
    "percent_agreement_reviewer_pairs",
    "reviewer_overlap",
    "reviewer_vs_others",
    "specific_agreement",
]

logger = logging.getLogger(__name__)

RATING_COLUMNS = ("item", "reviewer", "category")
INTERVAL_METHODS = ("percentile", "bca")

Value = tuple[float | None, str | None]  # (value, reason it is None)
Interval = tuple[float | None, float | None]

_NO_PAIRABLE = "no item has ratings from two or more reviewers"
_ONE_CATEGORY = "only one category is used on items with two or more ratings, so chance agreement is 1"


# --------------------------------------------------------------------------- #
# Input
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class _Table:
    """Validated ratings: the long frame plus the item x category count matrix."""

    frame: pd.DataFrame  # item, reviewer, category (str) and code (int index into categories)
    items: list[str]
    reviewers: list[str]
    categories: list[str]
    counts: np.ndarray  # (n_items, n_categories) int64, n_uc

    @cached_property
    def m(self) -> np.ndarray:
        """Ratings per item, m_u."""
        return self.counts.sum(axis=1)

    @cached_property
    def pairable(self) -> np.ndarray:
        """Count rows of the items with at least two ratings."""
        return self.counts[self.m >= 2]


def _prepare(ratings: pd.DataFrame, categories: Sequence[str] | None = None) -> _Table:
    """Validate the long ratings table and build the count matrix."""
    if len(ratings) == 0:
        frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in RATING_COLUMNS})
    else:
        missing = [c for c in RATING_COLUMNS if c not in ratings.columns]
        if missing:
            raise ValueError(f"ratings is missing column(s): {', '.join(missing)}")
        frame = ratings.loc[:, list(RATING_COLUMNS)]
        for column in RATING_COLUMNS:
            if frame[column].isna().any():
                raise ValueError(f"ratings has empty values in column '{column}'")
        frame = frame.astype(str).reset_index(drop=True)
        duplicated = frame.duplicated(["item", "reviewer"])
        if duplicated.any():
            row = frame[duplicated].iloc[0]
            raise ValueError(f"reviewer '{row['reviewer']}' rated item '{row['item']}' more than once")
    listed = list(dict.fromkeys(str(c) for c in (categories or ())))
    extra = sorted(set(frame["category"].unique().tolist()) - set(listed))
    cats = listed + extra
    item_idx, items = pd.factorize(frame["item"], sort=True)
    cat_idx = pd.Categorical(frame["category"], categories=cats).codes.astype(np.int64)
    n_items, n_cats = len(items), len(cats)
    counts = np.bincount(item_idx * n_cats + cat_idx, minlength=n_items * n_cats).reshape(n_items, n_cats)
    return _Table(
        frame=frame.assign(code=cat_idx),
        items=list(map(str, items.tolist())),
        reviewers=sorted(frame["reviewer"].unique().tolist()),
        categories=cats,
        counts=counts.astype(np.int64),
    )


def _shape_reason(table: _Table) -> str | None:
    """Why no multi-rater agreement measure can be computed, or None."""
    if len(table.frame) == 0:
        return "no ratings"
    if len(table.reviewers) < 2:
        return "only one reviewer"
    if len(table.pairable) == 0:
        return _NO_PAIRABLE
    return None


def _categories_in_use(counts: np.ndarray) -> int:
    return int((counts.sum(axis=0) > 0).sum())


# --------------------------------------------------------------------------- #
# Alpha from per-item statistics (kept for the benchmark and tests)
# --------------------------------------------------------------------------- #
def _fast_alpha(counts: np.ndarray) -> float:
    """Own nominal alpha from an item x category count matrix (NaN if undefined)."""
    counts = np.asarray(counts)
    pairable = counts[counts.sum(axis=1) >= 2]
    if len(pairable) == 0:
        return float("nan")
    stats, layout = cc.thread_statistics(pairable, int(pairable.sum(axis=1).max()))
    return float(cc.coefficient_values(stats.sum(axis=0), layout, q=2, q_observed=2)["krippendorff_alpha"])


def _bootstrap_weights(counts: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct count rows (P x C) and resample weights (n_boot x P); see chance_corrected."""
    profiles, _, weights = cc.bootstrap_weights(counts, n_boot, seed)
    return profiles, weights


def _check_boot(n_boot: int, seed: int) -> None:
    if not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, bool) or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


# --------------------------------------------------------------------------- #
# One-step helpers on a prepared table: each returns (value, reason)
# --------------------------------------------------------------------------- #
def _alpha(table: _Table) -> Value:
    reason = _shape_reason(table)
    if reason:
        return None, reason
    if _categories_in_use(table.pairable) < 2:
        return None, _ONE_CATEGORY
    value = krippendorff.alpha(
        value_counts=table.pairable,
        value_domain=list(range(len(table.categories))),
        level_of_measurement="nominal",
    )
    return float(value), None


def _rated(table: _Table) -> np.ndarray:
    return table.counts[table.m >= 1]


def _analysis(table: _Table, n_boot: int = 0, seed: int = 0, interval: str = "percentile") -> dict[str, Any]:
    return cc.analyse(_rated(table), q=len(table.categories), n_boot=n_boot, seed=seed, interval=interval)


def _coefficient(table: _Table, name: str, analysis: dict[str, Any] | None = None) -> Value:
    """Point estimate of a chance-corrected coefficient with the reason it is undefined."""
    reason = _shape_reason(table)
    if reason:
        return None, reason
    analysis = analysis or _analysis(table)
    value = analysis["values"][name]
    if value is not None:
        return value, None
    if name == "fleiss_kappa_complete_case" and analysis["n_full"] == 0:
        return None, "no item has the full number of ratings"
    if name.endswith("observed_q") and analysis["q_observed"] < 2:
        return None, "only one category is used, so chance agreement cannot be separated"
    if name in ("gwet_ac1", "pabak") and analysis["q"] < 2:
        return None, "the codebook has one category, so chance agreement cannot be separated"
    if name == "fleiss_kappa_complete_case":
        return None, f"only one category is used on the {analysis['n_full']} items with every rating"
    return None, _ONE_CATEGORY if name == "krippendorff_alpha" else (
        "only one category is used, so chance agreement is 1")


def _percent_agreement(table: _Table) -> Value:
    reason = _shape_reason(table)
    if reason:
        return None, reason
    n_uc = table.pairable.astype(float)
    m = n_uc.sum(axis=1)
    per_item = (n_uc * (n_uc - 1)).sum(axis=1) / (m * (m - 1))
    return float(per_item.mean()), None


def _per_category_points(table: _Table, analysis: dict[str, Any] | None = None) -> dict[str, dict[str, Value]]:
    """Per-category measures (fleiss_kappa, specific_agreement, kappa_one_vs_rest) as (value, reason)."""
    measures = ("fleiss_kappa", "specific_agreement", "kappa_one_vs_rest")
    reason = _shape_reason(table)
    if reason:
        return {m: {c: (None, reason) for c in table.categories} for m in measures}
    analysis = analysis or _analysis(table)
    on_pairs = table.pairable.sum(axis=0)
    out: dict[str, dict[str, Value]] = {m: {} for m in measures}
    for j, category in enumerate(table.categories):
        for measure in measures:
            value = analysis["categories"].values[measure][j]
            if value is not None:
                out[measure][category] = (value, None)
            elif on_pairs[j] == 0:
                out[measure][category] = (None, "category not used on items with two or more ratings")
            else:
                out[measure][category] = (None, "every rating on items with two or more ratings is this category")
    return out


def _kappa(y1: np.ndarray, y2: np.ndarray, weights: np.ndarray | None = None) -> Value:
    """Cohen's kappa of two aligned label arrays (optionally item-weighted), None with reason when undefined."""
    if len(y1) == 0:
        return None, "no items in common"
    if len(np.union1d(y1, y2)) < 2:
        return None, "only one category is used by both, so chance agreement is 1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        value = float(cohen_kappa_score(y1, y2, sample_weight=weights))
    if not np.isfinite(value):
        return None, "Cohen's kappa is undefined for these labels"
    return value, None


def _pairwise(table: _Table, n_boot: int = 0, seed: int = 0) -> list[dict[str, Any]]:
    """Cohen's kappa per reviewer pair; with ``n_boot`` > 0 also its bootstrap interval."""
    if len(table.frame) == 0:
        return []
    wide = table.frame.pivot(index="item", columns="reviewer", values="code")
    pairs = list(itertools.combinations(table.reviewers, 2))
    seeds = cc.seeds_for(seed, len(pairs))
    rows = []
    for (a, b), pair_seed in zip(pairs, seeds):
        both = wide[[a, b]].dropna()
        y1, y2 = both[a].to_numpy(dtype=np.int64), both[b].to_numpy(dtype=np.int64)
        kappa, reason = _kappa(y1, y2)
        row = {
            "reviewer_a": a,
            "reviewer_b": b,
            "n": len(both),
            "kappa": kappa,
            "percent_agreement": float((y1 == y2).mean()) if len(both) else None,
            "reason": reason,
        }
        extra = cc.pair_analysis(y1, y2, len(table.categories), n_boot=n_boot, seed=pair_seed)
        if kappa is None:
            extra["kappa_ci95"], extra["kappa_ci_reason"] = [None, None], "kappa is undefined"
        if row["percent_agreement"] is None:
            extra["percent_agreement_ci95"] = [None, None]
            extra["percent_agreement_ci_reason"] = "no items in common"
        row.update({k: v for k, v in extra.items() if k != "n"})
        rows.append(row)
    return rows


def _vs_others(table: _Table, weights: Mapping[str, float] | None = None) -> dict[str, dict[str, Any]]:
    """Each reviewer against the leave-one-out reference: on every item they rated, the category all
    *other* reviewers of the item agree on (items where the others disagree, or nobody else rated, are
    left out: there the final label would rest on this reviewer's own vote)."""
    frame = table.frame
    if len(frame) == 0:
        return {}
    item_idx = pd.Index(table.items).get_indexer(frame["item"])
    codes = frame["code"].to_numpy(dtype=np.int64)
    others = table.counts[item_idx].copy()
    others[np.arange(len(codes)), codes] -= 1
    n_others = others.sum(axis=1)
    has_ref = (n_others >= 1) & (others.max(axis=1) == n_others)
    reference = others.argmax(axis=1)
    w_all = None if weights is None else frame["item"].map(lambda i: float(weights.get(i, 0.0))).to_numpy(float)
    result: dict[str, dict[str, Any]] = {}
    for reviewer in table.reviewers:
        mine = (frame["reviewer"] == reviewer).to_numpy()
        use = mine & has_ref
        y, ref = codes[use], reference[use]
        w = None if w_all is None else w_all[use]
        n = int(use.sum())
        row: dict[str, Any] = {"n": n, "n_rated": int(mine.sum()), "accuracy": None, "kappa": None, "reason": None}
        if n < 2:
            row["reason"] = (f"fewer than 2 of their threads have a reference ({n}): the other reviewers "
                             "disagree, or nobody else labelled them")
        elif w is not None and not w.sum() > 0:
            row["reason"] = "their threads with a reference all have design weight 0"
        else:
            row["accuracy"] = float(np.average(y == ref, weights=w))
            row["kappa"], row["reason"] = _kappa(y, ref, w)
        result[reviewer] = row
    return result


def _coincidence(table: _Table) -> dict[str, Any]:
    """Pooled ordered reviewer pairs on the same item: sum_u (n_u n_u^T - diag(n_u))."""
    counts = table.counts
    matrix = counts.T @ counts - np.diag(counts.sum(axis=0))
    return {"labels": list(table.categories), "matrix": matrix.astype(int).tolist()}


# --------------------------------------------------------------------------- #
# Public functions
# --------------------------------------------------------------------------- #
def krippendorff_alpha_nominal(ratings: pd.DataFrame, categories: Sequence[str] | None = None) -> float | None:
    """Krippendorff's alpha for nominal data (Krippendorff 2011), or None if undefined.

    Computed by ``krippendorff.alpha(value_counts=..., level_of_measurement="nominal")``
    on the items with at least two ratings.
    """
    return _alpha(_prepare(ratings, categories))[0]


def alpha_with_bootstrap(
    ratings: pd.DataFrame, *, n_boot: int, seed: int, categories: Sequence[str] | None = None
) -> tuple[float | None, Interval]:
    """Nominal Krippendorff's alpha and its 95% percentile bootstrap CI over items.

    The CI resamples the rated items with replacement ``n_boot`` times using
    ``numpy.random.default_rng(seed)`` (see :mod:`annotator.stats.chance_corrected`).
    Returns ``(None, (None, None))`` when alpha is undefined, and ``(alpha, (None, None))``
    when the interval is withheld (fewer than 10 pairable items, zero width).
    """
    _check_boot(n_boot, seed)
    table = _prepare(ratings, categories)
    value, _ = _alpha(table)
    if value is None:
        return None, (None, None)
    return value, _analysis(table, n_boot, seed)["bootstrap"]["krippendorff_alpha"][0]


def percent_agreement(ratings: pd.DataFrame) -> float | None:
    """Observed agreement averaged over items (Fleiss 1971, P-bar with varying raters).

    For each item with m_u >= 2 ratings, the share of agreeing reviewer pairs
    ``sum_c n_uc (n_uc - 1) / (m_u (m_u - 1))``; then the mean over those items.
    """
    return _percent_agreement(_prepare(ratings))[0]


def percent_agreement_reviewer_pairs(ratings: pd.DataFrame) -> float | None:
    """Observed agreement averaged over reviewer pairs.

    For each pair of reviewers with at least one item in common, the share of
    their common items they label alike; then the unweighted mean over pairs.
    """
    shares = [row["percent_agreement"] for row in _pairwise(_prepare(ratings)) if row["n"] > 0]
    return float(np.mean(shares)) if shares else None


def fleiss_kappa(
    ratings: pd.DataFrame, categories: Sequence[str] | None = None
) -> tuple[float | None, int, str | None]:
    """Fleiss' kappa generalised to missing ratings (Gwet 2014; irrCAC ``fleiss``).

    Returns ``(kappa, n_items, reason)``: observed agreement over the items with two or
    more ratings, chance agreement ``sum_c pi_c^2`` with ``pi_c`` the category shares
    averaged over all ``n_items`` rated items. With the same number of ratings on every
    item this is Fleiss' (1971) kappa. ``reason`` is None when kappa is defined.
    """
    table = _prepare(ratings, categories)
    value, reason = _coefficient(table, "fleiss_kappa")
    return value, int((table.m >= 1).sum()), reason


def fleiss_kappa_by_category(ratings: pd.DataFrame, categories: Sequence[str] | None = None) -> dict[str, float | None]:
    """Fleiss' (1971) kappa for each category (that category vs all others), None if undefined."""
    points = _per_category_points(_prepare(ratings, categories))["fleiss_kappa"]
    return {c: v for c, (v, _) in points.items()}


def gwet_ac1(ratings: pd.DataFrame, categories: Sequence[str] | None = None) -> float | None:
    """Gwet's AC1 for several raters with missing ratings (Gwet 2008; 2014 ch. 4).

    ``p_a``: the item-averaged percent agreement over items with >= 2 ratings.
    ``pi_c``: the mean over items with >= 1 rating of n_uc / m_u.
    ``p_e = sum_c pi_c (1 - pi_c) / (q - 1)`` with q the number of categories: the
    ``categories`` given (the codebook's, plus any other seen), else those seen.
    ``AC1 = (p_a - p_e) / (1 - p_e)``.
    """
    return _coefficient(_prepare(ratings, categories), "gwet_ac1")[0]


def pabak(ratings: pd.DataFrame, categories: Sequence[str] | None = None) -> float | None:
    """Prevalence- and bias-adjusted kappa, ``(q p_o - 1) / (q - 1)`` (Byrt et al. 1993).

    ``p_o`` is the item-averaged percent agreement and q the number of categories (as
    for :func:`gwet_ac1`); for q categories this is Brennan & Prediger's (1981) coefficient.
    """
    return _coefficient(_prepare(ratings, categories), "pabak")[0]


def conger_kappa(ratings: pd.DataFrame, categories: Sequence[str] | None = None) -> tuple[float | None, float | None]:
    """Conger's (1980) kappa and Gwet's analytic standard error, ``(kappa, se)``."""
    table = _prepare(ratings, categories)
    kappa, se, _, _ = _conger(table)
    return kappa, se


def _conger(table: _Table) -> tuple[float | None, float | None, int, str | None]:
    reason = _shape_reason(table)
    if reason:
        return None, None, 0, reason
    item = pd.Categorical(table.frame["item"], categories=table.items).codes
    rater = pd.Categorical(table.frame["reviewer"], categories=table.reviewers).codes
    return cc.conger_kappa(item, rater, table.frame["code"].to_numpy(), len(table.categories))


def specific_agreement(
    ratings: pd.DataFrame, categories: Sequence[str] | None = None
) -> dict[str, float | None]:
    """Proportion of specific (positive) agreement per category (Uebersax 1982).

    ``p_s(c) = sum_u n_uc (n_uc - 1) / sum_u n_uc (m_u - 1)`` over items with
    >= 2 ratings: of all reviewer-pair ends on c, the share whose partner also
    chose c. None for a category never used on such items.
    """
    points = _per_category_points(_prepare(ratings, categories))["specific_agreement"]
    return {c: v for c, (v, _) in points.items()}


def kappa_one_vs_rest(
    ratings: pd.DataFrame, categories: Sequence[str] | None = None
) -> dict[str, float | None]:
    """Chance-corrected agreement per category: nominal Krippendorff's alpha on c vs not-c.

    Equal to ``krippendorff.alpha`` on the binarised ratings; close to Fleiss'
    category kappa for many items. None when the category is never used, or
    always used, on items with >= 2 ratings.
    """
    points = _per_category_points(_prepare(ratings, categories))["kappa_one_vs_rest"]
    return {c: v for c, (v, _) in points.items()}


def pairwise_cohen_kappa(ratings: pd.DataFrame, *, n_boot: int = 0, seed: int = 0) -> list[dict[str, Any]]:
    """Cohen's kappa (Cohen 1960) for every pair of reviewers, on the items both rated.

    Uses ``sklearn.metrics.cohen_kappa_score``. Each row: ``reviewer_a``,
    ``reviewer_b`` (sorted), ``n`` (items in common), ``kappa``,
    ``percent_agreement`` and ``reason`` (why kappa is None, else None); then
    ``kappa_ci95`` (percentile bootstrap over the pair's common items, ``n_boot``
    resamples) and ``percent_agreement_ci95`` (Wilson), each with its ``*_ci_reason``.
    """
    _check_boot(n_boot, seed)
    return _pairwise(_prepare(ratings), n_boot, seed)


def reviewer_vs_others(
    ratings: pd.DataFrame, *, weights: Mapping[str, float] | None = None
) -> dict[str, dict[str, Any]]:
    """Each reviewer against a reference that does not contain them (leave-one-out).

    On every item the reviewer rated, the reference is the category that all the item's *other*
    reviewers chose; items where the others disagree among themselves, or where nobody else rated, are
    left out (their final label would rest on this reviewer's vote). Per reviewer: ``n`` (items with a
    reference), ``n_rated``, ``accuracy`` (share of those items where the reviewer chose the reference),
    Cohen's ``kappa`` (reviewer vs reference, ``sklearn.metrics.cohen_kappa_score``) and ``reason``
    (why a value is None; both are None below 2 items). ``weights`` (item -> design weight) weights
    both measures.
    """
    return _vs_others(_prepare(ratings), None if weights is None else {str(k): v for k, v in weights.items()})


def reviewer_overlap(ratings: pd.DataFrame) -> dict[str, int]:
    """Reviewer -> the most items they share with any one other reviewer (0 when alone)."""
    table = _prepare(ratings)
    best = dict.fromkeys(table.reviewers, 0)
    for row in _pairwise(table):
        best[row["reviewer_a"]] = max(best[row["reviewer_a"]], row["n"])
        best[row["reviewer_b"]] = max(best[row["reviewer_b"]], row["n"])
    return best


def category_coincidence(ratings: pd.DataFrame, categories: Sequence[str] | None = None) -> dict[str, Any]:
    """Reviewer-by-reviewer category matrix pooled over items.

    ``matrix[i][j]`` counts ordered pairs of different reviewers on the same
    item where the first chose ``labels[i]`` and the second ``labels[j]``
    (symmetric; the diagonal is twice the agreeing pairs). Dividing each item's
    contribution by ``m_u - 1`` would give Krippendorff's coincidence matrix.
    """
    return _coincidence(_prepare(ratings, categories))


_LABELS = {
    "percent_agreement": "Percent agreement (mean over threads)",
    "krippendorff_alpha": "Krippendorff's alpha (nominal)",
    "fleiss_kappa": "Fleiss' kappa (generalised to missing ratings)",
    "fleiss_kappa_complete_case": "Fleiss' kappa, complete threads only (sensitivity)",
    "gwet_ac1": "Gwet's AC1 (q = codebook categories)",
    "gwet_ac1_observed_q": "Gwet's AC1 (q = categories used)",
    "pabak": "PABAK / Brennan-Prediger (q = codebook categories)",
    "pabak_observed_q": "PABAK / Brennan-Prediger (q = categories used)",
    "conger_kappa": "Conger's kappa",
}
_BOOT_NAMES = {"percentile": "percentile bootstrap over threads", "bca": "BCa bootstrap over threads"}


def _coefficient_entries(
    table: _Table, analysis: dict[str, Any] | None, values: dict[str, Value], interval: str
) -> dict[str, dict[str, Any]]:
    """One entry per coefficient: estimate, n, primary interval and method, bootstrap and analytic."""
    shape = _shape_reason(table)
    n_rated, n_pairs = int((table.m >= 1).sum()), len(table.pairable)
    n_full = analysis["n_full"] if analysis else 0
    entries: dict[str, dict[str, Any]] = {}
    for name in (*cc.COEFFICIENTS, "conger_kappa"):
        value, reason = values[name]
        if name in ("percent_agreement", "krippendorff_alpha"):
            n_threads = n_pairs
        elif name == "fleiss_kappa_complete_case":
            n_threads = n_full
        else:
            n_threads = n_rated
        entry: dict[str, Any] = {
            "label": _LABELS[name],
            "estimate": value,
            "reason": reason,
            "n_threads": n_threads,
            "n_threads_with_two_or_more_ratings": n_pairs,
        }
        if name in ("gwet_ac1", "pabak"):
            entry["q"] = len(table.categories)
        elif name in ("gwet_ac1_observed_q", "pabak_observed_q"):
            entry["q"] = _categories_in_use(table.counts)
        if analysis is None or value is None:
            why = reason or shape or "undefined"
            entry.update(ci95=[None, None], ci_method=None, ci_reason=why, bootstrap_ci95=[None, None],
                         bootstrap_reason=why, analytic_se=None, analytic_ci95=[None, None], analytic_reason=why)
            entries[name] = entry
            continue
        if name == "conger_kappa":
            se = values["conger_se"][0]
            boot, boot_reason = (None, None), "not bootstrapped: the analytic interval is reported"
            if n_pairs < MIN_SUPPORT:
                ci, ci_reason = (None, None), (f"only {n_pairs} thread(s) with two or more ratings; "
                                               f"intervals need at least {MIN_SUPPORT}")
            else:
                ci, ci_reason = t_interval(value, se if se is not None else float("nan"), n_rated - 1, lower=-1.0)
            entry.update(ci95=list(ci), ci_method="Gwet's analytic standard error, Student t interval",
                         ci_reason=ci_reason, bootstrap_ci95=[None, None], bootstrap_reason=boot_reason,
                         analytic_se=se, analytic_ci95=list(ci), analytic_reason=ci_reason)
            entries[name] = entry
            continue
        boot, boot_reason = analysis["bootstrap"][name]
        se, _, analytic_ci, analytic_reason = analysis["analytic"][name]
        if name == "percent_agreement":
            ci, ci_reason = cc.wilson_for_percent_agreement(value, se, n_pairs)
            method = "Wilson score interval with Korn & Graubard's effective sample size"
        else:
            ci, ci_reason, method = boot, boot_reason, _BOOT_NAMES[interval]
        entry.update(ci95=list(ci), ci_method=method, ci_reason=ci_reason, bootstrap_ci95=list(boot),
                     bootstrap_reason=boot_reason, analytic_se=se, analytic_ci95=list(analytic_ci),
                     analytic_reason=analytic_reason)
        entries[name] = entry
    return entries


def agreement_report(
    ratings: pd.DataFrame,
    *,
    categories: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    interval: str = "bca",
) -> dict[str, Any]:
    """All agreement measures for one set of ratings, as a JSON-serialisable dict.

    See the module docstring for measures and references. Every coefficient sits in
    ``report["coefficients"][name]`` with its estimate, number of threads, 95% interval
    (``ci95``, ``ci_method``), the bootstrap interval and Gwet's analytic standard error
    and interval beside it; the headline values and intervals are also flat
    (``report["fleiss_kappa"]``, ``report["fleiss_kappa_ci95"]``). Bootstrap intervals share
    one set of ``n_boot`` thread resamples drawn with ``numpy.random.default_rng(seed)``
    (``interval``: ``"bca"``, the default, whose coverage stayed within 0.93-0.975 in the simulations
    of ``bench/sim_agreement_coverage.py`` where the percentile interval fell to 0.92 at high
    agreement and 50-100 threads, or ``"percentile"``); each reviewer pair gets its own resamples
    from a seed spawned from ``seed``. Every None value has its reason in
    ``report["undefined"]`` under its dotted path (e.g.
    ``"per_category.Other.kappa_one_vs_rest"``).
    """
    _check_boot(n_boot, seed)
    if interval not in INTERVAL_METHODS:
        raise ValueError(f"interval must be one of {INTERVAL_METHODS}, got {interval!r}")
    table = _prepare(ratings, categories)
    undefined: dict[str, str] = {}

    def keep(path: str, value: float | None, reason: str | None) -> float | None:
        if value is None:
            undefined[path] = reason or "undefined"
        return value

    shape = _shape_reason(table)
    analysis = None if shape else _analysis(table, n_boot, seed, interval)
    values: dict[str, Value] = {"krippendorff_alpha": _alpha(table), "percent_agreement": _percent_agreement(table)}
    for name in cc.COEFFICIENTS:
        if name not in values:
            values[name] = _coefficient(table, name, analysis)
    conger, conger_se, _, conger_reason = _conger(table)
    values["conger_kappa"] = (conger, conger_reason)
    values["conger_se"] = (conger_se, None)
    coefficients = _coefficient_entries(table, analysis, values, interval)
    flat: dict[str, Any] = {}
    for name, entry in coefficients.items():
        flat[name] = keep(name, entry["estimate"], entry["reason"])
        flat[f"{name}_ci95"] = entry["ci95"]
        if entry["ci95"][0] is None:
            undefined[f"{name}_ci95"] = entry["ci_reason"] or "undefined"

    pairwise = _pairwise(table, n_boot, seed)
    for row in pairwise:
        pair = f"pairwise_cohen_kappa.{row['reviewer_a']}|{row['reviewer_b']}"
        if row["kappa"] is None:
            undefined[f"{pair}.kappa"] = row["reason"]
        if row["kappa_ci95"][0] is None:
            undefined[f"{pair}.kappa_ci95"] = row["kappa_ci_reason"]
    pair_shares = [row["percent_agreement"] for row in pairwise if row["n"] > 0]
    pa_pairs = keep(
        "percent_agreement_reviewer_pairs",
        float(np.mean(pair_shares)) if pair_shares else None,
        "no pair of reviewers has an item in common",
    )
    if pa_pairs is not None:
        undefined["percent_agreement_reviewer_pairs_ci95"] = (
            "a descriptive average over reviewer pairs; each pair's agreement has its own Wilson interval")

    points = _per_category_points(table, analysis)
    n_ratings_by_cat = table.counts.sum(axis=0)
    per_category: dict[str, dict[str, Any]] = {}
    for j, category in enumerate(table.categories):
        entry: dict[str, Any] = {"n_ratings": int(n_ratings_by_cat[j]),
                                 "n_ratings_on_paired_threads": int(table.pairable[:, j].sum()) if len(table.pairable) else 0}
        for name in ("fleiss_kappa", "specific_agreement", "kappa_one_vs_rest"):
            value = keep(f"per_category.{category}.{name}", *points[name][category])
            if value is None:
                ci, ci_reason = (None, None), f"{name} is undefined"
            else:
                ci, ci_reason = analysis["categories"].intervals[name][j]
            if ci[0] is None:
                undefined[f"per_category.{category}.{name}_ci95"] = ci_reason or "undefined"
            entry[name] = value
            entry[f"{name}_ci95"] = list(ci)
        per_category[category] = entry

    vs_others = _vs_others(table)
    for reviewer, row in vs_others.items():
        if row["accuracy"] is None:
            undefined[f"per_reviewer_vs_others.{reviewer}.accuracy"] = row["reason"]
        if row["kappa"] is None:
            undefined[f"per_reviewer_vs_others.{reviewer}.kappa"] = row["reason"]

    n_pairable = len(table.pairable)
    logger.debug(
        "agreement report: %d items, %d reviewers, %d ratings, n_boot=%d",
        len(table.items), len(table.reviewers), len(table.frame), n_boot,
    )
    return {
        "n_items": len(table.items),
        "n_items_pairable": n_pairable,
        "n_reviewers": len(table.reviewers),
        "n_ratings": len(table.frame),
        **flat,
        "percent_agreement_reviewer_pairs": pa_pairs,
        "fleiss_n_items": int((table.m >= 1).sum()),
        "fleiss_complete_case_n_items": analysis["n_full"] if analysis else 0,
        "fleiss_complete_case_ratings_per_item": analysis["m_full"] if analysis else None,
        "q_codebook": len(table.categories),
        "q_observed": _categories_in_use(table.counts),
        "coefficients": coefficients,
        "pairwise_cohen_kappa": pairwise,
        "per_category": per_category,
        "per_reviewer_vs_others": vs_others,
        "confusion_matrix": _coincidence(table),
        "conventions": _conventions(table, analysis, n_boot, seed, interval),
        "undefined": undefined,
        "n_boot": int(n_boot),
        "seed": int(seed),
        "interval_method": interval,
        "categories": list(table.categories),
    }


def _conventions(table: _Table, analysis: dict[str, Any] | None, n_boot: int, seed: int, interval: str) -> dict[str, str]:
    q, q_used = len(table.categories), _categories_in_use(table.counts)
    n_full, m_full = (analysis["n_full"], analysis["m_full"]) if analysis else (0, 0)
    return {
        "items": "Threads with one rating give no reviewer pair: they are left out of percent agreement and "
        "alpha, but count in the category shares of Fleiss' kappa, AC1 and Conger's kappa (Gwet 2014).",
        "percent_agreement": "percent_agreement: for each thread, the share of reviewer pairs that chose "
        "the same category, averaged over threads with two or more ratings; its interval is a Wilson score "
        "interval with Korn & Graubard's (1998) effective sample size, honest at 0% and 100%. "
        "percent_agreement_reviewer_pairs: for each pair of reviewers, the share of their common threads "
        "labelled alike, averaged over pairs (descriptive; each pair has its own Wilson interval).",
        "krippendorff_alpha": "Nominal Krippendorff's alpha (Krippendorff 2011) on all threads with two or "
        "more ratings.",
        "fleiss_kappa": "Fleiss' kappa generalised to missing ratings (Gwet 2014; irrCAC fleiss): observed "
        "agreement as percent_agreement, chance agreement sum pi_c^2 with pi_c the category shares averaged "
        "over all rated threads. With every thread rated by the same number of reviewers it is Fleiss' "
        "(1971) kappa.",
        "fleiss_kappa_complete_case": f"Sensitivity figure: Fleiss' (1971) kappa on the {n_full} threads with "
        f"the full number of ratings ({m_full}) only (listwise deletion of threads missing a rating).",
        "gwet_ac1": f"Gwet's AC1 (2008, 2014): chance agreement sum pi_c (1 - pi_c) / (q - 1). Reported with q "
        f"= the codebook's {q} categories (the categories a reviewer could choose; Gwet's definition), and "
        f"beside it with q = the {q_used} categories actually used.",
        "pabak": f"PABAK = (q * p_o - 1) / (q - 1) (Byrt et al. 1993; Brennan & Prediger 1981 for more than two "
        f"categories), with p_o = percent_agreement and q = the codebook's {q} categories; beside it with q = "
        f"the {q_used} categories used.",
        "conger_kappa": "Conger's (1980) kappa: chance agreement from each reviewer's own category shares "
        "(the mean of the pairwise Cohen chance agreements); interval from Gwet's analytic standard error "
        "(Student t, n - 1 degrees of freedom), not bootstrapped.",
        "pairwise_cohen_kappa": "Cohen's kappa per reviewer pair on the threads both rated, with a percentile "
        "bootstrap interval over those threads (own resamples per pair, seeds spawned from the report's "
        "seed); the pair's agreement has a Wilson interval.",
        "specific_agreement": "Specific agreement for a category: of all reviewer-pair ends on that "
        "category, the share whose partner chose it too (2a / (2a + b + c) for two reviewers; Uebersax 1982).",
        "kappa_one_vs_rest": "One-vs-rest agreement: Krippendorff's nominal alpha on the ratings recoded "
        "as 'this category' vs 'any other'.",
        "fleiss_kappa_by_category": "Fleiss' (1971) category kappa: generalised Fleiss' kappa on 'this "
        "category' vs 'any other'.",
        "confusion_matrix": "Counts of ordered pairs of different reviewers on the same thread (row: first "
        "reviewer's category, column: second's); symmetric, diagonal = twice the agreeing pairs.",
        "bootstrap": f"{n_boot} resamples of the rated threads with replacement, seed {seed}; "
        f"{'BCa (jackknife acceleration)' if interval == 'bca' else 'percentile'} 95% intervals; resamples "
        f"where a measure is undefined are dropped, and the interval is withheld if more than "
        f"{MAX_UNDEFINED_RESAMPLE_SHARE:.0%} are.",
        "analytic": "Gwet's (2014) analytic standard errors (linearisation over threads, as in irrCAC) with "
        "a Student t interval on n - 1 degrees of freedom, shown beside the bootstrap.",
        "what_intervals_cover": "Every interval treats the threads as a random sample from a larger pool of "
        "threads rated by these same reviewers: it generalises over other threads, not over other reviewers.",
        "withheld": f"An interval is withheld, with the reason, when fewer than {MIN_SUPPORT} threads have two "
        f"or more ratings (or a pair has fewer than {MIN_SUPPORT} threads in common), when a category has "
        f"fewer than {cc.MIN_CATEGORY_RATINGS} ratings on such threads (per-category intervals), or when it "
        "would have zero width.",
        "per_reviewer_vs_others": "Each reviewer against a reference that does not contain them "
        "(leave-one-out): on each thread they labelled, the category all the other reviewers of the "
        "thread chose; threads where the others disagree, or nobody else labelled, are left out. "
        "Accuracy and Cohen's kappa, with n.",
    }
