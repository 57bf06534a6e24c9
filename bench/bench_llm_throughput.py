"""Throughput of run_classification against the fake OpenAI server with a fixed answer latency.

Ideal wall time is n x latency / concurrency (every slot always busy); the ratio measured / ideal should
stay <= 1.25. The fake server runs in its own process so its threads do not share our interpreter lock.

    .venv/bin/python bench/bench_llm_throughput.py                # 5,000 items, 200 ms, concurrency 32
    .venv/bin/python bench/bench_llm_throughput.py --n 500 --latency 0.1
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotator.llm.client import LLMConfig, Outcome, run_classification  # noqa: E402
from annotator.llm.prompt import CategorySpec, build_messages, category_names  # noqa: E402

CODEBOOK = [
    CategorySpec("Email & Document Writing", "Drafting emails, letters and documents.", ["Write an email"]),
    CategorySpec("Text Manipulation", "Rephrasing, summarizing, translating given text.", ["Summarize this policy"]),
    CategorySpec("Coding", "Writing or fixing code and queries.", ["Fix my SQL query"]),
    CategorySpec("Answer Medical Knowledge Questions", "Clinical knowledge questions.", ["Max dose of ibuprofen?"]),
]
TOPICS = ["write an email to the clinic", "summarize this note", "python script", "dose of amoxicillin", "hello"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_openai.py"), "--port", "0", "--latency", str(args.latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = server.stdout.readline().strip()  # type: ignore[union-attr]
        names = category_names(CODEBOOK)
        items = ((f"t{i}", build_messages(CODEBOOK, f"{TOPICS[i % len(TOPICS)]} #{i}")) for i in range(args.n))
        seen: set[str] = set()

        def store(item_id: str, outcome: Outcome) -> None:
            seen.add(item_id)

        cfg = LLMConfig(base_url=base_url, api_key="not-needed", timeout=30, max_retries=2)
        started = time.perf_counter()
        stats = run_classification(items, cfg, category_names=names, concurrency=args.concurrency, on_result=store)
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=10)

    ideal = args.n * args.latency / args.concurrency
    print(f"items {args.n}  latency {args.latency:.3f}s  concurrency {args.concurrency}")
    print(f"ok {stats.ok}  failed {stats.failed}  requests {stats.requests}  distinct results {len(seen)}")
    print(f"wall {wall:.2f}s  ideal {ideal:.2f}s  ratio {wall / ideal:.3f} (target <= 1.25)")
    print(f"throughput {args.n / wall:.1f} items/s")


if __name__ == "__main__":
    main()
