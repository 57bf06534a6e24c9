"""Coverage of the agreement intervals by seeded simulation (the README's table comes from here).

Each simulated study draws n threads: a true category from 11 categories (54% in the largest, as in
the seed paper), three reviewers who each give the true category with probability ``accuracy`` and
otherwise a category drawn from the overall mix (so errors land mostly in the big category), and
a few missing ratings. The target is the population value of each coefficient: the coefficient
at the expected per-thread statistics, computed exactly by enumerating every rating pattern. An
interval covers when it contains that value; a withheld interval counts separately.

    .venv/bin/python bench/sim_agreement_coverage.py [--reps 1000] [--boot 1000] [--seed 2026]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotator.stats.chance_corrected import (  # noqa: E402
    analyse, coefficient_values, thread_statistics, wilson_for_percent_agreement)

PREVALENCE = np.array([0.54, 0.09, 0.08, 0.06, 0.05, 0.045, 0.04, 0.035, 0.025, 0.02, 0.015])
PREVALENCE = PREVALENCE / PREVALENCE.sum()
Q = len(PREVALENCE)
RATERS = 3
MEASURES = ("krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "percent_agreement", "pabak")


def label_probabilities(accuracy: float) -> np.ndarray:
    """P(label = j | truth = i): right with ``accuracy``, else a draw from the overall mix."""
    return accuracy * np.eye(Q) + (1 - accuracy) * np.tile(PREVALENCE, (Q, 1))


def population_values(accuracy: float, missing: float) -> dict[str, float]:
    """Each coefficient at the expected per-thread statistics (exact enumeration of patterns)."""
    labels = label_probabilities(accuracy)
    options = list(range(Q)) + [None]
    rows, probs = [], []
    for truth in range(Q):
        for pattern in itertools.product(options, repeat=RATERS):
            p = PREVALENCE[truth]
            counts = np.zeros(Q, dtype=np.int64)
            for label in pattern:
                if label is None:
                    p *= missing
                else:
                    p *= (1 - missing) * labels[truth, label]
                    counts[label] += 1
            if counts.sum() >= 1:
                rows.append(counts)
                probs.append(p)
    rows, probs = np.array(rows), np.array(probs)
    stats, layout = thread_statistics(rows, RATERS)
    expected = 1e9 * (probs / probs.sum()) @ stats
    values = coefficient_values(expected, layout, q=Q, q_observed=Q)
    return {k: float(values[k]) for k in MEASURES}


def draw_counts(rng: np.random.Generator, n: int, accuracy: float, missing: float) -> np.ndarray:
    labels = label_probabilities(accuracy)
    truth = rng.choice(Q, size=n, p=PREVALENCE)
    counts = np.zeros((n, Q), dtype=np.int64)
    for _ in range(RATERS):
        cum = labels[truth].cumsum(axis=1)
        given = (rng.random(n)[:, None] > cum).sum(axis=1)
        kept = rng.random(n) >= missing
        np.add.at(counts, (np.flatnonzero(kept), given[kept]), 1)
    return counts[counts.sum(axis=1) >= 1]


def run(n: int, accuracy: float, missing: float, reps: int, n_boot: int, seed: int) -> dict[str, dict[str, float]]:
    truth = population_values(accuracy, missing)
    rng = np.random.default_rng([seed, n, int(accuracy * 1000)])
    tallies = {(m, kind): [0, 0] for m in MEASURES for kind in ("percentile", "bca", "analytic")}
    tallies[("percent_agreement", "wilson")] = [0, 0]
    for rep in range(reps):
        counts = draw_counts(rng, n, accuracy, missing)
        boot_seed = int(rng.integers(2**31))
        for kind in ("percentile", "bca"):
            result = analyse(counts, q=Q, n_boot=n_boot, seed=boot_seed, interval=kind)
            for m in MEASURES:
                (lo, hi), _ = result["bootstrap"][m]
                tally = tallies[(m, kind)]
                if lo is None:
                    continue
                tally[0] += 1
                tally[1] += lo <= truth[m] <= hi
            if kind == "percentile":
                se = result["analytic"]["percent_agreement"][0]
                (lo, hi), _ = wilson_for_percent_agreement(result["values"]["percent_agreement"], se, result["n2"])
                tally = tallies[("percent_agreement", "wilson")]
                if lo is not None:
                    tally[0] += 1
                    tally[1] += lo <= truth["percent_agreement"] <= hi
                for m in MEASURES:
                    _, _, (lo, hi), _ = result["analytic"][m]
                    tally = tallies[(m, "analytic")]
                    if lo is None:
                        continue
                    tally[0] += 1
                    tally[1] += lo <= truth[m] <= hi
    return {f"{m}/{kind}": {"coverage": t[1] / t[0] if t[0] else float("nan"), "reported": t[0] / reps}
            for (m, kind), t in tallies.items()} | {"truth": truth}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--n", type=int, nargs="*", default=[50, 100, 300])
    parser.add_argument("--accuracy", type=float, nargs="*", default=[0.8, 0.95])
    parser.add_argument("--missing", type=float, default=0.03)
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"{args.reps} studies per cell, {args.boot} resamples, seed {args.seed}, 3 reviewers, 11 categories, "
          f"{args.missing:.0%} ratings missing; coverage of nominal 95% intervals (share withheld in brackets)")
    header = ("| accuracy | n | " + " | ".join(f"{m} pct / BCa / Gwet" for m in MEASURES)
              + " | percent_agreement Wilson (n_eff) |")
    print(header)
    print("|" + "---|" * (3 + len(MEASURES)))
    for accuracy in args.accuracy:
        for n in args.n:
            start = time.perf_counter()
            res = run(n, accuracy, args.missing, args.reps, args.boot, args.seed)
            cells = []
            for m in MEASURES:
                parts = []
                for kind in ("percentile", "bca", "analytic"):
                    r = res[f"{m}/{kind}"]
                    withheld = 1 - r["reported"]
                    parts.append(f"{r['coverage']:.3f}" + (f" [{withheld:.0%}]" if withheld > 0.0005 else ""))
                cells.append(" / ".join(parts))
            cells.append(f"{res['percent_agreement/wilson']['coverage']:.3f}")
            truth = ", ".join(f"{k}={v:.3f}" for k, v in res["truth"].items())
            print(f"| {accuracy} | {n} | " + " | ".join(cells) + f" |  <!-- {truth}; {time.perf_counter() - start:.0f} s -->",
                  flush=True)


if __name__ == "__main__":
    main()
