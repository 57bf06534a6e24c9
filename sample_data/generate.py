"""Write synthetic chat threads to a file (thin CLI over annotator.synthetic.write_threads).

Example, the committed sample:
    python sample_data/generate.py --n 2500 --seed 20240422 --out sample_data/threads.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotator.synthetic import write_threads  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, write the file, print one line; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, required=True, help="number of threads")
    parser.add_argument("--seed", type=int, required=True,
                        help="random seed (record it with the file)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output file: .csv, .csv.gz, .jsonl, .parquet or .xlsx")
    parser.add_argument("--format", choices=["csv", "jsonl", "parquet", "xlsx"], default=None,
                        help="override the format inferred from --out")
    parser.add_argument("--start", default="2024-04-22",
                        help="first local date (default %(default)s)")
    parser.add_argument("--end", default="2025-02-28", help="last local date (default %(default)s)")
    parser.add_argument("--long-share", type=float, default=0.011,
                        help="share of threads over 32,000 characters (default %(default)s)")
    parser.add_argument("--chunk-size", type=int, default=20_000,
                        help="rows generated at a time; part of the reproducibility key")
    args = parser.parse_args(argv)
    try:
        rows = write_threads(args.out, args.n, args.seed, fmt=args.format, start=args.start,
                             end=args.end, long_share=args.long_share, chunk_size=args.chunk_size)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {rows} synthetic threads to {args.out} (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
