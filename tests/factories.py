"""Small, deterministic builders for tests: thread rows and files, codebooks, rounds, CLI runs, table dumps.

Everything random takes an explicit seed. Nothing here depends on `annotator.synthetic`, so these
tests do not move when the demo data generator changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from annotator.data.models import CodebookVersion, Thread
from annotator.roles import role_group, suggest_soc
from annotator.services.codebook import CategoryDraft, CodebookDraft, get_version, save_version
from annotator.services.rounds import SampleResult, create_sampled_round

CATEGORIES = ("Clinical documentation", "Patient communication", "Research", "Coding", "Other")
DEPARTMENTS = ("Cardiology", "Emergency", "Oncology", "Pediatrics", "Radiology")
ROLES = ("Physician", "Registered Nurse", "Nurse Practitioner", "Pharmacist", "Administrator")
_WORDS = ("patient", "summarise", "note", "discharge", "letter", "please", "draft", "dose", "review", "policy",
          "the", "a", "for", "with", "insurance", "appeal", "email", "lab", "result", "plan")


def thread_frame(n: int, *, seed: int, **overrides: Any) -> pd.DataFrame:
    """`n` thread rows (thread_id, text, user_id, role, department, created_at), the same for the same seed.

    Each override replaces a column: a scalar (every row), a sequence of length `n`, or None to drop
    the column. New names add extra (metadata) columns.
    """
    rng = np.random.default_rng(seed)
    words = np.array(_WORDS)
    texts = [" ".join(words[rng.integers(0, len(words), size=int(rng.integers(3, 40)))]) for _ in range(n)]
    start = pd.Timestamp("2024-05-01T00:00:00Z")
    frame = pd.DataFrame({
        "thread_id": [f"t{seed}-{i:06d}" for i in range(n)],
        "text": texts,
        "user_id": [f"u{int(u):03d}" for u in rng.integers(0, max(1, n // 4), size=n)],
        "role": [ROLES[int(r)] for r in rng.integers(0, len(ROLES), size=n)],
        "department": [DEPARTMENTS[int(d)] for d in rng.integers(0, len(DEPARTMENTS), size=n)],
        "created_at": [(start + pd.Timedelta(minutes=int(m))).isoformat() for m in rng.integers(0, 60 * 24 * 90, size=n)],
    })
    for col, value in overrides.items():
        if value is None:
            frame = frame.drop(columns=[col])
        else:
            frame[col] = list(value) if isinstance(value, (list, tuple, np.ndarray, pd.Series)) else value
    return frame


def write_threads_file(path: Path | str, frame: pd.DataFrame) -> Path:
    """Write `frame` as CSV, TSV, JSONL, XLSX or Parquet, chosen by the file suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    elif suffix == ".xlsx":
        frame.to_excel(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        raise ValueError(f"no writer for {suffix}")
    return path


def write_threads_csv(path: Path | str, n: int, *, seed: int, **overrides: Any) -> Path:
    """A CSV of `thread_frame(n, seed=seed, **overrides)`; returns the path."""
    return write_threads_file(path, thread_frame(n, seed=seed, **overrides))


def make_threads(session: Session, n: int, *, seed: int = 0, **overrides: Any) -> list[Thread]:
    """Insert `n` threads directly (no import file) and commit; returns them with ids."""
    rows = []
    for rec in thread_frame(n, seed=seed, **overrides).to_dict("records"):
        rows.append(Thread(
            external_id=rec["thread_id"], text=rec["text"], char_count=len(rec["text"]),
            user_id=rec.get("user_id"), role=rec.get("role"), role_group=role_group(rec.get("role")),
            soc_group=suggest_soc(rec.get("role")),
            department=rec.get("department"),
            created_at=pd.Timestamp(rec["created_at"]).to_pydatetime() if rec.get("created_at") else None,
        ))
    session.add_all(rows)
    session.commit()
    return rows


def make_codebook(session: Session, names: Sequence[str] = CATEGORIES, *, note: str = "") -> CodebookVersion:
    """Save a codebook version with these category names (unchanged if it equals the newest)."""
    draft = CodebookDraft(name="test codebook", note=note,
                          categories=[CategoryDraft(name=n, definition=f"Threads about {n.lower()}.") for n in names])
    version, _ = save_version(session, draft, actor="test")
    return version


def make_round(session: Session, *, name: str = "round-1", size: int = 6,
               reviewers: Sequence[str] = ("alice", "bob", "carol"), per_thread: int = 2, seed: int = 1,
               **options: Any) -> SampleResult:
    """A sampled round; makes a codebook and `size` threads first when the database has none."""
    if get_version(session) is None:
        make_codebook(session)
    if session.execute(select(func.count()).select_from(Thread)).scalar_one() == 0:
        make_threads(session, size, seed=seed)
    return create_sampled_round(session, name=name, size=size, reviewers=list(reviewers), per_thread=per_thread,
                                seed=seed, **options)


def run_cli(args: Sequence[str], db_url: str, *, input: str | None = None) -> Result:
    """Run `annotator --db URL ARGS` in-process; stdout and stderr are separate on the result."""
    from annotator.cli import cli

    return CliRunner().invoke(cli, ["--db", db_url, *map(str, args)], input=input, catch_exceptions=True)


def dump_tables(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every table (audit log included), sorted, for "the database did not change" checks."""
    out: dict[str, list[tuple]] = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            rows = conn.execute(table.select()).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def count_rows(engine: Engine, table: type[SQLModel]) -> int:
    """Number of rows in a table."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
