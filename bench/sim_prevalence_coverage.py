"""Coverage, reporting rate and RMSE of the prevalence intervals by seeded simulation (README table).

Frames of N = 30,000 threads with the seed paper's shares (54% in the largest category, two
categories near 1%), a good model (90% right, errors spread) and a badly biased one (over-predicts
the big category, confuses two small ones), simple random and Neyman-stratified samples of
n = 100, 300, 1000, for both estimators. Coverage is among simulations that reported an interval;
"reported" is the share that did (the rest withheld it for too few human-labelled threads).

    .venv/bin/python bench/sim_prevalence_coverage.py [--sims 1000] [--seed 2026]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotator.stats.prevalence import simulate_coverage  # noqa: E402

SHARES = np.array([0.539, 0.091, 0.067, 0.061, 0.059, 0.044, 0.035, 0.026, 0.020, 0.010, 0.010, 0.038])
SHARES = SHARES / SHARES.sum()
K = SHARES.size
WATCHED = {"54%": 0, "1% (a)": 9, "1% (b)": 10}


def good_model() -> np.ndarray:
    conf = np.full((K, K), 0.10 / (K - 1))
    np.fill_diagonal(conf, 0.90)
    return conf


def biased_model() -> np.ndarray:
    conf = np.eye(K) * 0.80
    conf[:, 0] += 0.15
    conf[:, K - 1] += 0.05
    conf[0] = 0.0
    conf[0, 0], conf[0, K - 1] = 0.95, 0.05
    conf[9] = 0.0
    conf[9, [9, 10, 0]] = 0.55, 0.30, 0.15  # a rare category often taken for the other rare one
    conf[10] = 0.0
    conf[10, [10, 9, 0]] = 0.60, 0.25, 0.15
    return conf / conf.sum(axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--N", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"{args.sims} simulated frames per row, N = {args.N}, seed {args.seed}; coverage of the 95% interval "
          "when reported (share reported), RMSE of the estimate")
    print("| model | design | estimator | n | " + " | ".join(WATCHED) + " | mean coverage, all categories |")
    print("|---|---|---|---|" + "---|" * (len(WATCHED) + 1))
    for model_name, conf in (("good", good_model()), ("biased", biased_model())):
        for design, method in (("srs", "ppi"), ("srs", "confusion"), ("stratified", "ppi")):
            for n in (100, 300, 1000):
                start = time.perf_counter()
                res = simulate_coverage(n_sims=args.sims, N=args.N, n=n, true_shares=SHARES, confusion=conf,
                                        seed=args.seed, method=method, design=design)
                cells = []
                for name, k in WATCHED.items():
                    c = res["coverage"][f"c{k}"]
                    cov = "–" if c is None else f"{c:.3f}"
                    cells.append(f"{cov} ({res['reported'][f'c{k}']:.0%}); RMSE {res['rmse'][f'c{k}']:.4f}")
                label = "difference (PPI)" if method == "ppi" and design == "srs" else (
                    "post-stratified" if design == "srs" else "stratified (Neyman)")
                mean = res["mean_coverage"]
                print(f"| {model_name} | {design} | {label} | {n} | " + " | ".join(cells)
                      + f" | {mean:.3f} |  <!-- {time.perf_counter() - start:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
