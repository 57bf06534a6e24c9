"""Allocation of a human-labelled sample across model-predicted strata, and sample-size planning.

Pure functions over stratum sizes and the model's confusion so far (no database, no randomness).

- :func:`neyman_allocation`: ``n_h`` proportional to ``N_h S_h`` (Neyman 1934; Cochran, *Sampling
  Techniques*, 3rd ed., 1977, sec. 5.5), with a small floor per stratum (so every stratum's
  variance can be estimated) and each stratum capped at its size, rounded by largest remainder.
  With equal ``S_h`` it is proportional allocation.
- :func:`stratum_spread`: the within-stratum standard deviations ``S_h`` that the allocation and the
  planner use: for one category ``k``, ``sqrt(p_hk (1 - p_hk))``; for all categories together
  ``sqrt(1 - sum_k p_hk^2)`` (minimises the sum of the categories' variances). ``p_hk`` =
  P(human label k | model label h) estimated from the labelled threads so far, shrunk toward a
  stated prior (two pseudo-threads: the model right with probability ``prior_accuracy``, else
  distributed like the model's shares), so strata with few or no labels still get a value.
- :func:`plan_sample_size`: human labels needed for a target 95% interval width on one category's
  share, for a simple random sample (difference estimator, variance ``(1 - n/N) S_r^2 / n``) and for
  a sample stratified by the model's label (Neyman-optimal for that category, and proportional),
  both with the finite-population correction (Cochran eq. 4.1, 5.25).
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = ["confusion_estimate", "neyman_allocation", "plan_sample_size", "stratum_spread"]

#: Pseudo-threads of prior per stratum when estimating P(human | model) from few labels.
PRIOR_WEIGHT = 2.0
PRIOR_ACCURACY = 0.8


def neyman_allocation(sizes: Sequence[int], spreads: Sequence[float], total: int, *, floor: int = 2) -> np.ndarray:
    """Integer ``n_h`` summing to ``min(total, sum N_h)``: ``max(floor, c N_h S_h)`` capped at ``N_h``.

    When ``total`` cannot give every stratum its floor, the floor is lowered evenly. A stratum with
    ``S_h = 0`` still gets its floor. Raises ``ValueError`` on negative input.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    spreads = np.asarray(spreads, dtype=float)
    if sizes.shape != spreads.shape or (sizes < 0).any() or (spreads < 0).any() or floor < 0 or total < 0:
        raise ValueError("sizes and spreads must be non-negative and of the same length; total and floor >= 0")
    goal = int(min(total, sizes.sum()))
    if goal == 0:
        return np.zeros_like(sizes)
    floors = np.minimum(sizes, floor).astype(float)
    score = np.where(spreads > 1e-9, sizes * spreads, 0.0)
    if score.sum() == 0:
        score = sizes.astype(float)
    if floors.sum() >= goal:  # cannot meet the floor: water-fill evenly
        lo, hi = 0.0, float(max(floor, 1))
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if np.minimum(sizes, mid).sum() < goal else (lo, mid)
        target = np.minimum(sizes, hi)
    else:
        positive = score > 0
        lo, hi = 0.0, float((sizes[positive] / score[positive]).max()) + 1.0
        for _ in range(100):
            mid = (lo + hi) / 2
            s = np.minimum(sizes, np.maximum(floors, mid * score)).sum()
            lo, hi = (mid, hi) if s < goal else (lo, mid)
        target = np.minimum(sizes, np.maximum(floors, hi * score))
    alloc = np.minimum(np.floor(target).astype(np.int64), sizes)
    order = np.argsort(-(target - alloc), kind="stable")
    while alloc.sum() < goal:
        for h in order:
            if alloc.sum() >= goal:
                break
            if alloc[h] < sizes[h]:
                alloc[h] += 1
    while alloc.sum() > goal:  # rounding overshoot: take from the largest
        h = int(np.argmax(alloc - np.minimum(sizes, floor)))
        alloc[h] -= 1
    return alloc


def confusion_estimate(
    stratum_sizes: Sequence[int],
    labelled: np.ndarray,
    own_category: Sequence[int | None] | None = None,
    *,
    prior_accuracy: float = PRIOR_ACCURACY,
    prior_weight: float = PRIOR_WEIGHT,
) -> np.ndarray:
    """P(human = k | model stratum h), H x K, shrunk toward the prior (see the module docstring).

    ``labelled[h, k]`` counts labelled threads in stratum h with human label k; ``own_category[h]``
    is the category stratum h's model label names (None: none, e.g. failed predictions); by default
    stratum h names category h. The prior puts ``prior_accuracy`` on that category and spreads the
    rest like the model's shares over the strata.
    """
    sizes = np.asarray(stratum_sizes, dtype=float)
    x = np.asarray(labelled, dtype=float)
    H, K = x.shape
    own = list(range(H)) if own_category is None else list(own_category)
    shares = np.zeros(K)
    for h, k in enumerate(own):
        if k is not None and k < K:
            shares[k] += sizes[h]
    shares = shares / shares.sum() if shares.sum() > 0 else np.full(K, 1.0 / K)
    prior = np.tile(shares, (H, 1))
    for h, k in enumerate(own):
        if k is not None and k < K:
            prior[h] *= 1 - prior_accuracy
            prior[h, k] += prior_accuracy
    return (x + prior_weight * prior) / (x.sum(axis=1, keepdims=True) + prior_weight)


def stratum_spread(confusion: np.ndarray, category: int | None = None) -> np.ndarray:
    """Within-stratum standard deviation ``S_h`` for one category (index) or all categories (None)."""
    p = np.asarray(confusion, dtype=float)
    if category is None:
        return np.sqrt(np.clip(1 - (p**2).sum(axis=1), 0.0, None))
    return np.sqrt(p[:, category] * (1 - p[:, category]))


def plan_sample_size(
    stratum_sizes: Sequence[int],
    confusion: np.ndarray,
    *,
    category: int,
    width: float,
    level: float = 0.95,
    floor: int = 2,
    own_category: Sequence[int | None] | None = None,
) -> dict[str, Any]:
    """Human labels needed so the ``level`` interval on one category's share has full ``width``.

    ``stratum_sizes`` are the corpus counts per model stratum; ``confusion`` is P(human | model)
    (H x K, see :func:`confusion_estimate`); ``own_category[h]`` the category stratum h's model
    label names (default: stratum h names category h).

    Returns ``{"srs": n, "stratified_neyman": n, "stratified_proportional": n, "N", "share",
    "sd_srs", "assumptions"}``; each n is the smallest integer meeting the width (at most N), the
    Neyman figure including the per-stratum floor.
    """
    if not 0 < width < 1:
        raise ValueError(f"width must be between 0 and 1, got {width!r}")
    W_n = np.asarray(stratum_sizes, dtype=float)
    N = float(W_n.sum())
    if N <= 0:
        raise ValueError("the corpus is empty")
    W = W_n / N
    p = np.asarray(confusion, dtype=float)
    K = p.shape[1]
    if not 0 <= category < K:
        raise ValueError("category index out of range")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    V = (width / (2 * z)) ** 2
    # simple random sample, difference estimator: r = 1[human=k] - 1[model=k]
    names = list(range(len(W))) if own_category is None else list(own_category)
    own = np.array([1.0 if k == category else 0.0 for k in names])
    mean_r = float(W @ (p[:, category] - own))
    mean_r2 = float(W @ np.where(own > 0, 1 - p[:, category], p[:, category]))
    var_r = max(mean_r2 - mean_r**2, 0.0)
    n_srs = _finite_n(var_r / V, N)
    S = stratum_spread(p, category)
    n_neyman = _finite_n_stratified((W @ S) ** 2, float(W @ S**2), V, N)
    n_prop = _finite_n_stratified(float(W @ S**2), float(W @ S**2), V, N)
    strata = int((W_n > 0).sum())
    n_neyman = int(min(N, max(n_neyman, floor * strata)))
    share = float(W @ p[:, category])
    return {
        "N": int(N),
        "share": share,
        "width": width,
        "level": level,
        "srs": n_srs,
        "stratified_neyman": n_neyman,
        "stratified_proportional": n_prop,
        "sd_srs": float(np.sqrt(var_r)),
        "floor": floor,
        "assumptions": (
            "P(human label | model label) estimated from the labelled threads so far, shrunk toward "
            f"{PRIOR_WEIGHT:g} pseudo-threads per stratum (model right with probability {PRIOR_ACCURACY:g}); "
            "normal-approximation sample sizes with the finite-population correction (Cochran 1977, "
            "eq. 4.1 and 5.25); the stratified figure assumes Neyman allocation for this category with "
            f"at least {floor} threads per predicted category."
        ),
    }


def _finite_n(n0: float, N: float) -> int:
    if n0 <= 0:
        return 1
    return int(min(N, np.ceil(n0 / (1 + n0 / N))))


def _finite_n_stratified(a: float, b: float, V: float, N: float) -> int:
    """``n = a / (V + b / N)`` (Cochran eq. 5.25 with ``a = (sum W_h S_h)^2``, ``b = sum W_h S_h^2``)."""
    if a <= 0:
        return 1
    return int(min(N, np.ceil(a / (V + b / N))))
