"""Benchmark: the agreement report's vectorised bootstrap vs a naive krippendorff.alpha loop.

Synthesises a seeded study the size of the seed paper's (30,503 threads x 3
reviewers, 11 categories, ~54% in the largest, ~80% pairwise agreement, a few
missing ratings), times ``agreement_report(..., n_boot=N)`` and the naive
baseline that calls ``krippendorff.alpha`` once per bootstrap resample of the
items, and checks that the point estimates agree to 1e-9.

    .venv/bin/python bench/bench_agreement.py [--items 30503] [--boot 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotator.stats.agreement import _fast_alpha, _prepare, agreement_report  # noqa: E402

CATEGORIES = [f"category_{i:02d}" for i in range(11)]
#: Prevalence of the true category: one dominant use, a long tail.
PREVALENCE = np.array([0.60, 0.09, 0.07, 0.05, 0.045, 0.035, 0.035, 0.025, 0.02, 0.02, 0.015])
REVIEWERS = ("reviewer_1", "reviewer_2", "reviewer_3")
#: Budget for the naive loop before it is extrapolated from a sample.
NAIVE_BUDGET_S = 120.0
NAIVE_SAMPLE = 50


def synthesise(n_items: int, seed: int, accuracy: float = 0.89, missing: float = 0.02) -> pd.DataFrame:
    """Long ratings table: each reviewer gives the true category with probability ``accuracy``."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(len(CATEGORIES), size=n_items, p=PREVALENCE / PREVALENCE.sum())
    frames = []
    for reviewer in REVIEWERS:
        wrong = rng.random(n_items) > accuracy
        shift = rng.integers(1, len(CATEGORIES), size=n_items)
        label = np.where(wrong, (truth + shift) % len(CATEGORIES), truth)
        kept = rng.random(n_items) > missing
        frames.append(
            pd.DataFrame(
                {
                    "item": [f"t{i:06d}" for i in np.flatnonzero(kept)],
                    "reviewer": reviewer,
                    "category": np.array(CATEGORIES)[label[kept]],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def reliability_matrix(ratings: pd.DataFrame) -> np.ndarray:
    """Raters x units float matrix of category codes, NaN where missing (krippendorff's layout)."""
    wide = ratings.pivot(index="item", columns="reviewer", values="category")
    codes = {c: i for i, c in enumerate(CATEGORIES)}
    return wide.apply(lambda col: col.map(codes)).to_numpy(dtype=float).T


def naive_bootstrap(data: np.ndarray, n_boot: int, seed: int) -> tuple[float, int]:
    """Seconds for ``n_boot`` krippendorff.alpha calls on item resamples (extrapolated if slow)."""
    rng = np.random.default_rng(seed)
    n_units = data.shape[1]
    done, start = 0, time.perf_counter()
    while done < n_boot:
        sample = data[:, rng.integers(0, n_units, size=n_units)]
        krippendorff.alpha(reliability_data=sample, level_of_measurement="nominal")
        done += 1
        elapsed = time.perf_counter() - start
        if done == NAIVE_SAMPLE and elapsed / done * n_boot > NAIVE_BUDGET_S:
            break
    elapsed = time.perf_counter() - start
    return elapsed / done * n_boot, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=30503)
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="time the report this many times, keep the fastest")
    args = parser.parse_args()

    ratings = synthesise(args.items, args.seed)
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"data: {len(ratings)} ratings on {ratings['item'].nunique()} items, {len(REVIEWERS)} reviewers")

    agreement_report(synthesise(200, args.seed), n_boot=10, seed=args.seed)  # warm-up: lazy imports, caches
    times = []
    for _ in range(max(1, args.repeat)):
        start = time.perf_counter()
        report = agreement_report(ratings, categories=CATEGORIES, n_boot=args.boot, seed=args.seed)
        times.append(time.perf_counter() - start)
    fast_s = min(times)
    for name, entry in report["coefficients"].items():
        ci = entry["ci95"]
        shown = f"[{ci[0]:.4f}, {ci[1]:.4f}] ({entry['ci_method']})" if ci[0] is not None else f"withheld: {entry['ci_reason']}"
        se = "" if entry["analytic_se"] is None else f"; Gwet SE {entry['analytic_se']:.4f}"
        print(f"  {name}: {entry['estimate']:.4f} {shown}{se}")
    pairs = report["pairwise_cohen_kappa"]
    print(f"  {len(pairs)} reviewer pairs, each kappa with a bootstrap interval: "
          + ", ".join(f"{p['kappa']:.3f} [{p['kappa_ci95'][0]:.3f}, {p['kappa_ci95'][1]:.3f}]" for p in pairs))
    pct_times = []
    for _ in range(max(1, args.repeat)):
        start = time.perf_counter()
        agreement_report(ratings, categories=CATEGORIES, n_boot=args.boot, seed=args.seed, interval="percentile")
        pct_times.append(time.perf_counter() - start)
    print(f"agreement_report with percentile intervals: {min(pct_times):.2f} s (BCa, the default: {fast_s:.2f} s)")
    lo, hi = report["krippendorff_alpha_ci95"]
    print(
        f"agreement_report: {fast_s:.2f} s (fastest of {' '.join(f'{t:.2f}' for t in times)})  alpha={report['krippendorff_alpha']:.4f} "
        f"[{lo:.4f}, {hi:.4f}]  percent_agreement={report['percent_agreement']:.3f}  "
        f"top category share={ratings['category'].value_counts(normalize=True).iloc[0]:.2f}"
    )

    data = reliability_matrix(ratings)
    reference = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    own = _fast_alpha(_prepare(ratings, CATEGORIES).counts)
    agree = abs(reference - report["krippendorff_alpha"]) < 1e-9 and abs(reference - own) < 1e-9
    print(f"point estimates: krippendorff.alpha={reference:.12f}  report={report['krippendorff_alpha']:.12f}  "
          f"own vectorised={own:.12f}")

    naive_s, done = naive_bootstrap(data, args.boot, args.seed)
    how = "measured" if done == args.boot else f"extrapolated from {done} calls"
    print(f"naive loop: {naive_s:.1f} s for {args.boot} krippendorff.alpha calls ({how})")

    ratio = naive_s / fast_s
    print(
        f"agreement: {fast_s:.2f} s for {args.items} items x {len(REVIEWERS)} reviewers, {args.boot} resamples, "
        f"intervals on every coefficient; "
        f"naive {'~' if done != args.boot else ''}{naive_s:.0f} s; speed-up {ratio:.0f}x; "
        f"point estimates {'agree' if agree else 'DIFFER'}"
    )


if __name__ == "__main__":
    main()
