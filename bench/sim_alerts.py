"""False-alarm rate and power of the alert rules by seeded simulation (the README's figures).

A simulated year: 11 categories (shares as in the seed paper, 54% the largest), 52 weekly periods
with about ``volume`` threads a week (Poisson), each week's shares drawn from a Dirichlet around
the long-run shares (overdispersion: intra-week correlation ``rho``), one "up" rule per category,
all evaluated together with the default Benjamini-Hochberg control at 5%. Reports the share of
years with any alert on flat series (family-wise false-alarm rate), the per-test false-alarm
rate, and how often a spike of ``spike`` extra threads planted in one week of the largest and of a
2% category is found.

    .venv/bin/python bench/sim_alerts.py [--years 400] [--seed 2026]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotator.stats.alerts import AlertRule, evaluate_rules  # noqa: E402

SHARES = np.array([0.539, 0.091, 0.067, 0.061, 0.059, 0.044, 0.035, 0.026, 0.020, 0.008, 0.05])
SHARES = SHARES / SHARES.sum()
WEEKS = pd.date_range("2025-01-06", periods=52, freq="W-MON")


def year(rng: np.random.Generator, volume: int, rho: float, spike: tuple[int, int, int] | None = None) -> list:
    """Per category a weekly series; ``spike = (category, week, extra threads)``."""
    totals = rng.poisson(volume, size=len(WEEKS))
    counts = np.zeros((len(WEEKS), SHARES.size), dtype=np.int64)
    for w, n in enumerate(totals):
        shares = rng.dirichlet(SHARES * (1 - rho) / rho) if rho > 0 else SHARES
        counts[w] = rng.multinomial(n, shares)
    if spike is not None:
        k, w, extra = spike
        counts[w, k] += extra
        totals[w] += extra
    return [pd.DataFrame({"period": WEEKS, "n_category": counts[:, k], "n_total": totals}) for k in range(SHARES.size)]


def evaluate(series: list, rules: list[AlertRule]) -> dict:
    return evaluate_rules(list(zip(rules, series)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=400)
    parser.add_argument("--volume", type=int, default=600)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    rules = [AlertRule(f"r{k}", f"c{k}") for k in range(SHARES.size)]
    both = [AlertRule(f"b{k}", f"c{k}", direction="both") for k in range(SHARES.size)]
    print("| scenario | years | any alert in the year (family) | alerts per test |")
    print("|---|---|---|---|")
    for rho in (0.0, 0.002, 0.01):
        for label, rule_set in (("up", rules), ("both", both)):
            start = time.perf_counter()
            rng = np.random.default_rng([args.seed, int(rho * 1e4), len(label)])
            any_alert, alerts, tests = 0, 0, 0
            for _ in range(args.years):
                res = evaluate(year(rng, args.volume, rho), rule_set)
                found = sum(len(a) for a in res["alerts"])
                any_alert += found > 0
                alerts += found
                tests += res["n_tests"]
            print(f"| flat, rho = {rho}, direction {label} | {args.years} | {any_alert / args.years:.3f} | "
                  f"{alerts / max(tests, 1):.5f} |  <!-- {time.perf_counter() - start:.0f} s -->", flush=True)
    print()
    print("| planted spike (rho = 0.002) | extra threads in one week | found (that week, that category) |")
    print("|---|---|---|")
    for k, name in ((0, "largest (54%)"), (8, "2% category")):
        for extra in ((40, 120, 200) if k == 0 else (20, 40, 60)):
            rng = np.random.default_rng([args.seed, k, extra])
            hits = 0
            n = max(args.years // 2, 1)
            for _ in range(n):
                week = int(rng.integers(20, 52))
                res = evaluate(year(rng, args.volume, 0.002, (k, week, extra)), rules)
                hits += any(a["period"] == WEEKS[week].date().isoformat() for a in res["alerts"][k])
            print(f"| {name} | {extra} | {hits / n:.2f} |", flush=True)


if __name__ == "__main__":
    main()
