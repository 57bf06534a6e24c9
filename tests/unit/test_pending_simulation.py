"""Why pending threads gate the prevalence estimate: a seeded simulation.

A corpus of N threads, a model that over-calls the biggest category, a simple random sample of n
threads for humans. The threads the reviewers disagree on (pending until adjudicated) are mostly
those the model gets wrong too. Estimating from the decided threads only keeps most of the model's
bias and the 95% interval misses the truth far too often; with every sampled thread decided the
interval covers the truth about 95% of the time. The service refuses the first by default
(tests/data/test_gold_standard_workflow.py shows the refusal).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from annotator.stats.prevalence import estimate_prevalence

CATS = ["Big", "Mid", "Small", "Rare"]
SHARES = np.array([0.45, 0.30, 0.18, 0.07])
# P(model = column | truth = row): the model pulls threads into "Big"
CONFUSION = np.array([
    [0.92, 0.04, 0.03, 0.01],
    [0.20, 0.74, 0.04, 0.02],
    [0.25, 0.05, 0.68, 0.02],
    [0.30, 0.05, 0.05, 0.60],
])


def _simulate(n_sims: int, *, seed: int, N: int = 4000, n: int = 300) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    covered_all = np.zeros((n_sims, len(CATS)), dtype=bool)
    covered_decided = np.zeros((n_sims, len(CATS)), dtype=bool)
    for s in range(n_sims):
        truth = rng.choice(len(CATS), size=N, p=SHARES)
        model = (rng.random(N)[:, None] > CONFUSION.cumsum(axis=1)[truth]).sum(axis=1)
        target = np.bincount(truth, minlength=len(CATS)) / N
        counts = {c: int(k) for c, k in zip(CATS, np.bincount(model, minlength=len(CATS)))}
        picked = rng.choice(N, size=n, replace=False)
        # hard threads (reviewers disagree, adjudication pending) are mostly the ones the model misses
        wrong = model[picked] != truth[picked]
        pending = rng.random(n) < np.where(wrong, 0.7, 0.1)
        sample = pd.DataFrame({"model": [CATS[m] for m in model[picked]], "human": [CATS[t] for t in truth[picked]]})
        for covered, rows in ((covered_all, sample), (covered_decided, sample[~pending])):
            est = estimate_prevalence(counts, rows, categories=CATS)
            lo = np.array([est["categories"][c]["ci"][0] for c in CATS])
            hi = np.array([est["categories"][c]["ci"][1] for c in CATS])
            covered[s] = (lo <= target) & (target <= hi)
    return {"all": covered_all.mean(axis=0), "decided": covered_decided.mean(axis=0)}


def test_decided_only_loses_coverage_every_thread_decided_keeps_it() -> None:
    coverage = _simulate(200, seed=20261129)
    assert 0.90 <= coverage["all"].mean() <= 0.99 and coverage["all"].min() >= 0.88
    # with the hard threads pending, the model's pull towards "Big" survives the correction
    assert coverage["decided"][0] < 0.6 and coverage["decided"].mean() < 0.8
