"""Benchmark: importing a message log (one row per message) against pandas + one executemany.

Writes a CSV of `--conversations` conversations of 5 messages each (3 user, 2 assistant; 5,000,000
rows for the default 1,000,000 conversations), rows shuffled in blocks so that the messages of one
conversation are spread across the file. Then, in child processes (peak RSS measured per child):

- baseline: `pandas.read_csv` of the whole file in chunks of 50,000 rows (the reading alone), plus
  one `sqlite3` `executemany` of the already assembled threads into a fresh SQLite `thread` table
  with the DDL and indexes the migrations make (WAL, synchronous=NORMAL);
- candidate: `annotator import-threads FILE --messages --map ...` into a fresh migrated SQLite
  database: validation, grouping on disk, assembly, roster/mapping lookups, insert, audit.

Prints both times, the ratio (target <= 2.0) and the candidate's peak RSS (target < 1.5 GB), read
from the child's own VmHWM (getrusage's ru_maxrss would include the parent's memory at fork time).

    .venv/bin/python bench/bench_messages.py [--conversations 1000000] [--seed 7] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 2.0
TARGET_RSS_GB = 1.5
MESSAGES = 5
_WORDS = np.array(["please", "draft", "an", "email", "to", "the", "team", "about", "the", "schedule", "what", "is",
                   "dose", "of", "amoxicillin", "for", "a", "child", "translate", "this", "into", "Spanish,", "fix",
                   "my", "excel", "formula", "\"quoted\"", "summarise", "note", "thanks"])


def write_log(path: Path, n_conv: int, *, seed: int, chunk_conv: int = 100_000) -> int:
    """Write the message log in chunks; conversations are shuffled across each chunk of 500,000 rows."""
    rng = np.random.default_rng(seed)
    rows = 0
    first = True
    start = pd.Timestamp("2024-04-22T00:00:00Z").value // 10**9
    for c0 in range(0, n_conv, chunk_conv):
        n = min(chunk_conv, n_conv - c0)
        conv = np.repeat(np.arange(c0, c0 + n), MESSAGES)
        idx = np.tile(np.arange(1, MESSAGES + 1), n)
        sender = np.where(idx % 2 == 1, "user", "assistant")
        n_words = rng.integers(4, 25, size=len(conv))
        words = rng.integers(0, len(_WORDS), size=int(n_words.sum()))
        bounds = np.cumsum(n_words)[:-1]
        texts = [" ".join(w) for w in np.split(_WORDS[words], bounds)]
        t0 = start + rng.integers(0, 300 * 86400, size=n)
        stamps = np.repeat(t0, MESSAGES) + idx * 20
        frame = pd.DataFrame({
            "conversation_id": [f"conv-{c:07d}" for c in conv], "message_index": idx, "sender": sender,
            "content": texts, "user_id": [f"u{c % 50_000:05d}" for c in conv],
            "sent_at": pd.to_datetime(stamps, unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%SZ"),
        })
        frame = frame.sample(frac=1, random_state=int(rng.integers(0, 2**31)))
        frame.to_csv(path, mode="w" if first else "a", header=first, index=False)
        first = False
        rows += len(frame)
    return rows


def assembled_rows(path: Path) -> list[tuple]:
    """The threads the import will store, assembled once here for the baseline's executemany (not timed)."""
    frame = pd.read_csv(path, dtype={"conversation_id": str, "content": str, "sender": str, "user_id": str,
                                     "sent_at": str, "message_index": "int64"})
    frame = frame.sort_values(["conversation_id", "message_index"])
    users = frame[frame["sender"] == "user"]
    text = ("user: " + users["content"]).groupby(users["conversation_id"], sort=False).agg("\n".join)
    first = frame.groupby("conversation_id", sort=False)["sent_at"].agg(["min", "max"])
    turns = users.groupby("conversation_id", sort=False).size()
    uid = users.groupby("conversation_id", sort=False)["user_id"].first()
    out = []
    for cid, t in text.items():
        out.append((cid, t, len(t), False, uid[cid], None, None, None, None, first.at[cid, "min"].replace("T", " ")[:19],
                    first.at[cid, "max"].replace("T", " ")[:19], int(turns[cid]), '{"messages": 5}'))
    return out


BASELINE = r'''
import pickle, sqlite3, sys, time, resource
import pandas as pd
path, db, rows_file, ddl_file = sys.argv[1:5]
ddl = open(ddl_file).read().split(";\n")
rows = pickle.load(open(rows_file, "rb"))
t0 = time.perf_counter()
n = 0
for chunk in pd.read_csv(path, dtype=object, keep_default_na=False, chunksize=50_000):
    n += len(chunk)
t1 = time.perf_counter()
conn = sqlite3.connect(db)
conn.execute("PRAGMA journal_mode=WAL"); conn.execute("PRAGMA synchronous=NORMAL")
for stmt in ddl:
    if stmt.strip():
        conn.execute(stmt)
t2 = time.perf_counter()
cols = "external_id, text, char_count, truncated, user_id, role, role_group, soc_group, department, created_at, last_message_at, user_turns, meta"
with conn:
    conn.executemany(f"INSERT INTO thread ({cols}) VALUES ({', '.join(['?'] * 13)})", rows)
t3 = time.perf_counter()
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(f"{n} {t1 - t0:.3f} {t3 - t2:.3f} {hwm}")
'''


def thread_ddl(work: Path) -> str:
    from annotator.data.engine import ensure_schema, make_engine

    engine = make_engine(f"sqlite:///{work / 'schema.sqlite3'}")
    ensure_schema(engine)
    with engine.connect() as conn:
        ddl = [r[0] for r in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'thread' AND sql IS NOT NULL ORDER BY type DESC")]
    engine.dispose()
    return ";\n".join(ddl)


def migrated(url: str) -> None:
    from annotator.data.engine import ensure_schema, make_engine

    engine = make_engine(url)
    ensure_schema(engine)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep the files.")
    parser.add_argument("--reuse", action="store_true", help="With --keep: reuse the log and assembled rows written before.")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-messages-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "messages.csv"
    rows_file = work / "rows.pickle"
    import pickle

    if args.reuse and log.exists() and rows_file.exists():
        n_rows = args.conversations * MESSAGES
        print(f"reusing {log} ({log.stat().st_size / 2**20:,.0f} MiB)")
    else:
        t = time.perf_counter()
        n_rows = write_log(log, args.conversations, seed=args.seed)
        print(f"wrote {n_rows:,} message rows ({log.stat().st_size / 2**20:,.0f} MiB) in {time.perf_counter() - t:.1f} s")
        rows = assembled_rows(log)
        rows_file.write_bytes(pickle.dumps(rows))
        del rows
    ddl_file = work / "ddl.sql"
    ddl_file.write_text(thread_ddl(work))

    base_db = work / "baseline.sqlite3"
    base_db.unlink(missing_ok=True)
    out = subprocess.run([sys.executable, "-c", BASELINE, str(log), str(base_db), str(rows_file), str(ddl_file)],
                         capture_output=True, text=True, check=True).stdout.split()
    read_s, insert_s, base_rss = float(out[1]), float(out[2]), int(out[3])
    baseline = read_s + insert_s

    cand_db = work / "candidate.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(str(cand_db) + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{cand_db}"
    migrated(url)
    env = dict(os.environ, ANNOTATOR_DATABASE_URL=url)
    code = ("import resource, sys, time; from annotator.cli import cli\n"
            "import pandas, pyarrow, annotator.services.threads, annotator.importing.messages  # as the baseline: "
            "imports are not timed\n"
            "t = time.perf_counter()\n"
            "try:\n    cli(sys.argv[1:], standalone_mode=False)\nfinally:\n"
            "    hwm = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
            "    print(f'TIME {time.perf_counter() - t:.3f} RSS {hwm}', file=sys.stderr)\n")
    res = subprocess.run([sys.executable, "-c", code, "import-threads", str(log), "--messages", "--map",
                          "thread_id=conversation_id,text=content,position=message_index,created_at=sent_at"],
                         capture_output=True, text=True, env=env, cwd=ROOT)
    tail = [line for line in res.stderr.splitlines() if line.startswith("TIME ")]
    if res.returncode != 0 or not tail:
        print(res.stdout, res.stderr[-3000:])
        raise SystemExit(1)
    cand_s, cand_rss = float(tail[-1].split()[1]), int(tail[-1].split()[3])
    print(res.stdout.strip())
    load = os.getloadavg()
    print(json.dumps({"rows": n_rows, "conversations": args.conversations, "baseline_read_s": read_s,
                      "baseline_executemany_s": insert_s, "baseline_s": round(baseline, 2),
                      "candidate_s": cand_s, "ratio": round(cand_s / baseline, 2),
                      "candidate_peak_rss_mb": round(cand_rss / 1024), "baseline_peak_rss_mb": round(base_rss / 1024),
                      "load_average": [round(x, 2) for x in load]}, indent=2))
    verdict = "OK" if cand_s / baseline <= TARGET_RATIO and cand_rss / 2**20 < TARGET_RSS_GB else "OVER TARGET"
    print(f"message import: {cand_s:.1f} s vs baseline {baseline:.1f} s (read {read_s:.1f} s + executemany "
          f"{insert_s:.1f} s) = {cand_s / baseline:.2f}x (target <= {TARGET_RATIO}x); peak RSS "
          f"{cand_rss / 1024:,.0f} MB (target < {TARGET_RSS_GB * 1024:,.0f} MB); load {load[0]:.1f} -> {verdict}")


if __name__ == "__main__":
    main()
