"""Category prevalence corrected for classifier error, with confidence intervals.

The model (GPT-4o) labels every thread of a corpus of ``N`` threads; a random
sample of ``n`` threads also carries the adjudicated human consensus. The
model's shares alone are biased by its errors; these functions estimate each
category's share of the corpus as humans would label it, with a CI.

Methods and references
----------------------
- ``"ppi"``: prediction-powered inference for a mean (Angelopoulos, Bates,
  Fannjiang, Jordan & Zrnic, *Science* 382:669, 2023). For category k,
  ``theta_k = mean_corpus(1[model=k]) + mean_sample(1[human=k] - 1[model=k])``
  with variance ``var_corpus(1[model=k]) / N + var_sample(rectifier) / n`` and a
  normal interval. That is the simple-random-sample form, used when the sample
  has no ``weight`` column. With a ``weight`` column (a sample stratified by
  the model's label, see :func:`stratified_sample_plan`), the rectifier is a
  stratified estimator over predicted-category strata h: stratum shares
  ``W_h = N_h / N`` come from the corpus counts (known exactly), the rectifier
  mean inside each stratum is weight-normalised (Hajek), and its variance is
  ``sum_h W_h^2 (1 - n_h/N_h) v_h`` with ``v_h`` the linearised variance of the
  Hajek mean (Cochran, *Sampling Techniques*, 3rd ed., 1977, ch. 5 and 6.12).
  Since the model label is constant inside a stratum this estimate equals the
  confusion-matrix point estimate below. The corrected shares of all
  categories sum to 1 exactly; a share or bound outside [0, 1] is clipped and
  the clipping is reported.
- ``"confusion"``: confusion-matrix correction by predicted-category strata
  (the "classify and count, then adjust" estimator; Buonaccorsi, *Measurement
  Error*, 2010, ch. 3): ``share_j = sum_i p_model(i) * P(human=j | model=i)``
  with ``P(j | i)`` estimated from the sampled threads the model put in i
  (weight-normalised if weights are given) and ``p_model`` the corpus share.
  For a simple random sample this is the post-stratified estimator; its CI
  uses the delta-method (linearised) variance of the stratified estimator
  above, conditional on the stratum sample sizes. With a weighted sample the
  two methods therefore give the same numbers.

Small counts. A Wald variance is 0 when the sample shows no disagreement on
a category, which is common for rare categories (say 0.8% of threads, where a
few missed threads hide in the big category's stratum) and made such
intervals miss the truth about half the time in simulation. In the variance
only (never the point estimate) each category therefore gets two
pseudo-disagreements, in the spirit of Agresti & Coull (*Am. Stat.* 52:119,
1998) who add z^2/2 ~ 2 pseudo-events: one of each sign for the simple PPI
rectifier, and ``2 n_h / n`` pseudo-threads of the opposite label in each
stratum for the stratified variance (the same total under proportional
allocation). Its weight fades as disagreements are observed.
:func:`simulate_coverage` measures the resulting coverage.

The target is the share in this corpus. A predicted-category stratum that
holds threads in the corpus but none in the sample cannot be corrected: its
threads are counted at their model label and a note says so.

Undefined values are ``None`` and their reason is stored in the result's
``undefined`` mapping under a dotted path (``"categories.Coding.ci"``).
Results are plain JSON types and never contain NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["estimate_prevalence", "simulate_coverage", "stratified_sample_plan"]

_METHODS = ("ppi", "confusion")
_SMALL_COUNTS = (
    " Intervals count two imagined disagreements per category (after Agresti & Coull, 1998)"
    " so that rare categories are not given falsely narrow intervals; this makes them"
    " slightly conservative."
)
_DESCRIPTIONS = {
    ("ppi", False): (
        "Prediction-powered inference (Angelopoulos et al., Science 2023): the model's "
        "share of each category over all {N} threads, plus a correction equal to the "
        "average difference between human and model labels in a simple random sample "
        "of {n} human-labelled threads. {conf}% normal confidence interval."
    ),
    ("ppi", True): (
        "Prediction-powered inference (Angelopoulos et al., Science 2023) with a "
        "stratified correction: the model's share of each category over all {N} "
        "threads, plus the weighted average difference between human and model labels "
        "in {n} human-labelled threads sampled within each model-predicted category. "
        "{conf}% normal confidence interval."
    ),
    ("confusion", False): (
        "Confusion-matrix correction: for each category the model predicted, the {n} "
        "human-labelled threads (a simple random sample) show how humans would label "
        "those threads; the model's counts over all {N} threads are redistributed "
        "accordingly. {conf}% normal confidence interval (delta method)."
    ),
    ("confusion", True): (
        "Confusion-matrix correction: for each category the model predicted, the {n} "
        "human-labelled threads sampled within it (weighted by their sampling design) "
        "show how humans would label those threads; the model's counts over all {N} "
        "threads are redistributed accordingly. {conf}% normal confidence interval "
        "(delta method)."
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
) -> dict[str, Any]:
    """Estimate each category's share of the corpus, corrected with human labels.

    Args:
        model_counts: category -> number of corpus threads the model gave that
            label (``N`` is the sum; categories missing here count 0).
        sample: one row per human-labelled thread, columns ``model`` and
            ``human`` (labels from ``categories``) and optional ``weight``
            (design weight, 1 / inclusion probability). With ``weight`` the
            sample is taken to be stratified by the ``model`` label.
        categories: the codebook's categories, in display order.
        alpha: 1 - confidence level of the intervals.
        method: ``"ppi"`` or ``"confusion"`` (see the module docstring).

    Returns:
        ``{"N", "n", "method", "method_description", "design", "confidence",
        "categories": {category: {"naive_share", "corrected_share",
        "unclipped_share", "ci", "clipped", "se", "n_sample_human",
        "n_sample_model"}}, "notes": [...], "undefined": {path: reason}}``.
        ``ci`` is ``[lo, hi]`` at level ``confidence`` (95% by default) and
        ``se`` its standard error; ``corrected_share`` and ``ci`` are clipped
        to [0, 1] (``clipped`` says so), ``unclipped_share`` is not.

    Raises:
        ValueError: unknown method, bad ``alpha``, missing columns, labels
            outside ``categories``, more sampled threads than corpus threads
            under a model label, negative counts or non-positive weights.
    """
    cats = _check_categories(categories)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    counts = _counts_vector(model_counts, cats)
    data = _sample_arrays(sample, cats)
    N, n = int(counts.sum()), int(data.model.size)
    weighted = data.weight is not None
    conf = round(100 * (1 - alpha), 6)
    description = _DESCRIPTIONS[(method, weighted)].format(N=N, n=n, conf=f"{conf:g}")
    description += _SMALL_COUNTS
    undefined: dict[str, str] = {}
    notes: list[str] = []
    n_human = np.bincount(data.human, minlength=len(cats))
    n_model = np.bincount(data.model, minlength=len(cats))
    naive = counts / N if N else None

    estimate: _Estimate | None = None
    reason: str | None = None
    if N == 0:
        reason = "the corpus holds no model-labelled thread (N = 0)"
    elif n == 0:
        reason = "no human-labelled thread in the sample (n = 0): nothing to correct with"
    else:
        excess = [c for c, k, m in zip(cats, counts, n_model) if m > k]
        if excess:
            raise ValueError(f"sample has more threads than the corpus under model label(s) {excess}")
        estimate = _estimate(counts, data, method, alpha)
        notes.extend(
            f"No human-labelled thread among the {int(counts[h])} threads the model put in "
            f"'{cats[h]}': they are counted at the model's label, uncorrected, and the "
            "interval does not reflect their error."
            for h in estimate.uncorrected_strata
        )
        notes.extend(
            f"Only one human-labelled thread among those the model put in '{cats[h]}': "
            "its within-stratum variance was set to the binomial maximum 1/4."
            for h in estimate.single_strata
        )

    per_cat: dict[str, dict[str, Any]] = {}
    for k, cat in enumerate(cats):
        row: dict[str, Any] = {
            "naive_share": None if naive is None else float(naive[k]),
            "corrected_share": None,
            "unclipped_share": None,
            "ci": None,
            "clipped": False,
            "se": None,
            "n_sample_human": int(n_human[k]),
            "n_sample_model": int(n_model[k]),
        }
        if estimate is None:
            fields = ("naive_share",) * (naive is None) + ("corrected_share", "ci", "se")
            undefined.update({f"categories.{cat}.{f}": str(reason) for f in fields})
        else:
            theta = float(estimate.theta[k])
            row["unclipped_share"] = theta
            row["corrected_share"] = min(max(theta, 0.0), 1.0)
            row["clipped"] = row["corrected_share"] != theta
            lo, hi = float(estimate.lo[k]), float(estimate.hi[k])
            row["ci"] = [min(max(lo, 0.0), 1.0), min(max(hi, 0.0), 1.0)]
            row["clipped"] = row["clipped"] or row["ci"] != [lo, hi]
            row["se"] = float(estimate.se[k])
            if row["clipped"]:
                notes.append(f"'{cat}': the estimate or interval fell outside [0, 1] and was clipped.")
            if n_human[k] == 0 and n_model[k] == 0:
                notes.append(
                    f"'{cat}': no sampled thread carries this label (human or model), so the "
                    "sample shows none of the model's errors on it; its interval rests on the "
                    "small-count adjustment."
                )
        per_cat[cat] = row

    return {
        "N": N,
        "n": n,
        "method": method,
        "method_description": description,
        "design": "stratified by model label (weighted)" if weighted else "simple random sample",
        "confidence": 1 - alpha,
        "categories": per_cat,
        "notes": notes,
        "undefined": undefined,
    }


def stratified_sample_plan(
    predicted: Mapping[str, str] | pd.Series,
    *,
    size: int,
    seed: int,
    min_per_stratum: int = 20,
) -> pd.DataFrame:
    """Draw a sample stratified by predicted category, over-sampling rare strata.

    Allocation: stratum h (``N_h`` items) gets ``n_h = min(N_h, max(m, c N_h))``
    with ``m = min_per_stratum`` and ``c`` chosen so the ``n_h`` sum to ``size``
    (proportional allocation with a floor, capped by the stratum size), then
    rounded by largest remainder. If ``size`` cannot give every stratum its
    floor, the floor is lowered evenly. Items are drawn without replacement
    inside each stratum; a stratum given 0 items is absent, so the weights then
    sum to less than ``N``.

    Args:
        predicted: item id -> predicted category (a mapping or a Series indexed
            by item id). Items are sorted by id first, so the draw depends only
            on the contents and the seed.
        size: total number of items to draw (capped at the number of items).
        seed: seed of ``numpy.random.default_rng``.
        min_per_stratum: floor per stratum, when the stratum has that many.

    Returns:
        DataFrame with columns ``item``, ``stratum``, ``inclusion_prob``
        (``n_h / N_h``) and ``weight`` (``N_h / n_h``), sorted by stratum then item.
    """
    if size < 0 or min_per_stratum < 0:
        raise ValueError("size and min_per_stratum must be non-negative")
    series = pd.Series(predicted, dtype=object) if isinstance(predicted, Mapping) else predicted
    if series.isna().any():
        raise ValueError("predicted contains missing categories")
    series = series.sort_index(kind="stable")
    strata = sorted(series.unique(), key=str)
    groups = {s: series.index[(series == s).to_numpy()].to_numpy() for s in strata}
    sizes = np.array([len(groups[s]) for s in strata], dtype=np.int64)
    alloc = _allocate(sizes, size, min_per_stratum)
    rng = np.random.default_rng(seed)
    frames = []
    for s, N_h, n_h in zip(strata, sizes, alloc):
        if n_h == 0:
            continue
        chosen = np.sort(rng.choice(N_h, size=n_h, replace=False))
        frames.append(
            pd.DataFrame(
                {
                    "item": groups[s][chosen],
                    "stratum": s,
                    "inclusion_prob": n_h / N_h,
                    "weight": N_h / n_h,
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            {"item": [], "stratum": [], "inclusion_prob": [], "weight": []}
        ).astype({"item": object, "stratum": object, "inclusion_prob": float, "weight": float})
    return pd.concat(frames, ignore_index=True)


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
    min_per_stratum: int = 20,
) -> dict[str, Any]:
    """Check interval coverage and bias of the estimators on synthetic corpora.

    Each simulation draws a corpus of ``N`` true labels from ``true_shares``, a
    model label per thread from row ``truth`` of ``confusion`` (``confusion[i][j]``
    = P(model = j | truth = i); rows sum to 1), then a labelled sample of ``n``
    threads, either a simple random sample (``design="srs"``, no weights) or
    the plan of :func:`stratified_sample_plan` (``design="stratified"``). The
    target is the corpus's true share.

    Returns:
        ``{"categories", "coverage" (per category, share of simulations whose
        interval held the truth), "mean_coverage", "naive_bias", "corrected_bias" (mean
        of estimate - truth per category), "naive_mean_abs_bias",
        "corrected_mean_abs_bias" (mean over categories of |bias|), "n_sims",
        "N", "n", "method", "design", "seed"}``. Categories are named ``"c0"``...
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
    joint = (shares[:, None] * conf_m).ravel()  # P(truth = i, model = j)
    truth_of_cell, model_of_cell = np.divmod(np.arange(K * K), K)
    covered = np.zeros((n_sims, K), dtype=bool)
    naive_err = np.zeros((n_sims, K))
    corr_err = np.zeros((n_sims, K))
    for s in range(n_sims):
        # the corpus only matters through its truth x model table; a sample without
        # replacement from it is multivariate hypergeometric over the cells
        table = rng.multinomial(N, joint / joint.sum())
        counts = table.reshape(K, K).sum(axis=0)
        target = table.reshape(K, K).sum(axis=1) / N
        stratum_weight = None
        if design == "srs":
            picked = rng.multivariate_hypergeometric(table, n)
        else:
            alloc = _allocate(counts, n, min_per_stratum)
            stratum_weight = counts / np.maximum(alloc, 1)
            picked = np.zeros(K * K, dtype=np.int64)
            for h in np.flatnonzero(alloc):
                picked[h::K] = rng.multivariate_hypergeometric(table[h::K], alloc[h])
        cells = np.repeat(np.arange(K * K), picked)
        weight = None if stratum_weight is None else stratum_weight[model_of_cell[cells]]
        data = _Sample(model=model_of_cell[cells], human=truth_of_cell[cells], weight=weight)
        est = _estimate(counts.astype(float), data, method, alpha)
        naive_err[s] = counts / N - target
        corr_err[s] = est.theta - target
        covered[s] = (est.lo <= target) & (target <= est.hi)
    names = [f"c{k}" for k in range(K)]
    naive_bias, corr_bias = naive_err.mean(axis=0), corr_err.mean(axis=0)
    coverage = covered.mean(axis=0)
    return {
        "categories": names,
        "coverage": dict(zip(names, coverage.tolist())),
        "mean_coverage": float(coverage.mean()),
        "naive_bias": dict(zip(names, naive_bias.tolist())),
        "corrected_bias": dict(zip(names, corr_bias.tolist())),
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
    """Labelled sample as category indices; ``weight`` is None for an SRS."""

    model: np.ndarray
    human: np.ndarray
    weight: np.ndarray | None


@dataclass(frozen=True)
class _Estimate:
    """Unclipped estimates, interval bounds and standard errors, per category."""

    theta: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    se: np.ndarray
    uncorrected_strata: tuple[int, ...]
    single_strata: tuple[int, ...]


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


def _sample_arrays(sample: pd.DataFrame, cats: list[str]) -> _Sample:
    missing = {"model", "human"} - set(sample.columns)
    if missing:
        raise ValueError(f"sample is missing columns {sorted(missing)}")
    index = {c: i for i, c in enumerate(cats)}
    arrays = []
    for col in ("model", "human"):
        bad = sorted({v for v in sample[col] if v not in index}, key=str)
        if bad:
            raise ValueError(f"sample column {col!r} has labels outside the codebook: {bad}")
        arrays.append(np.array([index[v] for v in sample[col]], dtype=np.int64))
    weight = None
    if "weight" in sample.columns:
        weight = sample["weight"].to_numpy(dtype=float)
        if not np.all(np.isfinite(weight)) or (weight <= 0).any():
            raise ValueError("sample weights must be finite and positive")
    return _Sample(model=arrays[0], human=arrays[1], weight=weight)


def _allocate(sizes: np.ndarray, size: int, floor: int) -> np.ndarray:
    """Integer allocation ``min(N_h, max(floor, c N_h))`` summing to ``size``."""
    sizes = np.asarray(sizes, dtype=np.int64)
    total = int(min(size, sizes.sum()))
    if total == 0:
        return np.zeros_like(sizes)
    floors = np.minimum(sizes, floor).astype(float)
    if floors.sum() > total:  # cannot meet the floor: water-fill evenly
        lo, hi = 0.0, float(floor)
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if np.minimum(sizes, mid).sum() < total else (lo, mid)
        target = np.minimum(sizes, hi)
    else:  # proportional with floor and cap: find c by bisection
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            s = np.minimum(sizes, np.maximum(floors, mid * sizes)).sum()
            lo, hi = (mid, hi) if s < total else (lo, mid)
        target = np.minimum(sizes, np.maximum(floors, hi * sizes))
    alloc = np.floor(target).astype(np.int64)
    order = np.argsort(-(target - alloc), kind="stable")
    for h in order:
        if alloc.sum() >= total:
            break
        if alloc[h] < sizes[h]:
            alloc[h] += 1
    return alloc


def _estimate(counts: np.ndarray, data: _Sample, method: str, alpha: float) -> _Estimate:
    """Dispatch on method and design; ``counts`` > 0 where the sample has model labels."""
    z = NormalDist().inv_cdf(1 - alpha / 2)
    if method == "ppi" and data.weight is None:
        return _ppi_srs(counts, data, z)
    return _stratified(counts, data, z)


def _ppi_srs(counts: np.ndarray, data: _Sample, z: float) -> _Estimate:
    """PPI mean estimate for a simple random sample (Angelopoulos et al., 2023)."""
    K, N, n = counts.size, counts.sum(), data.model.size
    p_f = counts / N
    table = np.zeros((K, K))
    np.add.at(table, (data.model, data.human), 1.0)
    n_f, n_y, n_both = table.sum(axis=1), table.sum(axis=0), np.diag(table)
    rect = (n_y - n_f) / n
    theta = p_f + rect
    # rectifier values are in {-1, 0, 1}; add one pseudo-disagreement of each sign
    up, down, n_adj = n_y - n_both + 1, n_f - n_both + 1, n + 2
    var_r = (up + down - (up - down) ** 2 / n_adj) / (n_adj - 1)
    var_f = p_f * (1 - p_f) * N / (N - 1) if N > 1 else np.zeros(K)
    se = np.sqrt(var_f / N + var_r / n)
    return _Estimate(theta, theta - z * se, theta + z * se, se, (), ())


def _stratified(counts: np.ndarray, data: _Sample, z: float) -> _Estimate:
    """Stratified (by model label) estimate with its linearised variance."""
    K, N, n = counts.size, counts.sum(), data.model.size
    W = counts / N
    w = np.ones(n) if data.weight is None else data.weight
    n_h = np.bincount(data.model, minlength=K).astype(float)
    sw = np.bincount(data.model, weights=w, minlength=K)
    sw2 = np.bincount(data.model, weights=w**2, minlength=K)
    t1, t2 = np.zeros((K, K)), np.zeros((K, K))
    np.add.at(t1, (data.model, data.human), w)
    np.add.at(t2, (data.model, data.human), w**2)
    has = n_h > 0
    # P(human = j | model = h); strata without labels stay at the model's label
    P = np.eye(K)
    P[has] = t1[has] / sw[has, None]
    theta = W @ P
    # variance with 2 n_h / n pseudo-threads of the opposite label per stratum and
    # category, each of the stratum's mean weight (row h, column k)
    delta = 2 * n_h / n
    w_bar = np.divide(sw, n_h, out=np.zeros(K), where=has)
    off = 1 - np.eye(K)
    n_a = (n_h + delta)[:, None]
    sw_a = (sw + delta * w_bar)[:, None]
    sw2_a = (sw2 + delta * w_bar**2)[:, None]
    t1_a = t1 + off * (delta * w_bar)[:, None]
    t2_a = t2 + off * (delta * w_bar**2)[:, None]
    many = n_h > 1
    m = np.divide(t1_a, sw_a, out=np.zeros((K, K)), where=many[:, None])
    resid = t2_a * (1 - 2 * m) + m**2 * sw2_a
    v = np.divide(n_a * resid, (n_a - 1) * sw_a**2, out=np.zeros((K, K)), where=many[:, None])
    v[n_h == 1] = 0.25
    fpc = np.clip(1 - n_h / np.maximum(counts, 1), 0.0, 1.0)
    se = np.sqrt(np.maximum((W**2 * fpc) @ v, 0.0))
    uncorrected = tuple(int(h) for h in np.flatnonzero((counts > 0) & ~has))
    single = tuple(int(h) for h in np.flatnonzero((n_h == 1) & (counts > 1)))
    return _Estimate(theta, theta - z * se, theta + z * se, se, uncorrected, single)
