"""Speed of the gold standard: the consensus read model and the model-vs-humans comparison.

1. ``read_consensus`` of one round of N threads x 3 reviewers (a large human sample; labels, assignments,
   a lead decision on every disputed thread) against a baseline in the same run: the bare SQL read of
   the same labels into pandas (``SELECT round_id, thread_id, username, category, unsure FROM label
   JOIN account``), which any derivation has to do at least once. Target: <= 3x the baseline.
2. ``compare_to_consensus`` on N threads with 3 reviewers and 1,000 bootstrap resamples (headline CIs,
   the model as another reviewer with the CI of the kappa difference, leave-one-out), against the same
   call without reviewer labels (headline CIs only). Target: <= 2 s.

    .venv/bin/python bench/bench_consensus.py [--n 20000] [--repeats 3] [--seed 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import insert, select
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotator.data.engine import ensure_schema, make_engine  # noqa: E402
from annotator.data.models import Account, Assignment, Decision, Label, Round, Thread, utcnow  # noqa: E402
from annotator.services.codebook import CategoryDraft, CodebookDraft, save_version  # noqa: E402
from annotator.services.consensus import read_consensus  # noqa: E402
from annotator.stats.comparison import compare_to_consensus  # noqa: E402

CATS = [f"Category {i}" for i in range(10)] + ["Other"]
REVIEWERS = ("ann", "ben", "cas")


def build(url: str, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    engine = make_engine(url)
    ensure_schema(engine)
    with Session(engine) as s:
        version, _ = save_version(s, CodebookDraft("bench", "", [CategoryDraft(c) for c in CATS]), actor="bench")
        rnd = Round(name="big", codebook_version_id=version.id, per_thread=3)
        s.add(rnd)
        s.add_all([Account(username=r) for r in REVIEWERS])
        s.commit()
        rid, vid = rnd.id, version.id
        ids = dict(s.execute(select(Account.username, Account.id)).all())
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(insert(Thread), [{"external_id": f"T{i:07d}", "text": "x", "char_count": 1} for i in range(n)])
        tids = [t for (t,) in conn.execute(select(Thread.id).order_by(Thread.id)).all()]
        truth = rng.integers(0, len(CATS), n)
        assignments, labels, decisions = [], [], []
        for pos, (tid, t) in enumerate(zip(tids, truth)):
            cats = [CATS[t] if rng.random() < 0.85 else CATS[rng.integers(len(CATS))] for _ in REVIEWERS]
            for r, c in zip(REVIEWERS, cats):
                assignments.append({"round_id": rid, "thread_id": tid, "reviewer_id": ids[r], "position": pos})
                labels.append({"round_id": rid, "thread_id": tid, "reviewer_id": ids[r], "category": c,
                               "codebook_version_id": vid, "note": "", "unsure": False, "created_at": now,
                               "updated_at": now})
            if len(set(cats)) > 1:
                decisions.append({"round_id": rid, "thread_id": tid, "status": "resolved", "category": CATS[t],
                                  "provenance": "adjudicated", "rationale": "", "decided_by": "lead",
                                  "definition_problem": False, "definition_comment": "", "created_at": now,
                                  "updated_at": now})
        conn.execute(insert(Assignment), assignments)
        conn.execute(insert(Label), labels)
        conn.execute(insert(Decision), decisions)
    engine.dispose()


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--compare-n", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        build(url, args.n, args.seed)
        engine = make_engine(url)

        def baseline():
            with Session(engine) as s:
                rows = s.execute(select(Label.round_id, Label.thread_id, Account.username, Label.category, Label.unsure)
                                 .join(Account, Account.id == Label.reviewer_id)).all()
            return pd.DataFrame(rows)

        def candidate():
            with Session(engine) as s:
                return read_consensus(s, ["big"])

        timed(candidate, 1)  # warm-up
        base_s, _ = timed(baseline, args.repeats)
        cand_s, cons = timed(candidate, args.repeats)
        engine.dispose()
    print(f"read_consensus, {args.n:,} threads x 3 reviewers ({cons.n_decided:,} decided): {cand_s:.2f} s; "
          f"bare label read {base_s:.2f} s; ratio {cand_s / base_s:.2f}x (target <= 3x)")

    rng = np.random.default_rng(args.seed)
    n = args.compare_n
    truth = rng.integers(0, len(CATS), n)
    noisy = lambda acc: np.where(rng.random(n) < acc, truth, rng.integers(0, len(CATS), n))  # noqa: E731
    consensus = {i: CATS[t] for i, t in enumerate(truth)}
    predictions = {i: CATS[c] for i, c in enumerate(noisy(0.8))}
    ratings = pd.DataFrame([(i, r, CATS[c]) for r in REVIEWERS for i, c in enumerate(noisy(0.85))],
                           columns=["item", "reviewer", "category"])
    plain_s, _ = timed(lambda: compare_to_consensus(predictions, consensus, categories=CATS, n_boot=1000), args.repeats)
    full_s, rep = timed(lambda: compare_to_consensus(predictions, consensus, categories=CATS, reviewer_ratings=ratings,
                                                     n_boot=1000, seed=1), args.repeats)
    print(f"compare_to_consensus, {n:,} threads, 3 reviewers, 1,000 resamples: {full_s:.2f} s (headline only "
          f"{plain_s:.2f} s); kappa difference {rep['as_reviewer']['kappa_difference']:+.3f} "
          f"CI {rep['as_reviewer']['kappa_difference_ci95']}; target <= 2 s")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
