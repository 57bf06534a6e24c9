"""Seeded, reproducible sampling of threads (simple, stratified by a column, stratified by predicted category
with Neyman allocation) and balanced assignment of reviewers (pure functions)."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Sequence

import numpy as np
import pandas as pd

from annotator.stats.planning import neyman_allocation


def draw_sample(candidates: pd.DataFrame, size: int, *, seed: int, stratify: str | None = None) -> list[int]:
    """Draw `size` rows of `candidates` (column `id`, optionally the `stratify` column) without replacement.

    With `stratify`, allocation is proportional to stratum size (largest-remainder rounding), so the
    sample keeps the corpus mix; missing stratum values form their own stratum. The result is in
    random order and the same for the same candidates, size and seed.
    """
    if size <= 0 or candidates.empty:
        return []
    rng = np.random.default_rng(seed)
    ids = candidates["id"].to_numpy()
    order = np.argsort(ids, kind="stable")  # independent of the order the database returned
    ids = ids[order]
    size = min(size, len(ids))
    if not stratify:
        picked = rng.choice(ids, size=size, replace=False)
        return [int(i) for i in picked]
    strata = candidates[stratify].astype(object).where(candidates[stratify].notna(), "(missing)").to_numpy()[order]
    keys, inverse, counts = np.unique(strata.astype(str), return_inverse=True, return_counts=True)
    exact = counts / counts.sum() * size
    alloc = np.floor(exact).astype(int)
    remainder = size - alloc.sum()
    if remainder:
        alloc[np.argsort(-(exact - alloc), kind="stable")[:remainder]] += 1
    picked: list[int] = []
    for k in range(len(keys)):
        members = ids[inverse == k]
        if alloc[k]:
            picked.extend(int(i) for i in rng.choice(members, size=alloc[k], replace=False))
    rng.shuffle(picked)
    return picked


def assign_reviewers(thread_ids: Sequence[int], reviewers: Sequence[str], per_thread: int, *, seed: int) -> list[tuple[int, str]]:
    """Assign each thread to `per_thread` distinct reviewers, balancing workloads (max - min <= 1).

    Greedy on current load, ties broken by a seeded random priority, so the result is reproducible.
    """
    if per_thread < 1:
        raise ValueError("per_thread must be at least 1")
    if per_thread > len(reviewers):
        raise ValueError(f"per_thread={per_thread} needs at least that many reviewers, got {len(reviewers)}")
    rng = np.random.default_rng(seed)
    heap = [(0, float(rng.random()), r) for r in reviewers]
    heapq.heapify(heap)
    out: list[tuple[int, str]] = []
    for tid in thread_ids:
        chosen = [heapq.heappop(heap) for _ in range(per_thread)]
        for load, _, r in chosen:
            out.append((int(tid), r))
        for load, _, r in chosen:
            heapq.heappush(heap, (load + 1, float(rng.random()), r))
    return out


def stratified_sample_plan(
    predicted: Mapping[object, str] | pd.Series,
    *,
    size: int,
    seed: int,
    spreads: Mapping[str, float] | None = None,
    min_per_stratum: int = 2,
) -> pd.DataFrame:
    """Draw a sample stratified by predicted category with Neyman allocation and a small floor.

    Allocation (:func:`annotator.stats.planning.neyman_allocation`): ``n_h`` proportional to
    ``N_h S_h`` with ``S_h`` from ``spreads`` (the within-stratum standard deviation of the human
    label, see :func:`annotator.stats.planning.stratum_spread`; missing or None: all equal, i.e.
    proportional allocation), at least ``min_per_stratum`` per stratum (capped at its size),
    rounded by largest remainder. Items are drawn without replacement inside each stratum.

    Args:
        predicted: item id -> predicted category (a mapping or a Series indexed by item id). Items
            are sorted by id first, so the draw depends only on the contents and the seed.
        size: total number of items to draw (capped at the number of items).
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        DataFrame with columns ``item``, ``stratum``, ``inclusion_prob`` (``n_h / N_h``) and
        ``weight`` (``N_h / n_h``), sorted by stratum then item.
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
    given = spreads or {}
    sd = np.array([given.get(s) if given.get(s) is not None else 1.0 for s in strata], dtype=float)
    alloc = neyman_allocation(sizes, sd, size, floor=min_per_stratum)
    rng = np.random.default_rng(seed)
    frames = []
    for s, N_h, n_h in zip(strata, sizes, alloc):
        if n_h == 0:
            continue
        chosen = np.sort(rng.choice(N_h, size=n_h, replace=False))
        frames.append(pd.DataFrame({"item": groups[s][chosen], "stratum": s, "inclusion_prob": n_h / N_h,
                                    "weight": N_h / n_h}))
    if not frames:
        return pd.DataFrame({"item": [], "stratum": [], "inclusion_prob": [], "weight": []}).astype(
            {"item": object, "stratum": object, "inclusion_prob": float, "weight": float})
    return pd.concat(frames, ignore_index=True)
