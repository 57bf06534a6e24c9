"""Confidence intervals shared by the statistics modules (agreement, model comparison, prevalence).

Every function is pure and returns ``((lo, hi), reason)``: either an interval with
``reason = None`` or ``(None, None)`` with the reason it is withheld. No interval is ever
zero-width: a degenerate one is withheld with its reason.

Methods and references
----------------------
- Wilson score interval for a binomial proportion (Wilson 1927; recommended near 0 and 1 by
  Brown, Cai & DasGupta 2001, *Stat. Sci.* 16:101). Never zero-width: 110 of 110 gives
  [0.966, 1].
- Clopper-Pearson exact interval (Clopper & Pearson 1934), from beta quantiles; at least the
  nominal coverage for every true proportion (often more).
- Effective-sample-size versions for a proportion estimated from clustered or unequally
  weighted data (Korn & Graubard 1998, *Survey Methodology* 24:193; evaluated with the Wilson
  form by Dean & Pagano 2015, *J. Survey Stat. Methodol.* 3:484): ``n_eff = p (1 - p) / var``,
  the actual n when ``p`` is 0 or 1 or the variance is 0, then the binomial interval with
  ``x = n_eff p`` successes out of ``n_eff``.
- Bootstrap percentile and BCa intervals (Efron & Tibshirani 1993, ch. 13-14); BCa's
  acceleration from a (weighted) jackknife.
- Student-t interval ``estimate +/- t_{df} se``, as irrCAC reports Gwet's analytic standard
  errors (Gwet 2014, *Handbook of Inter-Rater Reliability*, 4th ed.).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
from scipy import stats as _sps

__all__ = [
    "MIN_SUPPORT",
    "bca_interval",
    "clopper_pearson_interval",
    "effective_n",
    "percentile_interval",
    "t_interval",
    "wilson_interval",
    "wilson_interval_effective",
    "z_value",
]

Interval = tuple[float | None, float | None]
Result = tuple[Interval, str | None]

#: Fewest independent units (threads) for which any interval is reported.
MIN_SUPPORT = 10
#: Share of bootstrap resamples allowed to be undefined before a bootstrap interval is withheld.
MAX_UNDEFINED_RESAMPLE_SHARE = 0.05

_NONE: Interval = (None, None)


def z_value(level: float) -> float:
    """Two-sided standard normal quantile for a confidence level (1.96 for 0.95)."""
    _check_level(level)
    return NormalDist().inv_cdf(0.5 + level / 2)


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")


def _checked(lo: float, hi: float, what: str) -> Result:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return _NONE, f"the {what} interval is not finite"
    if hi <= lo:
        return _NONE, (f"the {what} interval would have zero width: no variation was observed "
                       "(for example no disagreement), so the data cannot show the uncertainty")
    return (float(lo), float(hi)), None


def wilson_interval(successes: float, n: float, *, level: float = 0.95) -> Result:
    """Wilson score interval for ``successes`` out of ``n`` (both may be non-integer)."""
    _check_level(level)
    if not n > 0:
        return _NONE, "no observations (n = 0)"
    if successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    z = z_value(level)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return _checked(lo, hi, "Wilson")


def clopper_pearson_interval(successes: float, n: float, *, level: float = 0.95) -> Result:
    """Clopper-Pearson (exact) interval from beta quantiles; non-integer counts allowed."""
    _check_level(level)
    if not n > 0:
        return _NONE, "no observations (n = 0)"
    if successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    tail = (1 - level) / 2
    lo = 0.0 if successes == 0 else float(_sps.beta.ppf(tail, successes, n - successes + 1))
    hi = 1.0 if successes == n else float(_sps.beta.ppf(1 - tail, successes + 1, n - successes))
    return _checked(lo, hi, "Clopper-Pearson")


def effective_n(p: float, variance: float, n: float, *, cap: float | None = None) -> float:
    """Korn & Graubard's effective sample size ``p (1 - p) / variance`` (at most ``cap`` if given).

    The actual ``n`` is used when ``p`` is 0 or 1 or the variance is 0 (nothing to estimate a
    design effect from). Without a cap it may exceed ``n``: several reviewer pairs per thread
    carry more information than one binomial trial per thread.
    """
    if p <= 0 or p >= 1 or not variance > 0:
        return float(n)
    value = p * (1 - p) / variance
    return float(value if cap is None else min(cap, value))


def wilson_interval_effective(p: float, variance: float, n: float, *, level: float = 0.95) -> Result:
    """Wilson interval for a proportion ``p`` with estimated ``variance`` from ``n`` units.

    The variance may come from a linearisation that allows for clustering (several reviewer
    pairs per thread); see :func:`effective_n`.
    """
    if not n > 0:
        return _NONE, "no observations (n = 0)"
    n_eff = effective_n(p, variance, n)
    return wilson_interval(min(max(p, 0.0), 1.0) * n_eff, n_eff, level=level)


def t_interval(
    estimate: float, se: float, df: float, *, level: float = 0.95, upper: float | None = 1.0,
    lower: float | None = None,
) -> Result:
    """``estimate +/- t_{df, (1+level)/2} se``, clipped to ``[lower, upper]`` where given."""
    _check_level(level)
    if not (np.isfinite(estimate) and np.isfinite(se)) or df < 1:
        return _NONE, "the standard error is undefined"
    if se <= 0:
        return _NONE, "the standard error is 0 (no variation was observed)"
    t = float(_sps.t.ppf(0.5 + level / 2, df))
    lo, hi = estimate - t * se, estimate + t * se
    if upper is not None:
        hi = min(hi, upper)
    if lower is not None:
        lo = max(lo, lower)
    return _checked(lo, hi, "t")


def _defined(values: np.ndarray) -> tuple[np.ndarray, str | None]:
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values, "no bootstrap resamples requested (n_boot = 0)"
    finite = values[np.isfinite(values)]
    undefined_share = 1 - finite.size / values.size
    if undefined_share > MAX_UNDEFINED_RESAMPLE_SHARE:
        return finite, (
            f"undefined in {undefined_share:.0%} of bootstrap resamples "
            f"(more than {MAX_UNDEFINED_RESAMPLE_SHARE:.0%})"
        )
    return finite, None


def percentile_interval(values: np.ndarray, *, level: float = 0.95) -> Result:
    """Percentile interval over the defined bootstrap replicates."""
    _check_level(level)
    finite, reason = _defined(values)
    if reason:
        return _NONE, reason
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return _checked(lo, hi, "bootstrap")


def bca_interval(
    estimate: float,
    values: np.ndarray,
    jackknife: np.ndarray,
    jackknife_weights: np.ndarray | None = None,
    *,
    level: float = 0.95,
) -> Result:
    """Bias-corrected and accelerated bootstrap interval (Efron & Tibshirani 1993, ch. 14.3).

    ``jackknife`` holds leave-one-out estimates; ``jackknife_weights`` says how many units
    share each (units with the same data give the same leave-one-out value).
    """
    _check_level(level)
    finite, reason = _defined(values)
    if reason:
        return _NONE, reason
    jack = np.asarray(jackknife, dtype=float)
    w = np.ones_like(jack) if jackknife_weights is None else np.asarray(jackknife_weights, dtype=float)
    keep = np.isfinite(jack) & (w > 0)
    if keep.sum() < 2:
        return _NONE, "the jackknife for the BCa acceleration is undefined"
    jack, w = jack[keep], w[keep]
    below = np.mean(finite < estimate) + 0.5 * np.mean(finite == estimate)
    if below <= 0 or below >= 1:
        return _NONE, "every bootstrap replicate lies on one side of the estimate"
    z0 = NormalDist().inv_cdf(float(below))
    centred = np.average(jack, weights=w) - jack
    denom = 6 * (np.sum(w * centred**2)) ** 1.5
    accel = float(np.sum(w * centred**3) / denom) if denom > 0 else 0.0
    z = z_value(level)
    quantiles = []
    for zq in (-z, z):
        shifted = z0 + (z0 + zq) / (1 - accel * (z0 + zq))
        quantiles.append(100 * NormalDist().cdf(shifted))
    lo, hi = np.percentile(finite, quantiles)
    return _checked(lo, hi, "BCa bootstrap")
