"""Category prevalence in a frame of threads, corrected for classifier error (design-based).

The model labels the threads of a *frame* (the corpus, or the part a round was sampled from) of
``N`` threads, ``n_failed`` of which have no model label (failed predictions: counted in ``N``,
never dropped). A random sample of ``n`` of them carries the adjudicated human consensus. The
target is each category's share of *this frame* as humans would label it, a finite-population
quantity, so every variance carries the finite-population correction.

Estimators (Cochran, *Sampling Techniques*, 3rd ed., 1977; Saerndal, Swensson & Wretman, *Model
Assisted Survey Sampling*, 1992, ch. 6-7)
---------------------------------------------------------------------------------------------
- ``"ppi"`` (the default): the difference estimator, which is prediction-powered inference for a
  mean (Angelopoulos et al., *Science* 382:669, 2023) with the frame's predictions known:
  ``theta_k = p_f,k + mean_sample(1[human = k] - 1[model = k])``, with ``p_f,k`` the model's share
  over all N threads (known exactly: no variance) and variance ``(1 - n/N) s_r^2 / n``.
- ``"confusion"``: the post-stratified (confusion-matrix) estimator: ``theta_k = sum_h W_h
  p_hk`` with ``W_h = N_h / N`` the model's shares (strata = model label, failed predictions one
  more stratum) and ``p_hk`` the share of human label k among the sampled threads of stratum h;
  variance ``sum_h W_h^2 (1 - n_h/N_h) s_hk^2 / n_h`` (conditional on the stratum sample sizes).
- A sample stratified by the model's label (rows with a ``weight`` column) is estimated by the
  stratified estimator, the same formula with the design's ``n_h`` (weight-normalised within a
  stratum); there the difference and post-stratified estimators coincide, so both methods give the
  same numbers and the same variance as a simple random sample would under that formula.

Intervals (small-sample, not a variance floor)
----------------------------------------------
The sample part of every estimator is the difference between the shares of *missed* threads
(human k, model not k) and *false positives* (model k, human not k): a difference of two cell
probabilities of one multinomial, for which Tango's score interval (Tango 1998, *Stat. Med.*
17:891; recommended by Newcombe 1998 and Fagerland et al. 2014) is accurate at small counts and
never zero-width. The difference estimator on a simple random sample uses it on the observed
counts; the post-stratified and stratified estimators use it on their estimated shares with Korn &
Graubard's (1998) effective sample size (the design variance matched to a multinomial of that
size). Deviations from the estimate are scaled by the finite-population correction. A category
with fewer than :data:`MIN_CASES` human-labelled threads in the sample, or a sample under
:data:`MIN_SAMPLE`, gets no two-sided interval (withheld with the reason) but its one-sided upper
bound. ``simultaneous`` uses Bonferroni's level ``1 - alpha / K`` for each of the K categories, so
all intervals hold together with probability at least ``1 - alpha``. :func:`simulate_coverage`
measures coverage (see ``bench/sim_prevalence_coverage.py``).

A model-label stratum that holds threads in the frame but none in the sample cannot be corrected
by the post-stratified estimator: its threads are counted at the model's label (failed
predictions: like the rest of the sample) and a note says so.

Undefined values are ``None`` and their reason is stored in the result's ``undefined`` mapping
under a dotted path (``"categories.Coding.ci"``). Results are plain JSON types, never NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from annotator.stats.planning import neyman_allocation

__all__ = ["MIN_CASES", "MIN_SAMPLE", "estimate_prevalence", "simulate_coverage"]

_METHODS = ("ppi", "confusion")
#: Fewest human-labelled threads of a category in the sample for a two-sided interval.
MIN_CASES = 5
#: Fewest human-labelled threads in the sample for any interval.
MIN_SAMPLE = 10
NO_PREDICTION = None

_DESCRIPTIONS = {
    ("ppi", False): (
        "Difference estimator (prediction-powered inference, Angelopoulos et al., Science 2023): the "
        "model's share of each category over all {N} threads of the frame, plus the average difference "
        "between human and model labels in a simple random sample of {n} human-labelled threads; "
        "variance (1 - n/N) s_r^2 / n. {conf} intervals: Tango's score interval for the sample part "
        "(missed minus false-positive threads), never zero-width."
    ),
    ("confusion", False): (
        "Post-stratified (confusion-matrix) estimator: for each label the model gave, the {n} "
        "human-labelled threads (a simple random sample) show how humans label those threads; the "
        "model's counts over all {N} threads are redistributed accordingly; variance with the "
        "finite-population correction per stratum. {conf} intervals: Tango's score interval with Korn & "
        "Graubard's effective sample size."
    ),
    ("stratified", True): (
        "Stratified estimator for a sample stratified by the model's label: for each predicted "
        "category, the share of each human label among its sampled threads, weighted by the "
        "category's share of the {N} threads of the frame ({n} human-labelled threads; the difference "
        "and confusion-matrix estimators coincide here); variance with the finite-population "
        "correction per stratum. {conf} intervals: Tango's score interval with Korn & Graubard's "
        "effective sample size."
    ),
}


# --------------------------------------------------------------------------- #
# Public functions
# --------------------------------------------------------------------------- #
def estimate_prevalence(
    model_counts: Mapping[str, int],
    sample: pd.DataFrame,
    *,
    categories: Sequence[str],
    alpha: float = 0.05,
    method: str = "ppi",
    n_failed: int = 0,
    frame: str | None = None,
    simultaneous: bool = False,
) -> dict[str, Any]:
    """Estimate each category's share of the frame, corrected with human labels.

    Args:
        model_counts: category -> number of frame threads the model gave that label.
        sample: one row per human-labelled thread of the frame, columns ``model`` (a category, or
            None for a thread whose prediction failed) and ``human`` (a category), and optional
            ``weight`` (design weight; with it the sample is taken to be stratified by ``model``).
        categories: the codebook's categories, in display order.
        alpha: 1 - confidence level of the intervals.
        method: ``"ppi"`` (difference estimator, the default) or ``"confusion"`` (post-stratified).
        n_failed: frame threads without a model label (failed or missing predictions); part of N.
        frame: plain words for the frame the sample was drawn from (stated in the result).
        simultaneous: Bonferroni intervals that hold for all categories together.

    Returns:
        ``{"N", "n", "n_failed", "frame", "method", "method_description", "design", "confidence",
        "confidence_per_category", "simultaneous", "categories": {category: {"naive_share",
        "corrected_share", "unclipped_share", "ci", "ci_method", "ci_reason", "upper_bound",
        "clipped", "se", "n_sample_human", "n_sample_model"}}, "notes", "undefined",
        "conventions"}``. ``se`` is the design-based standard error; ``ci`` ``[lo, hi]`` or None
        (then ``ci_reason`` says why and ``upper_bound`` is a one-sided bound at the same level).

    Raises:
        ValueError: unknown method, bad ``alpha``, missing columns, labels outside
            ``categories``, more sampled threads than frame threads under a model label, negative
            counts or non-positive weights.
    """
    cats = _check_categories(categories)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not isinstance(n_failed, (int, np.integer)) or n_failed < 0:
        raise ValueError(f"n_failed must be a non-negative integer, got {n_failed!r}")
    K = len(cats)
    counts = np.append(_counts_vector(model_counts, cats), float(n_failed))  # stratum K: no prediction
    data = _sample_arrays(sample, cats)
    N, n = int(counts.sum()), int(data.model.size)
    weighted = data.weight is not None
    alpha_each = alpha / K if simultaneous else alpha
    conf_each = 1 - alpha_each
    conf_text = (f"Bonferroni-simultaneous {100 * (1 - alpha):g}% (each at {100 * conf_each:.4g}%)"
                 if simultaneous else f"{100 * (1 - alpha):g}%")
    key = ("stratified", True) if weighted else (method, False)
    description = _DESCRIPTIONS[key].format(N=N, n=n, conf=conf_text)
    undefined: dict[str, str] = {}
    notes: list[str] = []
    n_human = np.bincount(data.human, minlength=K)
    n_model = np.bincount(data.model, minlength=K + 1)
    naive = counts[:K] / N if N else None
    estimate: _Estimate | None = None
    reason: str | None = None
    if N == 0:
        reason = "the frame holds no thread (N = 0)"
    elif n == 0:
        reason = "no human-labelled thread in the sample (n = 0): nothing to correct with"
    else:
        excess = [("(no prediction)" if h == K else cats[h]) for h in range(K + 1) if n_model[h] > counts[h]]
        if excess:
            raise ValueError(f"sample has more threads than the frame under model label(s) {excess}")
        estimate = _estimate(counts, data, method, alpha_each)
        for h in estimate.uncorrected_strata:
            if h == K:
                notes.append(f"{int(counts[h])} thread(s) without a model label and none of them in the sample: "
                             "they are estimated like the rest of the sample.")
            else:
                notes.append(f"No human-labelled thread among the {int(counts[h])} threads the model put in "
                             f"'{cats[h]}': they are counted at the model's label, uncorrected, and the "
                             "interval does not reflect their error.")
        notes.extend(
            f"Only one human-labelled thread among those the model put in '{cats[h]}': its Wilson interval "
            "is wide, and its variance was set to the binomial maximum 1/4." for h in estimate.single_strata
        )
    if n_failed:
        notes.append(f"{n_failed} of the {N} threads have no model label (failed or missing predictions); "
                     "they stay in N and their share is estimated from the human labels.")
    per_cat: dict[str, dict[str, Any]] = {}
    for k, cat in enumerate(cats):
        row: dict[str, Any] = {
            "naive_share": None if naive is None else float(naive[k]),
            "corrected_share": None,
            "unclipped_share": None,
            "ci": None,
            "ci_method": None,
            "ci_reason": None,
            "upper_bound": None,
            "clipped": False,
            "se": None,
            "n_sample_human": int(n_human[k]),
            "n_sample_model": int(n_model[k]),
        }
        if estimate is None:
            fields = ("naive_share",) * (naive is None) + ("corrected_share", "ci", "se")
            undefined.update({f"categories.{cat}.{f}": str(reason) for f in fields})
            row["ci_reason"] = str(reason)
            per_cat[cat] = row
            continue
        theta = float(estimate.theta[k])
        row["unclipped_share"] = theta
        row["corrected_share"] = min(max(theta, 0.0), 1.0)
        row["clipped"] = row["corrected_share"] != theta
        row["se"] = float(estimate.se[k])
        row["ci_method"] = estimate.ci_method
        lo, hi = float(estimate.lo[k]), float(estimate.hi[k])
        bounds = [min(max(lo, 0.0), 1.0), min(max(hi, 0.0), 1.0)]
        why = None
        if n < MIN_SAMPLE:
            why = f"only {n} human-labelled thread(s) in the sample; intervals need at least {MIN_SAMPLE}"
        elif n_human[k] < MIN_CASES:
            why = (f"only {n_human[k]} human-labelled thread(s) of this category in the sample; a two-sided "
                   f"interval needs at least {MIN_CASES} (the upper bound is given instead)")
        elif not bounds[1] > bounds[0]:
            why = "the interval would have zero width"
        if why:
            row["ci_reason"] = why
            row["upper_bound"] = bounds[1]
            undefined[f"categories.{cat}.ci"] = why
        else:
            row["ci"] = bounds
            row["clipped"] = row["clipped"] or bounds != [lo, hi]
        if row["clipped"]:
            notes.append(f"'{cat}': the estimate or interval fell outside [0, 1] and was clipped.")
        per_cat[cat] = row
    return {
        "N": N,
        "n": n,
        "n_failed": int(n_failed),
        "frame": frame or "all threads",
        "method": method,
        "method_description": description,
        "design": "stratified by model label (weighted)" if weighted else "simple random sample",
        "confidence": 1 - alpha,
        "confidence_per_category": conf_each,
        "simultaneous": bool(simultaneous),
        "categories": per_cat,
        "notes": notes,
        "undefined": undefined,
        "conventions": _conventions(N, n, n_failed, frame, simultaneous, alpha, K),
    }


def _conventions(N: int, n: int, n_failed: int, frame: str | None, simultaneous: bool, alpha: float,
                 K: int) -> dict[str, str]:
    return {
        "target": f"The share of each category among the {N} threads of the frame ({frame or 'all threads'}) "
        "as the human consensus would label them: a finite-population quantity, so variances carry the "
        "finite-population correction (1 - n/N).",
        "failed_predictions": f"{n_failed} thread(s) have no model label; they count in N as a stratum of "
        "their own (difference estimator: predicted share 0 for every category).",
        "interval": "Tango's (1998) score interval for the sample part (missed minus false-positive threads; "
        "with Korn & Graubard's effective sample size for the post-stratified and stratified estimators), "
        "scaled by the finite-population correction; never zero-width.",
        "withheld": f"No two-sided interval for a category with fewer than {MIN_CASES} human-labelled "
        f"threads in the sample, or with fewer than {MIN_SAMPLE} labelled threads in all; a one-sided "
        "upper bound is given instead.",
        "simultaneous": (f"Bonferroni: each of the {K} intervals at level 1 - {alpha:g}/{K}, so all hold "
                         f"together with probability at least {1 - alpha:g}.") if simultaneous else
        "Intervals are per category (not simultaneous); ask for simultaneous intervals to cover all "
        "categories together.",
        "clipping": "Estimates and bounds outside [0, 1] are clipped to it and marked.",
    }


def simulate_coverage(
    *,
    n_sims: int,
    N: int,
    n: int,
    true_shares: Sequence[float],
    confusion: Sequence[Sequence[float]] | np.ndarray,
    seed: int,
    method: str = "ppi",
    design: str = "srs",
    alpha: float = 0.05,
    min_per_stratum: int = 2,
    failed: float = 0.0,
) -> dict[str, Any]:
    """Check interval coverage and bias of the estimators on synthetic frames.

    Each simulation draws a frame of ``N`` true labels from ``true_shares``, a model label per
    thread from row ``truth`` of ``confusion`` (``confusion[i][j]`` = P(model = j | truth = i); rows
    sum to 1), a failed prediction with probability ``failed``, then a labelled sample of ``n``
    threads: a simple random sample (``design="srs"``) or one stratified by model label with
    Neyman allocation for all categories (``design="stratified"``, spreads from the true confusion,
    floor ``min_per_stratum``). The target is the frame's true share.

    Returns:
        ``{"categories", "coverage" (per category, among simulations that reported an interval),
        "reported" (share of simulations with an interval), "mean_coverage", "naive_bias",
        "corrected_bias", "rmse", "naive_mean_abs_bias", "corrected_mean_abs_bias", "n_sims", "N",
        "n", "method", "design", "seed"}``. Categories are named ``"c0"``...
    """
    shares = np.asarray(true_shares, dtype=float)
    conf_m = np.asarray(confusion, dtype=float)
    K = shares.size
    if conf_m.shape != (K, K) or not np.allclose(conf_m.sum(axis=1), 1) or (conf_m < 0).any():
        raise ValueError("confusion must be a K x K matrix of rows summing to 1")
    if not np.isclose(shares.sum(), 1) or (shares < 0).any():
        raise ValueError("true_shares must be non-negative and sum to 1")
    if design not in ("srs", "stratified") or method not in _METHODS:
        raise ValueError("design must be 'srs' or 'stratified'; method 'ppi' or 'confusion'")
    if not 0 < n <= N or n_sims < 1:
        raise ValueError("need 0 < n <= N and n_sims >= 1")
    rng = np.random.default_rng(seed)
    model_p = np.hstack([conf_m * (1 - failed), np.full((K, 1), failed)])  # column K: failed
    joint = (shares[:, None] * model_p).ravel()  # P(truth = i, model = j), j in 0..K
    M = K + 1
    truth_of_cell, model_of_cell = np.divmod(np.arange(K * M), M)
    covered = np.zeros((n_sims, K), dtype=bool)
    reported = np.zeros((n_sims, K), dtype=bool)
    naive_err = np.zeros((n_sims, K))
    corr_err = np.zeros((n_sims, K))
    for s in range(n_sims):
        table = rng.multinomial(N, joint / joint.sum())
        counts = table.reshape(K, M).sum(axis=0).astype(float)
        target = table.reshape(K, M).sum(axis=1) / N
        weight = None
        if design == "srs":
            picked = rng.multivariate_hypergeometric(table, n)
        else:
            p_h = np.divide(table.reshape(K, M).T, np.maximum(counts, 1)[:, None])
            spread = np.sqrt(np.clip(1 - (p_h**2).sum(axis=1), 0, None))
            alloc = neyman_allocation(counts.astype(np.int64), spread, n, floor=min_per_stratum)
            stratum_weight = counts / np.maximum(alloc, 1)
            picked = np.zeros(K * M, dtype=np.int64)
            for h in np.flatnonzero(alloc):
                picked[h::M] = rng.multivariate_hypergeometric(table[h::M], alloc[h])
        cells = np.repeat(np.arange(K * M), picked)
        if design == "stratified":
            weight = stratum_weight[model_of_cell[cells]]
        data = _Sample(model=model_of_cell[cells], human=truth_of_cell[cells], weight=weight)
        est = _estimate(counts, data, method, alpha)
        n_human = np.bincount(data.human, minlength=K)
        ok = (n_human >= MIN_CASES) & (est.hi > est.lo) & (n >= MIN_SAMPLE)
        naive_err[s] = counts[:K] / N - target
        corr_err[s] = est.theta - target
        reported[s] = ok
        covered[s] = ok & (est.lo <= target) & (target <= est.hi)
    names = [f"c{k}" for k in range(K)]
    naive_bias, corr_bias = naive_err.mean(axis=0), corr_err.mean(axis=0)
    n_rep = reported.sum(axis=0)
    coverage = np.divide(covered.sum(axis=0), n_rep, out=np.full(K, np.nan), where=n_rep > 0)
    return {
        "categories": names,
        "coverage": {c: (None if np.isnan(v) else float(v)) for c, v in zip(names, coverage)},
        "reported": dict(zip(names, (n_rep / n_sims).tolist())),
        "mean_coverage": float(np.nanmean(coverage)) if np.isfinite(coverage).any() else None,
        "naive_bias": dict(zip(names, naive_bias.tolist())),
        "corrected_bias": dict(zip(names, corr_bias.tolist())),
        "rmse": dict(zip(names, np.sqrt((corr_err**2).mean(axis=0)).tolist())),
        "naive_mean_abs_bias": float(np.abs(naive_bias).mean()),
        "corrected_mean_abs_bias": float(np.abs(corr_bias).mean()),
        "n_sims": n_sims,
        "N": N,
        "n": n,
        "method": method,
        "design": design,
        "seed": seed,
    }


# --------------------------------------------------------------------------- #
# Private helpers
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class _Sample:
    """Labelled sample as category indices (model K = no prediction); ``weight`` None for an SRS."""

    model: np.ndarray
    human: np.ndarray
    weight: np.ndarray | None


@dataclass(frozen=True)
class _Estimate:
    """Unclipped estimates, interval bounds and design-based standard errors, per category."""

    theta: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    se: np.ndarray
    uncorrected_strata: tuple[int, ...]
    single_strata: tuple[int, ...]
    ci_method: str


def _check_categories(categories: Sequence[str]) -> list[str]:
    cats = list(categories)
    if not cats or len(set(cats)) != len(cats):
        raise ValueError("categories must be a non-empty list of distinct names")
    return cats


def _counts_vector(model_counts: Mapping[str, int], cats: list[str]) -> np.ndarray:
    unknown = sorted(set(model_counts) - set(cats), key=str)
    if unknown:
        raise ValueError(f"model_counts has categories outside the codebook: {unknown}")
    counts = np.array([model_counts.get(c, 0) for c in cats], dtype=float)
    if (counts < 0).any() or not np.all(np.isfinite(counts)):
        raise ValueError("model_counts must be non-negative finite counts")
    return counts


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _sample_arrays(sample: pd.DataFrame, cats: list[str]) -> _Sample:
    missing = {"model", "human"} - set(sample.columns)
    if missing:
        raise ValueError(f"sample is missing columns {sorted(missing)}")
    index = {c: i for i, c in enumerate(cats)}
    bad = sorted({v for v in sample["human"] if _is_missing(v) or v not in index}, key=str)
    if bad:
        raise ValueError(f"sample column 'human' has labels outside the codebook: {bad}")
    bad = sorted({v for v in sample["model"] if not _is_missing(v) and v not in index}, key=str)
    if bad:
        raise ValueError(f"sample column 'model' has labels outside the codebook: {bad}")
    model = np.array([len(cats) if _is_missing(v) else index[v] for v in sample["model"]], dtype=np.int64)
    human = np.array([index[v] for v in sample["human"]], dtype=np.int64)
    weight = None
    if "weight" in sample.columns:
        weight = sample["weight"].to_numpy(dtype=float)
        if not np.all(np.isfinite(weight)) or (weight <= 0).any():
            raise ValueError("sample weights must be finite and positive")
    return _Sample(model=model, human=human, weight=weight)


def _estimate(counts: np.ndarray, data: _Sample, method: str, alpha: float) -> _Estimate:
    """Dispatch on method and design; ``counts`` has K + 1 entries (the last: no prediction)."""
    z = NormalDist().inv_cdf(1 - alpha / 2)
    if method == "ppi" and data.weight is None:
        return _difference(counts, data, z)
    return _stratified(counts, data, z)


def _tango(b: np.ndarray, c: np.ndarray, n: float, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Tango's (1998, *Stat. Med.* 17:891) score interval for pi_b - pi_c from paired data.

    ``b``: threads with human = k and model != k; ``c``: model = k and human != k (per category).
    Bisection on the score statistic, which is monotone in delta_0.
    """
    def score(d0: np.ndarray) -> np.ndarray:
        w = -(b + c) + d0 * (2 * n - b + c)
        x = (-w + np.sqrt(np.clip(w * w + 8 * n * c * d0 * (1 - d0), 0, None))) / (4 * n)
        var = n * (2 * x + d0 * (1 - d0))
        return (b - c - n * d0) / np.sqrt(np.maximum(var, 1e-300))

    est = (b - c) / n
    bounds = []
    for sign in (-1, 1):
        inner, outer = est.copy(), np.full_like(est, float(sign))
        for _ in range(60):
            mid = (inner + outer) / 2
            beyond = -sign * score(mid) > z
            outer = np.where(beyond, mid, outer)
            inner = np.where(beyond, inner, mid)
        bounds.append(np.where(-sign * score(np.full_like(est, float(sign)) * (1 - 1e-12)) > z, outer, sign * 1.0))
    return bounds[0], bounds[1]


def _difference(counts: np.ndarray, data: _Sample, z: float) -> _Estimate:
    """Difference (PPI) estimator for a simple random sample, FPC variance, Tango score interval."""
    K = counts.size - 1
    N, n = counts.sum(), data.model.size
    p_f = counts[:K] / N
    Y = np.zeros((n, K))
    Y[np.arange(n), data.human] = 1.0
    F = np.zeros((n, K + 1))
    F[np.arange(n), data.model] = 1.0
    F = F[:, :K]
    both = (Y * F).sum(axis=0)
    y_only = (Y * (1 - F)).sum(axis=0)
    f_only = ((1 - Y) * F).sum(axis=0)
    theta = p_f + (y_only - f_only) / n
    fpc = max(1 - n / N, 0.0)
    r = Y - F
    var_r = r.var(axis=0, ddof=1) if n > 1 else np.full(K, 0.25)
    se = np.sqrt(fpc * var_r / n)
    root = np.sqrt(fpc)
    t_lo, t_hi = _tango(y_only, f_only, float(n), z)
    delta = (y_only - f_only) / n
    lo = theta + root * (t_lo - delta)
    hi = theta + root * (t_hi - delta)
    return _Estimate(theta, lo, hi, se, (), (), "Tango score interval for the paired difference, FPC-scaled")


def _stratified(counts: np.ndarray, data: _Sample, z: float) -> _Estimate:
    """Post-stratified / stratified estimator by model label, FPC variance, Tango interval (effective n)."""
    H = counts.size
    K = H - 1
    N = counts.sum()
    W = counts / N
    w = np.ones(data.model.size) if data.weight is None else data.weight
    n_h = np.bincount(data.model, minlength=H).astype(float)
    sw = np.bincount(data.model, weights=w, minlength=H)
    sw2 = np.bincount(data.model, weights=w**2, minlength=H)
    t1 = np.zeros((H, K))
    np.add.at(t1, (data.model, data.human), w)
    has = n_h > 0
    P = np.zeros((H, K))
    P[has] = t1[has] / sw[has, None]
    uncorrected = tuple(int(h) for h in np.flatnonzero((counts > 0) & ~has))
    if any(~has[:K]):
        idx = np.flatnonzero(~has[:K])
        P[idx, idx] = 1.0  # an unsampled predicted-category stratum stays at the model's label
    if not has[K] and counts[K] > 0:  # failed predictions never sampled: like the rest of the sample
        sampled = np.flatnonzero(has)
        P[K] = (W[sampled] @ P[sampled]) / max(W[sampled].sum(), 1e-12)
    theta = W @ P
    kish = np.divide(sw**2, sw2, out=np.zeros(H), where=sw2 > 0)  # Kish effective size per stratum
    fpc = np.clip(1 - n_h / np.maximum(counts, 1), 0.0, 1.0)
    var_h = np.where((kish > 1)[:, None], P * (1 - P) / np.maximum(kish - 1, 1e-12)[:, None], 0.0)
    var_h[(n_h == 1)] = 0.25
    var_h[~has] = 0.0
    se = np.sqrt(((W**2 * fpc)[:, None] * var_h).sum(axis=0))
    # Tango's score interval on the rectifier with Korn & Graubard's effective sample size:
    # shares of missed (human k, model not k) and false-positive (model k, human not k) threads
    own = np.zeros((H, K))
    own[np.arange(K), np.arange(K)] = 1.0
    missed = (W[:, None] * P * (1 - own)).sum(axis=0)
    false_pos = (W[:, None] * (1 - P) * own).sum(axis=0)
    delta = missed - false_pos
    var_nofpc = ((W**2)[:, None] * var_h).sum(axis=0)
    n_total = float(n_h.sum())
    spread = missed + false_pos - delta**2
    n_eff = np.where(var_nofpc > 0, np.divide(spread, var_nofpc, out=np.full(K, n_total), where=var_nofpc > 0),
                     n_total)
    n_eff = np.clip(n_eff, 1.0, None)
    t_lo, t_hi = _tango(missed * n_eff, false_pos * n_eff, n_eff, z)
    root = np.sqrt(max(1 - n_total / N, 0.0))
    lo = theta + root * (t_lo - delta)
    hi = theta + root * (t_hi - delta)
    single = tuple(int(h) for h in np.flatnonzero((n_h == 1) & (counts > 1)))
    return _Estimate(theta, lo, hi, se, uncorrected, single,
                     "Tango score interval with Korn & Graubard effective sample size, FPC-scaled")
