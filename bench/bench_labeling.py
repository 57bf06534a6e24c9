"""Benchmark: the labeling hot path at full scale, measured through the real app with Streamlit's AppTest.

Database: 1,000,000 threads and 100,000 labels in SQLite (20 reviewers, one round of 40,000 threads
with 3 reviewers each, 5,000 of every reviewer's 6,000 assignments labeled). It is built once with
the raw driver's executemany and cached as bench/out/labeling-1m.sqlite3 (gitignored); each run
works on a fresh copy, so runs are comparable.

Measured on the label page: the time of `at.button(key="label.submit").click().run()` after choosing
a category (store the label, then render the next thread), over 50 submits, for a reviewer who joins
the round with 1,000 assignments (added to the working copy; the other 100,000 labels are by the 20
reviewers already in it). Baselines in the same process: a bare AppTest run of a trivial one-line
script, and a rerun of the label page without a submit. Prints median and p95 and the ratios.
Then the same for reviewer r00, who already has 5,000 labels of their own (--heavy-submits, default
10; 0 skips it): the page's "My labels" list grows with them.

    .venv/bin/python bench/bench_labeling.py [--submits 50] [--heavy-submits 10] [--rebuild]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
CACHED = OUT / "labeling-1m.sqlite3"
N_THREADS = 1_000_000
N_REVIEWERS = 20
ROUND_THREADS = 40_000
PER_THREAD = 3
LABELED_PER_REVIEWER = 5_000  # of 6,000 assignments each: 20 x 5,000 = 100,000 labels
SEED = 20240422
WORDS = ("patient", "summarise", "note", "discharge", "letter", "draft", "dose", "policy", "email", "lab")
DEPARTMENTS = ("Cardiology", "Emergency", "Oncology", "Pediatrics", "Radiology")
ROLES = (("Physician", "clinician"), ("Registered Nurse", "non-clinician"), ("Pharmacist", "non-clinician"))


def build(path: Path) -> None:
    """Create the schema with the app's own migrations, then bulk-insert the rows with sqlite3."""
    import numpy as np
    from sqlmodel import Session

    from annotator.config import SAMPLE_DATA
    from annotator.data.engine import ensure_schema, make_engine
    from annotator.services.codebook import category_names, import_codebook

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{tmp}")
    ensure_schema(engine)
    with Session(engine) as s:
        version, _ = import_codebook(s, SAMPLE_DATA / "codebook.yaml", actor="bench")
        version_id, cats = version.id, category_names(s, version.id)
    engine.dispose()

    rng = np.random.default_rng(SEED)
    con = sqlite3.connect(tmp)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    t0 = time.perf_counter()
    word_idx = rng.integers(0, len(WORDS), size=(N_THREADS, 8))
    users = rng.integers(0, 50_000, size=N_THREADS)
    roles = rng.integers(0, len(ROLES), size=N_THREADS)
    depts = rng.integers(0, len(DEPARTMENTS), size=N_THREADS)

    def thread_rows():
        for i in range(N_THREADS):
            text = "user: " + " ".join(WORDS[j] for j in word_idx[i])
            role, group = ROLES[roles[i]]
            yield (f"b-{i:07d}", text, len(text), 0, f"u{users[i]:05d}", role, group, DEPARTMENTS[depts[i]],
                   f"2024-05-{1 + i % 28:02d} 12:00:00.000000")

    con.executemany("INSERT INTO thread (external_id, text, char_count, truncated, user_id, role, role_group, "
                    "department, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", thread_rows())
    con.executemany("INSERT INTO account (username, display_name, role, active, is_adjudicator, "
                    "failed_logins, created_at) VALUES (?, ?, 'reviewer', 1, 0, 0, '2024-05-01 00:00:00')",
                    [(f"r{r:02d}", f"Reviewer {r:02d}") for r in range(N_REVIEWERS)])
    con.execute("INSERT INTO round (name, codebook_version_id, seed, per_thread, status, acceptance_rule, "
                "reveal_enabled, created_by, created_at) VALUES ('big', ?, ?, ?, 'open', 'unanimous', 0, 'bench', "
                "'2024-05-01 00:00:00')", (version_id, SEED, PER_THREAD))
    round_id = con.execute("SELECT id FROM round WHERE name = 'big'").fetchone()[0]
    account_ids = [row[0] for row in con.execute("SELECT id FROM account ORDER BY username")]
    picked = rng.choice(np.arange(1, N_THREADS + 1), size=ROUND_THREADS, replace=False)
    assignments, labels, position = [], [], [0] * N_REVIEWERS
    for i, tid in enumerate(picked):
        for k in range(PER_THREAD):
            r = (i + k) % N_REVIEWERS
            pos = position[r]
            position[r] += 1
            assignments.append((round_id, int(tid), account_ids[r], pos))
            if pos < LABELED_PER_REVIEWER:
                labels.append((round_id, int(tid), account_ids[r], cats[int(rng.integers(0, len(cats)))], version_id))
    con.executemany("INSERT INTO assignment (round_id, thread_id, reviewer_id, position) VALUES (?, ?, ?, ?)",
                    assignments)
    con.executemany("INSERT INTO label (round_id, thread_id, reviewer_id, category, codebook_version_id, note, "
                    "unsure, created_at, updated_at) VALUES (?, ?, ?, ?, ?, '', 0, '2024-05-02 00:00:00', "
                    "'2024-05-02 00:00:00')", labels)
    con.commit()
    con.execute("ANALYZE")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    tmp.replace(path)
    print(f"built {path} in {time.perf_counter() - t0:.1f} s: {N_THREADS:,} threads, {len(labels):,} labels, "
          f"{len(assignments):,} assignments")


def _stats(name: str, seconds: list[float]) -> float:
    ms = sorted(s * 1000 for s in seconds)
    median = statistics.median(ms)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    print(f"{name:<44} n={len(ms):>3}  median {median:7.1f} ms  p95 {p95:7.1f} ms")
    return median


def add_bench_reviewer(db_file: Path, n: int = 1_000) -> None:
    """A reviewer 'bench' with `n` assignments in round 'big' and no labels yet."""
    con = sqlite3.connect(db_file)
    con.execute("INSERT INTO account (username, display_name, role, active, is_adjudicator, "
                "failed_logins, created_at) VALUES ('bench', 'Bench Reviewer', 'reviewer', 1, 0, 0, "
                "'2024-05-01 00:00:00')")
    con.execute("INSERT INTO assignment (round_id, thread_id, reviewer_id, position) "
                "SELECT a.round_id, a.thread_id, (SELECT id FROM account WHERE username = 'bench'), a.position "
                "FROM assignment a JOIN account r ON r.id = a.reviewer_id WHERE r.username = 'r01' "
                "ORDER BY a.position LIMIT ?", (n,))
    con.commit()
    con.close()


def measure(db_file: Path, submits: int, username: str, *, baselines: bool = True) -> None:
    import secrets

    os.environ["ANNOTATOR_DATABASE_URL"] = f"sqlite:///{db_file}"
    os.environ["ANNOTATOR_SECRET_KEY"] = secret = secrets.token_urlsafe(48)
    import logging

    import streamlit as st
    from sqlmodel import Session, select
    from streamlit.testing.v1 import AppTest

    from annotator.data.engine import make_engine
    from annotator.data.models import Account, Label
    from annotator.services.accounts import start_session

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    engine = make_engine(os.environ["ANNOTATOR_DATABASE_URL"])
    with Session(engine) as s:
        reviewer = s.exec(select(Account).where(Account.username == username)).one()
        token = start_session(s, reviewer, secret=secret, hours=12)
        before = len(s.exec(select(Label.id).where(Label.reviewer_id == reviewer.id)).all())
    st.cache_resource.clear()
    st.cache_data.clear()

    trivial = AppTest.from_string("import streamlit as st\nst.write('hello')", default_timeout=60)
    bare = []
    for i in range(submits + 5 if baselines else 0):
        t = time.perf_counter()
        trivial.run()
        if i >= 5:
            bare.append(time.perf_counter() - t)

    at = AppTest.from_file(str(ROOT / "annotator" / "app.py"), default_timeout=60)
    at.session_state["auth.token"] = token
    at.run()
    at.switch_page("../pages/label.py").run()
    assert not at.exception, at.exception
    rerun = []
    for i in range(submits + 5):
        t = time.perf_counter()
        at.run()
        if i >= 5:
            rerun.append(time.perf_counter() - t)

    submit, shown = [], []
    for i in range(submits):
        at.button(key=f"label.cat.{i % 5}").click().run()
        t = time.perf_counter()
        at.button(key="label.submit").click().run()
        submit.append(time.perf_counter() - t)
        assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
        shown.append(next(m.value for m in at.markdown if m.value.startswith("#### Thread ")))
    with Session(engine) as s:
        after = len(s.exec(select(Label.id).where(Label.reviewer_id == reviewer.id)).all())
    engine.dispose()
    assert after - before == submits, f"expected {submits} new labels, found {after - before}"
    assert len(set(shown)) == submits, "every submit must render a new thread"

    print(f"\nreviewer {username}: {before:,} own labels before, +{submits} submitted "
          f"(database: {N_THREADS:,} threads, 100,000+ labels)")
    b = _stats("bare AppTest run (trivial script)", bare) if bare else None
    r = _stats("label page rerun, no submit", rerun)
    m = _stats("submit -> next thread rendered", submit)
    print((f"ratio submit / bare run: {m / b:.1f}x   " if b else "") + f"submit / label rerun: {m / r:.2f}x   "
          f"target median <= 150 ms: {'met' if m <= 150 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submits", type=int, default=50)
    parser.add_argument("--heavy-submits", type=int, default=10,
                        help="Submits by r00, who has 5,000 own labels (0: skip).")
    parser.add_argument("--rebuild", action="store_true", help="Rebuild the cached database.")
    args = parser.parse_args()
    if args.rebuild or not CACHED.exists():
        build(CACHED)
    with tempfile.TemporaryDirectory(prefix="bench-labeling-") as tmp:
        work = Path(tmp) / "work.sqlite3"
        shutil.copyfile(CACHED, work)
        add_bench_reviewer(work)
        measure(work, args.submits, "bench")
        if args.heavy_submits:
            measure(work, args.heavy_submits, "r00", baselines=False)


if __name__ == "__main__":
    main()
