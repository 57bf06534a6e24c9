"""Chance-corrected agreement with missing ratings, every coefficient with its interval.

Input is the thread x category count matrix ``n_uc`` of the threads with at least one rating
(``m_u = sum_c n_uc`` ratings on thread u), the codebook's number of categories ``q`` and, for
Conger's kappa, the long ratings as integer codes. Threads with one rating count as rated
threads (category shares) but give no pair (observed agreement), as in Gwet (2014).

Coefficients (Gwet 2014, *Handbook of Inter-Rater Reliability*, 4th ed., ch. 2-5; the
formulas of the R/Python package irrCAC)
-----------------------------------------------------------------------------------------
With ``n`` rated threads, ``n2`` of them with two or more ratings,
``p_a = (1/n2) sum_{m_u >= 2} sum_c n_uc (n_uc - 1) / (m_u (m_u - 1))`` (percent agreement)
and ``pi_c = (1/n) sum_u n_uc / m_u`` (category shares over all rated threads):

- Fleiss' kappa, generalised to missing ratings: ``p_e = sum_c pi_c^2`` (irrCAC ``fleiss``).
- Fleiss' kappa, complete cases: Fleiss (1971) on the threads with the full number of ratings
  only (listwise deletion); a sensitivity figure.
- Gwet's AC1: ``p_e = sum_c pi_c (1 - pi_c) / (q - 1)``.
- Brennan-Prediger's coefficient, which for two raters is PABAK (Byrt, Bishop & Carlin 1993):
  ``(p_a - 1/q) / (1 - 1/q)``.
- Conger's (1980) kappa: chance agreement from each reviewer's own category shares.
- Krippendorff's nominal alpha on the threads with two or more ratings (Krippendorff 2011).
- Per category: Fleiss' (1971) category kappa ``kappa_j`` (generalised Fleiss on "j" vs
  "not j"), specific agreement (Uebersax 1982) and one-vs-rest alpha.

For AC1 and PABAK, ``q`` is the codebook's number of categories by default (Gwet's and
Brennan & Prediger's definition: the categories a rater could choose); the variant with ``q``
= the categories actually used is reported beside it.

Intervals
---------
- Bootstrap over threads (Efron & Tibshirani 1993): resampling the n rated threads with
  replacement only matters through how often each distinct count row is drawn, so the
  resample weights are Multinomial(n, row shares) and every coefficient of every resample
  comes from one matrix product (resamples x rows) @ (rows x per-thread statistics).
  Percentile by default, BCa (jackknife acceleration, also from the row totals) as an option.
- Gwet's analytic standard errors (linearisation; Gwet 2014 ch. 5 and 2008, *Br. J. Math.
  Stat. Psychol.* 61:29) for percent agreement, Fleiss, AC1, Brennan-Prediger, Conger and
  alpha, with a Student-t interval on ``n - 1`` degrees of freedom as irrCAC reports them.
- Percent agreement's interval is a Wilson score interval with Korn & Graubard's effective
  sample size (the analytic variance allows for several pairs per thread), so it stays honest
  at 0 and 1.

All intervals treat the threads as a random sample from a larger pool of threads rated by
these same reviewers: they generalise over threads, not over reviewers. Intervals are
withheld (with the reason) below :data:`annotator.stats.intervals.MIN_SUPPORT` threads with
two or more ratings, and whenever they would have zero width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotator.stats.intervals import (
    MIN_SUPPORT,
    bca_interval,
    percentile_interval,
    t_interval,
    wilson_interval,
    wilson_interval_effective,
)

__all__ = [
    "COEFFICIENTS",
    "CategoryAnalysis",
    "analyse",
    "bootstrap_weights",
    "coefficient_values",
    "conger_kappa",
    "distinct_rows",
    "pair_analysis",
    "thread_statistics",
]

#: Headline coefficients, in report order.
COEFFICIENTS = (
    "percent_agreement",
    "krippendorff_alpha",
    "fleiss_kappa",
    "fleiss_kappa_complete_case",
    "gwet_ac1",
    "gwet_ac1_observed_q",
    "pabak",
    "pabak_observed_q",
)
_PER_CATEGORY = ("fleiss_kappa", "specific_agreement", "kappa_one_vs_rest")
_SCALARS = ("one", "e", "a", "d", "m2", "full", "a_full")
_VECTORS = ("pi", "n2", "pi_full", "agree", "ends", "occ", "bin_a")
#: Fewest ratings of a category (on threads with two or more ratings) for a per-category interval.
MIN_CATEGORY_RATINGS = 5


# --------------------------------------------------------------------------- #
# Per-thread statistics and coefficients from their totals
# --------------------------------------------------------------------------- #
def _layout(n_cats: int) -> dict[str, slice | int]:
    layout: dict[str, slice | int] = {}
    for i, name in enumerate(_SCALARS):
        layout[name] = i
    start = len(_SCALARS)
    for name in _VECTORS:
        layout[name] = slice(start, start + n_cats)
        start += n_cats
    layout["width"] = start
    return layout


def thread_statistics(counts: np.ndarray, m_full: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Per-thread statistics (rows x columns) whose column sums give every coefficient.

    ``counts`` are count rows with ``m_u >= 1``; ``m_full`` is the number of ratings of a
    complete thread (the complete-case Fleiss uses threads with exactly that many).
    """
    n = np.asarray(counts, dtype=float)
    n_rows, n_cats = n.shape
    m = n.sum(axis=1)
    e = m >= 2
    pairs = np.where(e, m * (m - 1), 1.0)
    within = (n * (n - 1)).sum(axis=1)
    a = np.where(e, within / pairs, 0.0)
    shares = n / np.where(m > 0, m, 1.0)[:, None]
    full = (m == m_full) & (m_full >= 2)
    layout = _layout(n_cats)
    out = np.zeros((n_rows, layout["width"]))
    ef = e.astype(float)
    out[:, layout["one"]] = 1.0
    out[:, layout["e"]] = ef
    out[:, layout["a"]] = a
    out[:, layout["d"]] = np.where(e, (m**2 - (n**2).sum(axis=1)) / np.where(e, m - 1, 1.0), 0.0)
    out[:, layout["m2"]] = m * ef
    out[:, layout["full"]] = full
    out[:, layout["a_full"]] = a * full
    out[:, layout["pi"]] = shares
    out[:, layout["n2"]] = n * ef[:, None]
    out[:, layout["pi_full"]] = shares * full[:, None]
    out[:, layout["agree"]] = n * (n - 1) * ef[:, None]
    out[:, layout["ends"]] = n * (m - 1)[:, None] * ef[:, None]
    out[:, layout["occ"]] = np.where(e[:, None], n * (n - 1) / np.where(e, m - 1, 1.0)[:, None], 0.0)
    rest = m[:, None] - n
    out[:, layout["bin_a"]] = np.where(e[:, None], (n * (n - 1) + rest * (rest - 1)) / pairs[:, None], 0.0)
    return out, layout


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _chance_corrected(pa: np.ndarray, pe: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pe < 1 - 1e-12, (pa - pe) / (1 - pe), np.nan)


def coefficient_values(
    totals: np.ndarray, layout: dict[str, Any], *, q: int, q_observed: int
) -> dict[str, np.ndarray]:
    """Every coefficient from column totals ``(..., width)``; NaN where undefined."""
    t = np.asarray(totals, dtype=float)

    def col(name: str) -> np.ndarray:
        return t[..., layout[name]]

    pa = _ratio(col("a"), col("e"))
    pi = _ratio(col("pi"), np.expand_dims(col("one"), -1))
    fleiss = _chance_corrected(pa, (pi**2).sum(axis=-1))
    spread = (pi * (1 - pi)).sum(axis=-1)

    def ac1(k: int) -> np.ndarray:
        return _chance_corrected(pa, spread / (k - 1)) if k >= 2 else np.full_like(pa, np.nan)

    def bp(k: int) -> np.ndarray:
        return _chance_corrected(pa, np.full_like(pa, 1.0 / k)) if k >= 2 else np.full_like(pa, np.nan)

    n_tot = col("m2")
    n_c = col("n2")
    expected = n_tot**2 - (n_c**2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(expected > 0, 1 - (n_tot - 1) * col("d") / np.where(expected > 0, expected, 1), np.nan)
    full = np.expand_dims(col("full"), -1)
    pa_full = _ratio(col("a_full"), col("full"))
    p_full = _ratio(col("pi_full"), full)
    fleiss_cc = _chance_corrected(pa_full, (p_full**2).sum(axis=-1))
    # per category
    pa_j = _ratio(col("bin_a"), np.expand_dims(col("e"), -1))
    pe_j = pi**2 + (1 - pi) ** 2
    fleiss_j = _chance_corrected(pa_j, pe_j)
    specific = _ratio(col("agree"), col("ends"))
    n_all = np.expand_dims(n_tot, -1)
    ovr_den = n_c * (n_all - n_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        ovr = np.where(ovr_den > 0, 1 - (n_all - 1) * (n_c - col("occ")) / np.where(ovr_den > 0, ovr_den, 1), np.nan)
    return {
        "percent_agreement": pa,
        "krippendorff_alpha": alpha,
        "fleiss_kappa": fleiss,
        "fleiss_kappa_complete_case": fleiss_cc,
        "gwet_ac1": ac1(q),
        "gwet_ac1_observed_q": ac1(q_observed),
        "pabak": bp(q),
        "pabak_observed_q": bp(q_observed),
        "category.fleiss_kappa": fleiss_j,
        "category.specific_agreement": specific,
        "category.kappa_one_vs_rest": ovr,
    }


# --------------------------------------------------------------------------- #
# Bootstrap weights over distinct rows
# --------------------------------------------------------------------------- #
def distinct_rows(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a non-negative count matrix and how often each occurs."""
    counts = np.asarray(counts)
    if counts.shape[0] == 0:
        return counts, np.zeros(0, dtype=np.int64)
    base = int(counts.max(initial=0)) + 1
    if counts.shape[1] * np.log2(base) < 62:  # rows fit one int64 key: much faster than unique(axis=0)
        keys = counts.astype(np.int64) @ (base ** np.arange(counts.shape[1], dtype=np.int64))
        _, first, freq = np.unique(keys, return_index=True, return_counts=True)
        return counts[first], freq
    return np.unique(counts, axis=0, return_counts=True)


def bootstrap_weights(counts: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows (P x C), their frequencies, and resample weights (n_boot x P).

    Row b of the weights says how many times threads of each distinct row were drawn when all
    threads are resampled with replacement (``numpy.random.default_rng(seed)``).
    """
    profiles, freq = distinct_rows(counts)
    rng = np.random.default_rng(seed)
    if freq.sum() == 0:
        return profiles, freq, np.zeros((n_boot, 0))
    weights = rng.multinomial(int(freq.sum()), freq / freq.sum(), size=n_boot).astype(float)
    return profiles, freq, weights


# --------------------------------------------------------------------------- #
# Gwet's analytic standard errors (linearisation over threads)
# --------------------------------------------------------------------------- #
def _variance(x: np.ndarray, value: float, freq: np.ndarray, n: float) -> float:
    if n < 2:
        return float("nan")
    return float(np.sum(freq * (x - value) ** 2) / (n * (n - 1)))


def _analytic_ses(
    profiles: np.ndarray, freq: np.ndarray, values: dict[str, float], *, q: int, q_observed: int, m_full: int
) -> dict[str, tuple[float, int]]:
    """(standard error, threads it rests on) per coefficient, after Gwet (2014) / irrCAC."""
    n_uc = profiles.astype(float)
    m = n_uc.sum(axis=1)
    e = (m >= 2).astype(float)
    f = freq.astype(float)
    n, n2 = f.sum(), float((f * e).sum())
    out: dict[str, tuple[float, int]] = {}
    if n2 == 0 or n < 2:
        return out
    shares = n_uc / m[:, None]
    a = np.where(e > 0, (n_uc * (n_uc - 1)).sum(axis=1) / np.where(e > 0, m * (m - 1), 1), 0.0)
    pi = (f[:, None] * shares).sum(axis=0) / n
    pa = values["percent_agreement"]
    out["percent_agreement"] = (np.sqrt(_variance(n / n2 * a, pa, f, n)), int(n))

    def corrected(name: str, pe: float, pe_i: np.ndarray | None) -> None:
        value = values.get(name)
        if value is None or not np.isfinite(value) or pe >= 1:
            return
        x = (n / n2) * (a - pe * e) / (1 - pe)
        if pe_i is not None:
            x = x - 2 * (1 - value) * (pe_i - pe) / (1 - pe)
        out[name] = (np.sqrt(_variance(x, value, f, n)), int(n))

    corrected("fleiss_kappa", float((pi**2).sum()), shares @ pi)
    for name, k in (("gwet_ac1", q), ("gwet_ac1_observed_q", q_observed)):
        if k >= 2:
            corrected(name, float((pi * (1 - pi)).sum() / (k - 1)), shares @ (1 - pi) / (k - 1))
    for name, k in (("pabak", q), ("pabak_observed_q", q_observed)):
        if k >= 2:
            corrected(name, 1.0 / k, None)
    # complete-case Fleiss: Fleiss (1971) on the complete threads alone
    full = (m == m_full) & (m_full >= 2)
    if full.any() and values.get("fleiss_kappa_complete_case") is not None:
        sub = _analytic_ses(profiles[full], freq[full], {"percent_agreement": 0.0, "fleiss_kappa": values[
            "fleiss_kappa_complete_case"]}, q=q, q_observed=q_observed, m_full=m_full)
        if "fleiss_kappa" in sub:
            out["fleiss_kappa_complete_case"] = sub["fleiss_kappa"]
    # Krippendorff's alpha (Gwet 2014 ch. 5; irrCAC krippen.alpha.raw), pairable threads only
    alpha = values.get("krippendorff_alpha")
    if alpha is not None and np.isfinite(alpha) and n2 >= 2:
        keep = e > 0
        fp, mp, cp = f[keep], m[keep], n_uc[keep]
        r_bar = float((fp * mp).sum() / n2)
        eps = 1.0 / float((fp * mp).sum())
        sum_q = (cp * (cp - 1)).sum(axis=1)
        pa_prime = float((fp * sum_q / (r_bar * (mp - 1))).sum() / n2)
        pa_k = (1 - eps) * pa_prime + eps
        pi_k = (fp[:, None] * cp / r_bar).sum(axis=0) / n2
        pe_k = float((pi_k**2).sum())
        if pe_k < 1:
            alpha_prime = (pa_prime - pe_k) / (1 - pe_k)
            pa_i = sum_q / (r_bar * (mp - 1)) - pa_k * (mp - r_bar) / r_bar
            pe_i = cp @ pi_k / r_bar - pe_k * (mp - r_bar) / r_bar
            x = (pa_i - pe_k) / (1 - pe_k) - 2 * (1 - alpha_prime) * (pe_i - pe_k) / (1 - pe_k)
            out["krippendorff_alpha"] = (np.sqrt(_variance(x, alpha_prime, fp, n2)), int(n2))
    return out


def conger_kappa(
    item: np.ndarray, rater: np.ndarray, code: np.ndarray, n_categories: int
) -> tuple[float | None, float | None, int, str | None]:
    """Conger's (1980) kappa and Gwet's analytic SE: ``(kappa, se, n_threads, reason)``.

    ``item``, ``rater`` and ``code`` are integer codes of the long ratings (0-based, items and
    raters dense). Chance agreement averages the pairwise Cohen chance agreements, i.e. uses each
    reviewer's own category shares (Gwet 2014 ch. 2; irrCAC ``conger``).
    """
    item, rater, code = (np.asarray(x, dtype=np.int64) for x in (item, rater, code))
    n_items = int(item.max()) + 1 if item.size else 0
    r = int(rater.max()) + 1 if rater.size else 0
    if r < 2:
        return None, None, n_items, "only one reviewer"
    counts = np.zeros((n_items, n_categories))
    np.add.at(counts, (item, code), 1.0)
    m = counts.sum(axis=1)
    e = m >= 2
    n, n2 = float(n_items), float(e.sum())
    if n2 == 0:
        return None, None, n_items, "no item has ratings from two or more reviewers"
    a = np.where(e, (counts * (counts - 1)).sum(axis=1) / np.where(e, m * (m - 1), 1), 0.0)
    pa = float(a[e].mean())
    classif = np.zeros((r, n_categories))
    np.add.at(classif, (rater, code), 1.0)
    ng = classif.sum(axis=1)
    pgk = classif / ng[:, None]
    p_mean = pgk.mean(axis=0)
    s2 = ((pgk**2).sum(axis=0) - r * p_mean**2) / (r - 1)
    pe = float((p_mean**2 - s2 / r).sum())
    if pe >= 1 - 1e-12:
        return None, None, n_items, "only one category is used, so chance agreement is 1"
    kappa = (pa - pe) / (1 - pe)
    if n < 2:
        return float(kappa), None, n_items, None
    spread = (pgk * (r * p_mean[None, :] - pgk)).sum(axis=1)  # A_g
    own = n / ng[rater] * (r * p_mean[code] - pgk[rater, code] - spread[rater])
    pe_i = (spread.sum() + np.bincount(item, weights=own, minlength=n_items)) / (r * (r - 1))
    x = (n / n2) * (a - pe * e) / (1 - pe) - 2 * (1 - kappa) * (pe_i - pe) / (1 - pe)
    var = float(np.sum((x - kappa) ** 2) / (n * (n - 1)))
    return float(kappa), float(np.sqrt(var)), n_items, None


# --------------------------------------------------------------------------- #
# One analysis: points, bootstrap, analytic SEs, intervals
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class CategoryAnalysis:
    """Per category: estimates and intervals of the per-category measures."""

    values: dict[str, list[float | None]]
    intervals: dict[str, list[tuple[tuple[float | None, float | None], str | None]]]


def _finite(x: float) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def analyse(
    counts: np.ndarray,
    *,
    q: int,
    n_boot: int,
    seed: int,
    interval: str = "percentile",
    level: float = 0.95,
) -> dict[str, Any]:
    """Points, intervals and analytic SEs for every coefficient of a count matrix.

    ``counts``: rated threads (``m_u >= 1``) x categories (the codebook's, plus any extra).
    Returns ``{"values": {name: float|None}, "n": ..., "n2": ..., "m_full": ..., "n_full": ...,
    "q": ..., "q_observed": ..., "bootstrap": {name: ((lo, hi), reason)}, "analytic": {name:
    (se, n, (lo, hi), reason)}, "categories": CategoryAnalysis}``.
    """
    if interval not in ("percentile", "bca"):
        raise ValueError(f"interval must be 'percentile' or 'bca', got {interval!r}")
    counts = np.asarray(counts)
    n_cats = counts.shape[1]
    m = counts.sum(axis=1)
    m_full = int(m.max(initial=0))
    q_observed = int((counts.sum(axis=0) > 0).sum())
    profiles, freq, weights = bootstrap_weights(counts, n_boot, seed)
    stats, layout = thread_statistics(profiles, m_full)
    total = freq @ stats
    point = coefficient_values(total, layout, q=q, q_observed=q_observed)
    values = {name: _finite(point[name]) for name in COEFFICIENTS}
    n, n2 = int(freq.sum()), int(freq[profiles.sum(axis=1) >= 2].sum()) if len(freq) else 0
    n_full = int(freq[profiles.sum(axis=1) == m_full].sum()) if m_full >= 2 else 0
    support = None if n2 >= MIN_SUPPORT else (
        f"only {n2} thread(s) with two or more ratings; intervals need at least {MIN_SUPPORT}"
    )
    boot = {}
    if n_boot > 0 and n2 > 0:
        resampled = coefficient_values(weights @ stats, layout, q=q, q_observed=q_observed)
        jack = coefficient_values(total[None, :] - stats, layout, q=q, q_observed=q_observed) if interval == "bca" else None
    else:
        resampled = jack = None
    for name in COEFFICIENTS:
        boot[name] = _interval(values[name], resampled, jack, freq, name, None, support, interval, level, n_boot)
    ses = _analytic_ses(profiles, freq, values, q=q, q_observed=q_observed, m_full=m_full) if n2 else {}
    analytic = {}
    for name in COEFFICIENTS:
        if values[name] is None:
            analytic[name] = (None, 0, (None, None), "the coefficient is undefined")
            continue
        if name not in ses:
            analytic[name] = (None, 0, (None, None), "no published standard error for this coefficient")
            continue
        se, used = ses[name]
        lower = 0.0 if name == "percent_agreement" else -1.0
        ci, reason = t_interval(values[name], se, used - 1, level=level, lower=lower)
        if support:
            ci, reason = (None, None), support
        analytic[name] = (_finite(se), used, ci, reason)
    # per category
    cat_values: dict[str, list[float | None]] = {}
    cat_intervals: dict[str, list[tuple[tuple[float | None, float | None], str | None]]] = {}
    ratings_on_pairs = stats[:, layout["n2"]].T @ freq if len(freq) else np.zeros(n_cats)
    for measure in _PER_CATEGORY:
        key = f"category.{measure}"
        vals = [_finite(v) for v in np.atleast_1d(point[key])] if len(freq) else [None] * n_cats
        cat_values[measure] = vals
        rows = []
        for j in range(n_cats):
            few = support or (
                None if ratings_on_pairs[j] >= MIN_CATEGORY_RATINGS else
                f"only {int(ratings_on_pairs[j])} rating(s) of this category on threads with two or more "
                f"ratings; per-category intervals need at least {MIN_CATEGORY_RATINGS}"
            )
            rows.append(_interval(vals[j], resampled, jack, freq, key, j, few, interval, level, n_boot))
        cat_intervals[measure] = rows
    return {
        "values": values,
        "n": n,
        "n2": n2,
        "m_full": m_full,
        "n_full": n_full,
        "q": q,
        "q_observed": q_observed,
        "bootstrap": boot,
        "analytic": analytic,
        "categories": CategoryAnalysis(cat_values, cat_intervals),
    }


def _interval(
    value: float | None,
    resampled: dict[str, np.ndarray] | None,
    jack: dict[str, np.ndarray] | None,
    freq: np.ndarray,
    key: str,
    column: int | None,
    support: str | None,
    method: str,
    level: float,
    n_boot: int,
) -> tuple[tuple[float | None, float | None], str | None]:
    if value is None:
        return (None, None), "the estimate is undefined"
    if support:
        return (None, None), support
    if resampled is None:
        return (None, None), "no bootstrap resamples requested (n_boot = 0)" if n_boot == 0 else "no resamples"
    draws = resampled[key] if column is None else resampled[key][:, column]
    if method == "bca" and jack is not None:
        jk = jack[key] if column is None else jack[key][:, column]
        return bca_interval(value, draws, jk, freq, level=level)
    return percentile_interval(draws, level=level)


def pair_analysis(
    y1: np.ndarray, y2: np.ndarray, n_categories: int, *, n_boot: int, seed: int, level: float = 0.95
) -> dict[str, Any]:
    """Cohen's kappa of one reviewer pair with a bootstrap interval, and agreement with Wilson's.

    The bootstrap resamples the pair's common threads (Multinomial over the q x q cells).
    Returns ``{"n", "kappa_ci95", "kappa_ci_reason", "percent_agreement_ci95",
    "percent_agreement_ci_reason"}``.
    """
    y1, y2 = np.asarray(y1, dtype=np.int64), np.asarray(y2, dtype=np.int64)
    n = len(y1)
    out: dict[str, Any] = {"n": n}
    if n < MIN_SUPPORT:
        reason = f"only {n} thread(s) in common; intervals need at least {MIN_SUPPORT}"
        out.update(kappa_ci95=[None, None], kappa_ci_reason=reason,
                   percent_agreement_ci95=[None, None], percent_agreement_ci_reason=reason)
        return out
    agree = int((y1 == y2).sum())
    ci, reason = wilson_interval(agree, n, level=level)
    out.update(percent_agreement_ci95=list(ci), percent_agreement_ci_reason=reason)
    cells, freq = np.unique(y1 * n_categories + y2, return_counts=True)
    if n_boot == 0:
        out.update(kappa_ci95=[None, None], kappa_ci_reason="no bootstrap resamples requested (n_boot = 0)")
        return out
    rng = np.random.default_rng(seed)
    w = rng.multinomial(n, freq / n, size=n_boot).astype(float)
    first, second = np.divmod(cells, n_categories)
    rows = w @ np.eye(n_categories)[first]
    cols = w @ np.eye(n_categories)[second]
    po = w @ (first == second).astype(float) / n
    pe = (rows * cols).sum(axis=1) / n**2
    kappa = _chance_corrected(po, pe)
    ci, reason = percentile_interval(kappa, level=level)
    out.update(kappa_ci95=list(ci), kappa_ci_reason=reason)
    return out


def wilson_for_percent_agreement(value: float, se: float | None, n2: int, *, level: float = 0.95):
    """Wilson interval with Korn & Graubard's effective n for thread-averaged percent agreement."""
    if n2 < MIN_SUPPORT:
        return (None, None), f"only {n2} thread(s) with two or more ratings; intervals need at least {MIN_SUPPORT}"
    variance = 0.0 if se is None else se**2
    return wilson_interval_effective(value, variance, n2, level=level)


def seeds_for(seed: int, count: int) -> Sequence[int]:
    """Independent child seeds (numpy SeedSequence.spawn) for per-pair bootstraps."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(count)]
