"""Inter-rater agreement statistics for nominal labels.

Input is a long table of ratings: a pandas DataFrame with string columns
``item``, ``reviewer`` and ``category``, one row per independent rating. A
reviewer rates an item at most once; a missing rating is simply an absent row.
Optional ``categories`` gives the codebook order (categories seen in the data
but not listed are appended, sorted).

Internally the ratings become a count matrix ``n_uc`` of shape
(n_items, n_categories): how many reviewers put item u in category c, with
``m_u = sum_c n_uc`` ratings on item u. Every multi-rater measure below depends
on the items only through these rows. Items with fewer than two ratings are
not pairable and are left out of every agreement measure (as Krippendorff
does), except for the category prevalences of Gwet's AC1 (Gwet 2014 uses all
rated items there).

Measures and references
-----------------------
- Krippendorff's alpha, nominal (Krippendorff 2011, "Computing Krippendorff's
  Alpha-Reliability"). Point estimate from the ``krippendorff`` package with
  ``level_of_measurement="nominal"``. For nominal data
  ``alpha = 1 - (n - 1) * sum_u d_u / (n**2 - sum_c n_c**2)`` with
  ``d_u = (m_u**2 - sum_c n_uc**2) / (m_u - 1)``, ``n_c = sum_u n_uc`` and
  ``n = sum_c n_c`` over pairable items: every term is a sum over items, so a
  bootstrap resample is a weighted sum of per-item statistics.
- Percentile bootstrap over items (Efron & Tibshirani 1993, ch. 13). Resampling
  N pairable items with replacement only matters through how often each
  distinct count profile ``n_u.`` is drawn, which is Multinomial(N, profile
  shares); the weights are drawn that way with ``numpy.random.default_rng(seed)``
  and all resamples are one matrix product (n_boot x profiles) @ (profiles x stats).
- Fleiss' kappa (Fleiss 1971), on items with the modal number of ratings.
- Cohen's kappa (Cohen 1960) for reviewer pairs and for each reviewer against the leave-one-out
  reference (the category the *other* reviewers of an item agree on, so a reviewer is never compared
  with a reference containing their own label), via ``sklearn.metrics.cohen_kappa_score``.
- Gwet's AC1 for several raters with missing ratings (Gwet 2008; Gwet 2014,
  Handbook of Inter-Rater Reliability, 4th ed., ch. 4).
- PABAK, the prevalence- and bias-adjusted kappa (Byrt, Bishop & Carlin 1993),
  generalised to k categories as Brennan & Prediger (1981):
  ``(k * p_o - 1) / (k - 1)``.
- Proportion of specific agreement per category for several raters
  (Uebersax 1982): ``p_s(c) = sum_u n_uc (n_uc - 1) / sum_u n_uc (m_u - 1)``;
  for two raters ``2a / (2a + b + c)``.
- One-vs-rest agreement per category: Krippendorff's nominal alpha on the data
  binarised to "c" vs "not c".

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

__all__ = [
    "agreement_report",
    "alpha_with_bootstrap",
    "category_coincidence",
    "fleiss_kappa",
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
#: Share of bootstrap resamples allowed to be undefined before a CI is withheld.
MAX_UNDEFINED_RESAMPLE_SHARE = 0.05

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
# Per-item statistics (linear in items, so sums give any resample's totals)
# --------------------------------------------------------------------------- #
def _alpha_item_stats(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pairable item: (d_u, m_u, n_uc) for nominal alpha."""
    m = counts.sum(axis=1).astype(float)
    d = (m**2 - (counts.astype(float) ** 2).sum(axis=1)) / (m - 1)
    return d, m, counts.astype(float)


def _alpha_from_totals(d_sum: np.ndarray, n: np.ndarray, n_c: np.ndarray) -> np.ndarray:
    """Nominal alpha from totals; arrays broadcast over resamples. NaN where D_e = 0."""
    denominator = n**2 - (n_c**2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, 1 - (n - 1) * d_sum / denominator, np.nan)


def _fast_alpha(counts: np.ndarray) -> float:
    """Own nominal alpha from an item x category count matrix (NaN if undefined)."""
    pairable = counts[counts.sum(axis=1) >= 2]
    if len(pairable) == 0:
        return float("nan")
    d, m, n_uc = _alpha_item_stats(pairable)
    return float(_alpha_from_totals(d.sum(), m.sum(), n_uc.sum(axis=0)))


def _category_item_stats(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per pairable item and category: the sums behind specific agreement and one-vs-rest alpha."""
    n_uc = counts.astype(float)
    m = n_uc.sum(axis=1, keepdims=True)
    agree = n_uc * (n_uc - 1)
    return {
        "agree": agree,  # ordered agreeing pairs on c
        "ends": n_uc * (m - 1),  # ordered pairs with c at the first end
        "o_cc": agree / (m - 1),  # Krippendorff coincidence o_cc contribution
        "n_c": n_uc,
        "n": m[:, 0],
    }


def _specific_from_totals(agree: np.ndarray, ends: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ends > 0, agree / ends, np.nan)


def _one_vs_rest_from_totals(o_cc: np.ndarray, n_c: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Binary nominal alpha, c vs rest: 1 - (n-1)(n_c - o_cc) / (n_c (n - n_c))."""
    n = np.expand_dims(n, -1)
    denominator = n_c * (n - n_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, 1 - (n - 1) * (n_c - o_cc) / denominator, np.nan)


# --------------------------------------------------------------------------- #
# Bootstrap
# --------------------------------------------------------------------------- #
def _distinct_rows(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a non-negative count matrix and how often each occurs."""
    base = int(counts.max(initial=0)) + 1
    if counts.shape[1] * np.log2(base) < 62:  # rows fit one int64 key: much faster than unique(axis=0)
        keys = counts @ (base ** np.arange(counts.shape[1], dtype=np.int64))
        _, first, freq = np.unique(keys, return_index=True, return_counts=True)
        return counts[first], freq
    return np.unique(counts, axis=0, return_counts=True)


def _bootstrap_weights(pairable: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct count profiles (P x C) and resample weights (n_boot x P).

    Row b of the weights says how many times items of each profile were drawn
    when N pairable items are resampled with replacement.
    """
    profiles, freq = _distinct_rows(pairable)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(int(freq.sum()), freq / freq.sum(), size=n_boot).astype(float)
    return profiles, weights


def _percentile_ci(values: np.ndarray) -> tuple[Interval, str | None]:
    """95% percentile interval over defined resamples, or (None, None) with a reason."""
    if values.size == 0:
        return (None, None), "no bootstrap resamples requested (n_boot = 0)"
    finite = values[np.isfinite(values)]
    undefined_share = 1 - finite.size / values.size
    if undefined_share > MAX_UNDEFINED_RESAMPLE_SHARE:
        return (None, None), (
            f"undefined in {undefined_share:.0%} of bootstrap resamples "
            f"(more than {MAX_UNDEFINED_RESAMPLE_SHARE:.0%})"
        )
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return (float(lo), float(hi)), None


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


def _alpha_ci(profiles: np.ndarray, weights: np.ndarray) -> tuple[Interval, str | None]:
    d, m, n_uc = _alpha_item_stats(profiles)
    stats = np.column_stack([d, m, n_uc])
    totals = weights @ stats
    return _percentile_ci(_alpha_from_totals(totals[:, 0], totals[:, 1], totals[:, 2:]))


def _percent_agreement(table: _Table) -> Value:
    reason = _shape_reason(table)
    if reason:
        return None, reason
    n_uc = table.pairable.astype(float)
    m = n_uc.sum(axis=1)
    per_item = (n_uc * (n_uc - 1)).sum(axis=1) / (m * (m - 1))
    return float(per_item.mean()), None


def _fleiss(table: _Table) -> tuple[float | None, int, int | None, str | None]:
    """(kappa, n_items_used, raters_per_item, reason)."""
    reason = _shape_reason(table)
    if reason:
        return None, 0, None, reason
    m = table.pairable.sum(axis=1)
    sizes, freq = np.unique(m, return_counts=True)
    modal = int(sizes[freq == freq.max()].max())  # ties: the larger number of raters
    used = table.pairable[m == modal].astype(float)
    p_i = ((used**2).sum(axis=1) - modal) / (modal * (modal - 1))
    p_j = used.sum(axis=0) / used.sum()
    p_e = float((p_j**2).sum())
    if p_e >= 1.0:
        return None, len(used), modal, f"only one category is used on the {len(used)} items rated {modal} times"
    return float((p_i.mean() - p_e) / (1 - p_e)), len(used), modal, None


def _gwet_ac1(table: _Table) -> Value:
    p_a, reason = _percent_agreement(table)
    if p_a is None:
        return None, reason
    rated = table.counts[table.m >= 1].astype(float)
    pi = (rated / rated.sum(axis=1, keepdims=True)).mean(axis=0)
    q = int((pi > 0).sum())
    if q < 2:
        return None, "only one category is used, so chance agreement cannot be separated"
    p_e = float((pi * (1 - pi)).sum() / (q - 1))
    return float((p_a - p_e) / (1 - p_e)), None


def _pabak(table: _Table) -> Value:
    p_o, reason = _percent_agreement(table)
    if p_o is None:
        return None, reason
    k = _categories_in_use(table.counts)
    if k < 2:
        return None, "only one category is used, so PABAK has no chance level"
    return float((k * p_o - 1) / (k - 1)), None


def _per_category_points(table: _Table) -> tuple[dict[str, Value], dict[str, Value]]:
    """Specific agreement and one-vs-rest alpha per category, each as (value, reason)."""
    reason = _shape_reason(table)
    if reason:
        undefined = {c: (None, reason) for c in table.categories}
        return dict(undefined), dict(undefined)
    totals = {k: v.sum(axis=0) for k, v in _category_item_stats(table.pairable).items()}
    specific = _specific_from_totals(totals["agree"], totals["ends"])
    one_vs_rest = _one_vs_rest_from_totals(totals["o_cc"], totals["n_c"], totals["n"])
    sa: dict[str, Value] = {}
    ovr: dict[str, Value] = {}
    for j, category in enumerate(table.categories):
        n_c = totals["n_c"][j]
        if n_c == 0:
            sa[category] = ovr[category] = (None, "category not used on items with two or more ratings")
            continue
        sa[category] = (float(specific[j]), None)
        if np.isfinite(one_vs_rest[j]):
            ovr[category] = (float(one_vs_rest[j]), None)
        else:
            ovr[category] = (None, "every rating on items with two or more ratings is this category")
    return sa, ovr


def _per_category_cis(
    table: _Table, profiles: np.ndarray, weights: np.ndarray
) -> tuple[list[tuple[Interval, str | None]], list[tuple[Interval, str | None]]]:
    stats = _category_item_stats(profiles)
    totals = {k: weights @ v for k, v in stats.items()}  # each (n_boot, C) or (n_boot,)
    specific = _specific_from_totals(totals["agree"], totals["ends"])
    one_vs_rest = _one_vs_rest_from_totals(totals["o_cc"], totals["n_c"], totals["n"])
    cats = range(len(table.categories))
    return [_percentile_ci(specific[:, j]) for j in cats], [_percentile_ci(one_vs_rest[:, j]) for j in cats]


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


def _pairwise(table: _Table) -> list[dict[str, Any]]:
    if len(table.frame) == 0:
        return []
    wide = table.frame.pivot(index="item", columns="reviewer", values="code")
    rows = []
    for a, b in itertools.combinations(table.reviewers, 2):
        both = wide[[a, b]].dropna()
        y1, y2 = both[a].to_numpy(dtype=np.int64), both[b].to_numpy(dtype=np.int64)
        kappa, reason = _kappa(y1, y2)
        rows.append(
            {
                "reviewer_a": a,
                "reviewer_b": b,
                "n": len(both),
                "kappa": kappa,
                "percent_agreement": float((y1 == y2).mean()) if len(both) else None,
                "reason": reason,
            }
        )
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

    The CI resamples the pairable items with replacement ``n_boot`` times using
    ``numpy.random.default_rng(seed)``; see the module docstring for the
    vectorised computation. Returns ``(None, (None, None))`` when alpha is undefined.
    """
    _check_boot(n_boot, seed)
    table = _prepare(ratings, categories)
    value, _ = _alpha(table)
    if value is None:
        return None, (None, None)
    profiles, weights = _bootstrap_weights(table.pairable, n_boot, seed)
    return value, _alpha_ci(profiles, weights)[0]


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
    """Fleiss' kappa (Fleiss 1971) as ``(kappa, n_items_used, reason)``.

    Fleiss' formula needs the same number of raters m on every item; it is
    computed on the items rated by the modal number of reviewers (ties go to
    the larger m; items with one rating never count). ``reason`` is None when
    kappa is defined.
    """
    kappa, n_used, _, reason = _fleiss(_prepare(ratings, categories))
    return kappa, n_used, reason


def gwet_ac1(ratings: pd.DataFrame) -> float | None:
    """Gwet's AC1 for several raters with missing ratings (Gwet 2008; 2014 ch. 4).

    ``p_a``: the item-averaged percent agreement over items with >= 2 ratings.
    ``pi_c``: the mean over items with >= 1 rating of n_uc / m_u.
    ``p_e = sum_c pi_c (1 - pi_c) / (q - 1)`` with q the categories in use.
    ``AC1 = (p_a - p_e) / (1 - p_e)``.
    """
    return _gwet_ac1(_prepare(ratings))[0]


def pabak(ratings: pd.DataFrame) -> float | None:
    """Prevalence- and bias-adjusted kappa, ``(k p_o - 1) / (k - 1)`` (Byrt et al. 1993).

    ``p_o`` is the item-averaged percent agreement and k the number of
    categories in use; for k categories this is Brennan & Prediger's (1981)
    coefficient.
    """
    return _pabak(_prepare(ratings))[0]


def specific_agreement(
    ratings: pd.DataFrame, categories: Sequence[str] | None = None
) -> dict[str, float | None]:
    """Proportion of specific (positive) agreement per category (Uebersax 1982).

    ``p_s(c) = sum_u n_uc (n_uc - 1) / sum_u n_uc (m_u - 1)`` over items with
    >= 2 ratings: of all reviewer-pair ends on c, the share whose partner also
    chose c. None for a category never used on such items.
    """
    return {c: v for c, (v, _) in _per_category_points(_prepare(ratings, categories))[0].items()}


def kappa_one_vs_rest(
    ratings: pd.DataFrame, categories: Sequence[str] | None = None
) -> dict[str, float | None]:
    """Chance-corrected agreement per category: nominal Krippendorff's alpha on c vs not-c.

    Equal to ``krippendorff.alpha`` on the binarised ratings; close to Fleiss'
    category kappa for many items. None when the category is never used, or
    always used, on items with >= 2 ratings.
    """
    return {c: v for c, (v, _) in _per_category_points(_prepare(ratings, categories))[1].items()}


def pairwise_cohen_kappa(ratings: pd.DataFrame) -> list[dict[str, Any]]:
    """Cohen's kappa (Cohen 1960) for every pair of reviewers, on the items both rated.

    Uses ``sklearn.metrics.cohen_kappa_score``. Each row: ``reviewer_a``,
    ``reviewer_b`` (sorted), ``n`` (items in common), ``kappa``,
    ``percent_agreement`` and ``reason`` (why kappa is None, else None).
    """
    return _pairwise(_prepare(ratings))


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


def agreement_report(
    ratings: pd.DataFrame,
    *,
    categories: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """All agreement measures for one set of ratings, as a JSON-serialisable dict.

    See the module docstring for measures and references. Bootstrap CIs (alpha,
    per-category specific agreement and one-vs-rest alpha) share one set of
    ``n_boot`` item resamples drawn with ``numpy.random.default_rng(seed)``.
    Every None value has its reason in ``report["undefined"]`` under its dotted
    path (e.g. ``"per_category.Other.kappa_one_vs_rest"``).
    """
    _check_boot(n_boot, seed)
    table = _prepare(ratings, categories)
    undefined: dict[str, str] = {}

    def keep(path: str, value: float | None, reason: str | None) -> float | None:
        if value is None:
            undefined[path] = reason or "undefined"
        return value

    alpha, reason = _alpha(table)
    alpha = keep("krippendorff_alpha", alpha, reason)
    pa, reason = _percent_agreement(table)
    pa = keep("percent_agreement", pa, reason)
    fleiss, fleiss_n, fleiss_m, reason = _fleiss(table)
    fleiss = keep("fleiss_kappa", fleiss, reason)
    ac1 = keep("gwet_ac1", *_gwet_ac1(table))
    pabak_value = keep("pabak", *_pabak(table))

    pairwise = _pairwise(table)
    for row in pairwise:
        if row["kappa"] is None:
            undefined[f"pairwise_cohen_kappa.{row['reviewer_a']}|{row['reviewer_b']}.kappa"] = row["reason"]
    pair_shares = [row["percent_agreement"] for row in pairwise if row["n"] > 0]
    pa_pairs = keep(
        "percent_agreement_reviewer_pairs",
        float(np.mean(pair_shares)) if pair_shares else None,
        "no pair of reviewers has an item in common",
    )

    boot_ready = alpha is not None and n_boot > 0
    if boot_ready:
        profiles, weights = _bootstrap_weights(table.pairable, n_boot, seed)
        alpha_ci, reason = _alpha_ci(profiles, weights)
        sa_cis, ovr_cis = _per_category_cis(table, profiles, weights)
    else:
        reason = "no bootstrap resamples requested (n_boot = 0)" if alpha is not None else "alpha is undefined"
        alpha_ci = (None, None)
        sa_cis = ovr_cis = [((None, None), reason)] * len(table.categories)
    if alpha_ci[0] is None:
        undefined["krippendorff_alpha_ci95"] = reason or "undefined"

    sa_points, ovr_points = _per_category_points(table)
    n_ratings_by_cat = table.counts.sum(axis=0)
    per_category: dict[str, dict[str, Any]] = {}
    for j, category in enumerate(table.categories):
        entry: dict[str, Any] = {"n_ratings": int(n_ratings_by_cat[j])}
        for name, points, cis in (
            ("specific_agreement", sa_points, sa_cis),
            ("kappa_one_vs_rest", ovr_points, ovr_cis),
        ):
            value = keep(f"per_category.{category}.{name}", *points[category])
            ci, ci_reason = cis[j] if value is not None else ((None, None), f"{name} is undefined")
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
    fleiss_text = (
        f"Fleiss' kappa needs the same number of raters on every item; it uses only the {fleiss_n} of "
        f"{n_pairable} items with two or more ratings that were rated by the most common number of "
        f"reviewers ({fleiss_m})."
        if fleiss_m is not None
        else "Fleiss' kappa needs the same number of raters on every item; no item qualified."
    )
    logger.debug(
        "agreement report: %d items, %d reviewers, %d ratings, n_boot=%d",
        len(table.items), len(table.reviewers), len(table.frame), n_boot,
    )
    return {
        "n_items": len(table.items),
        "n_items_pairable": n_pairable,
        "n_reviewers": len(table.reviewers),
        "n_ratings": len(table.frame),
        "percent_agreement": pa,
        "percent_agreement_reviewer_pairs": pa_pairs,
        "krippendorff_alpha": alpha,
        "krippendorff_alpha_ci95": list(alpha_ci),
        "fleiss_kappa": fleiss,
        "fleiss_n_items": fleiss_n,
        "fleiss_raters_per_item": fleiss_m,
        "gwet_ac1": ac1,
        "pabak": pabak_value,
        "pairwise_cohen_kappa": pairwise,
        "per_category": per_category,
        "per_reviewer_vs_others": vs_others,
        "confusion_matrix": _coincidence(table),
        "conventions": {
            "items": "Items with fewer than two ratings cannot be compared and are left out of every "
            "agreement measure (Gwet's AC1 still uses them for category shares).",
            "percent_agreement": "percent_agreement: for each item, the share of reviewer pairs that chose "
            "the same category, averaged over items. percent_agreement_reviewer_pairs: for each pair of "
            "reviewers, the share of their common items labelled alike, averaged over pairs.",
            "krippendorff_alpha": "Nominal Krippendorff's alpha on all items with two or more ratings; "
            "the 95% interval is a percentile bootstrap over those items.",
            "fleiss_kappa": fleiss_text,
            "gwet_ac1": "Gwet's AC1 (2014): observed agreement as percent_agreement; chance agreement "
            "sum pi_c (1 - pi_c) / (q - 1), with pi_c the category shares averaged over rated items and q "
            "the number of categories actually used.",
            "pabak": "PABAK = (k * p_o - 1) / (k - 1) with p_o = percent_agreement and k the number of "
            "categories actually used (Brennan-Prediger form for more than two categories).",
            "specific_agreement": "Specific agreement for a category: of all reviewer-pair ends on that "
            "category, the share whose partner chose it too (2a / (2a + b + c) for two reviewers).",
            "kappa_one_vs_rest": "One-vs-rest agreement: Krippendorff's nominal alpha on the ratings recoded "
            "as 'this category' vs 'any other'.",
            "confusion_matrix": "Counts of ordered pairs of different reviewers on the same item (row: first "
            "reviewer's category, column: second's); symmetric, diagonal = twice the agreeing pairs.",
            "bootstrap": f"{n_boot} resamples of the items with replacement, seed {seed}; percentile "
            f"intervals; resamples where a measure is undefined are dropped, and the interval is withheld "
            f"if more than {MAX_UNDEFINED_RESAMPLE_SHARE:.0%} are.",
            "per_reviewer_vs_others": "Each reviewer against a reference that does not contain them "
            "(leave-one-out): on each thread they labelled, the category all the other reviewers of the "
            "thread chose; threads where the others disagree, or nobody else labelled, are left out. "
            "Accuracy and Cohen's kappa, with n.",
        },
        "undefined": undefined,
        "n_boot": int(n_boot),
        "seed": int(seed),
        "categories": list(table.categories),
    }
