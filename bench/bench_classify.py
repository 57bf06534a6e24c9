"""Throughput of the full model-run path, annotator.services.classify.classify_llm, against the fake server.

Unlike bench_llm_throughput.py (the bare client layer), this includes everything a real run does: the
plan (DB reads, prompt build and hash per thread, cache lookup), streaming thread texts from the
database, and one stored transaction per answer, on a fresh SQLite database with the sample codebook.
The ideal wall time is n x latency / concurrency; the target ratio measured / ideal is <= 1.25. A second
run with nothing changed must send no request at all (answer cache) and is timed too.

The fake server runs in its own process (so its threads do not share our interpreter lock) and reports
how many chat requests it saw through a pipe.

    .venv/bin/python bench/bench_classify.py                          # 5,000 threads, 200 ms, concurrency 32
    .venv/bin/python bench/bench_classify.py --n 300 --latency 0.05 --concurrency 8

Exit status 1 when a thread lacks a prediction or the second run sent a request; the ratio is reported,
with the CPU time this process spent per thread (a figure that, unlike wall time, hardly moves when the
machine is busy: when it nears latency / concurrency, one core cannot keep up with the ideal rate).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402
from sqlmodel import Session  # noqa: E402

from annotator.config import SAMPLE_DATA  # noqa: E402
from annotator.data.engine import ensure_schema, make_engine  # noqa: E402
from annotator.data.models import Prediction, Thread  # noqa: E402
from annotator.llm.client import LLMConfig  # noqa: E402
from annotator.services.classify import classify_llm  # noqa: E402
from annotator.services.codebook import import_codebook  # noqa: E402

TARGET = 1.25
TOPICS = ["Write an email to the clinic managers about the new rota.", "Summarize this discharge note for the patient.",
          "Fix my python script that reads the lab export.", "What is the usual dose of amoxicillin for otitis?",
          "Ideas for a poster about hand hygiene week.", "Reply to this MyChart patient message about refills."]


def serve(latency: float, conn: Connection) -> None:
    """Child process: run the fake server, send its base URL, then answer 'count' with the chat requests seen."""
    from tests.fake_openai import FakeOpenAI

    fake = FakeOpenAI(latency=latency).start()
    conn.send(fake.base_url)
    while (msg := conn.recv()) != "stop":
        if msg == "count":
            conn.send(fake.count("chat"))
    fake.stop()


def fresh_database(path: Path, n: int):
    """A new SQLite database with the sample codebook and `n` distinct threads."""
    engine = make_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    with Session(engine) as s:
        import_codebook(s, SAMPLE_DATA / "codebook.yaml", actor="bench")
    rows = [{"external_id": f"b{i:06d}", "text": f"user: {TOPICS[i % len(TOPICS)]} (case {i})",
             "char_count": 60, "truncated": False} for i in range(n)]
    with engine.begin() as conn:
        conn.execute(insert(Thread), [dict(r, char_count=len(r["text"])) for r in rows])
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="threads (default 5000)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per answer (default 0.2)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (default 32)")
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=serve, args=(args.latency, child), daemon=True)
    server.start()

    def server_count() -> int:
        parent.send("count")
        return parent.recv()

    ok = True
    try:
        base_url = parent.recv()
        with tempfile.TemporaryDirectory() as tmp:
            engine = fresh_database(Path(tmp) / "bench.sqlite3", args.n)
            cfg = LLMConfig(base_url=base_url, api_key="not-needed", timeout=30, max_retries=2)

            cpu = time.process_time()
            first = classify_llm(engine, cfg, concurrency=args.concurrency, actor="bench")
            cpu = time.process_time() - cpu
            seen_first = server_count()
            with Session(engine) as s:
                stored = s.execute(select(func.count(func.distinct(Prediction.thread_id)))
                                   .where(Prediction.run_id == first.run_id)).scalar_one()

            second = classify_llm(engine, cfg, concurrency=args.concurrency, actor="bench")
            seen_second = server_count() - seen_first
            engine.dispose()
    finally:
        parent.send("stop")
        server.join(timeout=10)

    ideal = args.n * args.latency / args.concurrency
    ratio = first.elapsed_s / ideal
    print(f"threads {args.n}  latency {args.latency:.3f}s  concurrency {args.concurrency}  (classify_llm, SQLite)")
    print(f"run 1: ok {first.ok}  failed {first.failed}  stored {stored}  server saw {seen_first} chat requests")
    print(f"run 1: wall {first.elapsed_s:.2f}s  ideal {ideal:.2f}s  ratio {ratio:.3f} "
          f"(target <= {TARGET}: {'met' if ratio <= TARGET else 'MISSED'})  {args.n / first.elapsed_s:.1f} threads/s")
    budget = 1000 * args.latency / args.concurrency
    print(f"run 1: CPU in this process {cpu:.2f}s = {1000 * cpu / args.n:.2f} ms per thread "
          f"(an answer arrives every {budget:.2f} ms at the ideal rate; the loop is one core)")
    print(f"run 2 (nothing changed): server saw {seen_second} requests (must be 0)  from cache {second.n_cached}  "
          f"wall {second.elapsed_s:.2f}s")
    if stored != args.n or first.ok != args.n:
        print(f"FAIL: {args.n - stored} threads without a prediction, {first.failed} failed")
        ok = False
    if seen_second != 0 or second.n_cached != args.n:
        print("FAIL: the second run did not come entirely from the cache")
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
