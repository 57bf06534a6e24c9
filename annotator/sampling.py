"""Seeded, reproducible sampling of threads and balanced assignment of reviewers (pure functions)."""

from __future__ import annotations

import heapq
from typing import Sequence

import numpy as np
import pandas as pd


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
