"""Benchmark: `import_threads` against a plain pandas + sqlite3 baseline, and peak memory on a big file.

Writes `n` synthetic threads of realistic length (log-normal, median ~300 characters, about 1% over
32,000 characters) to a CSV, then times, alternating, 3 times each:

- baseline: `pandas.read_csv` of the file + one `sqlite3` `executemany` transaction into a fresh
  SQLite file whose `thread` table is created with the exact DDL the migrations produce (same columns,
  unique external id, same secondary indexes) and the same PRAGMAs (WAL, synchronous=NORMAL);
- candidate: `annotator.services.threads.import_threads` into a fresh SQLite database (schema made by
  `ensure_schema`, not timed). The candidate also validates, truncates, derives role groups and audits.

With `--big N`, a child process that does only the import loads N rows and reports its peak RSS.

    .venv/bin/python bench/bench_import.py [--n 30503] [--big 0] [--seed 7] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_RATIO = 1.5
TARGET_RSS_GB = 1.5
ROLES = ("Physician", "Registered Nurse", "Nurse Practitioner", "Pharmacist", "Administrator", "Resident", "Analyst")
DEPARTMENTS = ("Cardiology", "Emergency", "Oncology", "Pediatrics", "Radiology", "Primary Care", "Informatics")
_WORDS = ("patient", "please", "summarise", "this", "note", "for", "a", "discharge", "letter", "the", "dose", "of",
          "metformin", "draft", "reply", "to", "portal", "message,", "explain", "lab", "results", "in", "plain",
          "language.", "what", "is", "\"eGFR\"", "policy", "appeal", "insurance", "denial", "and", "review\n")



def thread_ddl(work: Path) -> list[str]:
    """The `thread` table and its indexes exactly as the migrations make them (so both sides maintain the same indexes)."""
    from annotator.data.engine import ensure_schema, make_engine

    engine = make_engine(f"sqlite:///{work / 'schema.sqlite3'}")
    ensure_schema(engine)
    with engine.connect() as conn:
        ddl = [r[0] for r in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'thread' AND sql IS NOT NULL ORDER BY type DESC")]
    engine.dispose()
    return ddl


def write_corpus(path: Path, n: int, *, seed: int, chunk: int = 50_000) -> dict:
    """Write `n` threads to a CSV in chunks (bounded memory); return length statistics."""
    rng = np.random.default_rng(seed)
    words = np.array(_WORDS)
    base = " ".join(words[rng.integers(0, len(words), size=40_000)])  # ~200,000 characters to slice texts from
    lengths_all = []
    start = pd.Timestamp("2024-01-01T00:00:00Z")
    for offset in range(0, n, chunk):
        m = min(chunk, n - offset)
        lengths = np.clip(rng.lognormal(mean=np.log(300), sigma=1.1, size=m), 5, 31_000).astype(int)
        long = rng.random(m) < 0.01
        lengths[long] = rng.integers(32_001, 60_000, size=int(long.sum()))
        starts = rng.integers(0, len(base) - lengths.max() - 1, size=m)
        frame = pd.DataFrame({
            "thread_id": [f"th-{offset + i:08d}" for i in range(m)],
            "text": [base[s : s + length] for s, length in zip(starts.tolist(), lengths.tolist())],
            "user_id": [f"u{u:06d}" for u in rng.integers(0, max(1, n // 6), size=m).tolist()],
            "role": np.array(ROLES)[rng.integers(0, len(ROLES), size=m)],
            "department": np.array(DEPARTMENTS)[rng.integers(0, len(DEPARTMENTS), size=m)],
            "created_at": (start + pd.to_timedelta(rng.integers(0, 365 * 86_400, size=m), unit="s")).strftime(
                "%Y-%m-%dT%H:%M:%SZ"),
        })
        frame.to_csv(path, mode="w" if offset == 0 else "a", header=offset == 0, index=False)
        lengths_all.append(lengths)
    lengths = np.concatenate(lengths_all)
    return {"rows": n, "median_chars": int(np.median(lengths)), "over_32000": int((lengths > 32_000).sum()),
            "file_mb": round(path.stat().st_size / 1e6, 1)}


def baseline(csv: Path, db: Path, ddl: list[str]) -> float:
    """pandas.read_csv + one sqlite3 executemany transaction into the same table; returns seconds."""
    conn = sqlite3.connect(db)
    conn.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" + ";".join(ddl) + ";")
    conn.commit()
    t0 = time.perf_counter()
    df = pd.read_csv(csv, dtype=object, keep_default_na=False)
    text = df["text"].tolist()
    rows = zip(df["thread_id"].tolist(), text, [len(t) for t in text], [False] * len(text), df["user_id"].tolist(),
               df["role"].tolist(), [None] * len(text), df["department"].tolist(), df["created_at"].tolist(),
               [None] * len(text))
    with conn:
        conn.executemany("INSERT INTO thread (external_id, text, char_count, truncated, user_id, role, role_group, "
                         "department, created_at, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def candidate(csv: Path, db: Path) -> tuple[float, int]:
    """import_threads into a fresh, migrated SQLite database; returns (seconds, threads imported)."""
    from annotator.data.engine import ensure_schema, make_engine
    from annotator.services.threads import import_threads

    engine = make_engine(f"sqlite:///{db}")
    ensure_schema(engine)
    t0 = time.perf_counter()
    report = import_threads(engine, csv)
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed, report.inserted


def child_import(csv: str, db: str) -> None:
    """Entry point of the --big child: only the import, then its own peak RSS as JSON on stdout."""
    seconds, inserted = candidate(Path(csv), Path(db))
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(json.dumps({"seconds": seconds, "inserted": inserted, "max_rss_mb": rss_kb / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30_503, help="threads in the timed comparison (the study's corpus size)")
    ap.add_argument("--big", type=int, default=0, help="also import this many rows in a child process and report peak RSS")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="work in this directory and keep the files")
    ap.add_argument("--child-import", nargs=2, metavar=("CSV", "DB"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_import:
        child_import(*args.child_import)
        return

    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        csv = work / "threads.csv"
        stats = write_corpus(csv, args.n, seed=args.seed)
        print(f"corpus: {stats}")
        ddl = thread_ddl(work)
        print(f"thread table: {len(ddl) - 1} indexes ({', '.join(d.split()[2] if 'UNIQUE' not in d else d.split()[3] for d in ddl[1:])})")
        base_t, cand_t = [], []
        for i in range(args.repeats):
            base_t.append(baseline(csv, work / f"baseline_{i}.sqlite3", ddl))
            seconds, inserted = candidate(csv, work / f"candidate_{i}.sqlite3")
            assert inserted == args.n, f"imported {inserted} of {args.n}"
            cand_t.append(seconds)
            print(f"run {i + 1}: baseline {base_t[-1]:.2f} s, import_threads {cand_t[-1]:.2f} s")
        b, c = statistics.median(base_t), statistics.median(cand_t)
        ratio = c / b
        summary = (f"SUMMARY n={args.n}: baseline median {b:.2f} s, import_threads median {c:.2f} s, "
                   f"ratio {ratio:.2f}x (target <= {TARGET_RATIO}x: {'PASS' if ratio <= TARGET_RATIO else 'FAIL'})")
        if args.big:
            big_csv = work / "big.csv"
            big_stats = write_corpus(big_csv, args.big, seed=args.seed + 1)
            print(f"big corpus: {big_stats}")
            out = subprocess.run([sys.executable, __file__, "--child-import", str(big_csv), str(work / "big.sqlite3")],
                                 check=True, capture_output=True, text=True)
            child = json.loads(out.stdout.strip().splitlines()[-1])
            rss_gb = child["max_rss_mb"] / 1024
            print(f"big import: {child['inserted']} rows in {child['seconds']:.1f} s, peak RSS {child['max_rss_mb']:.0f} MB")
            summary += (f"; big n={args.big}: {child['seconds']:.1f} s, peak RSS {rss_gb:.2f} GB "
                        f"(target < {TARGET_RSS_GB} GB: {'PASS' if rss_gb < TARGET_RSS_GB else 'FAIL'})")
        print(summary)


if __name__ == "__main__":
    main()
