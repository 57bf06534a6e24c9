"""Import threads: one transaction for the whole file, idempotent on the external id."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from annotator.data.models import Thread
from annotator.errors import RowErrors
from annotator.importing import Problem, ReadState, iter_clean_chunks
from annotator.roles import role_group
from annotator.services import audit

log = logging.getLogger(__name__)

_COLUMNS = ("external_id", "text", "char_count", "truncated", "user_id", "role", "role_group", "department",
            "created_at", "meta")


@dataclass
class ImportReport:
    file: str
    rows_read: int = 0
    inserted: int = 0
    already_present: int = 0
    truncated: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.problems)

    def summary(self) -> str:
        return (f"{self.file}: {self.rows_read} rows read, {self.inserted} threads imported, "
                f"{self.already_present} already present, {self.skipped} skipped, {self.truncated} truncated")


def _insert_sql(dialect_name: str, paramstyle: str) -> str:
    cols = ", ".join(_COLUMNS)
    marks = ", ".join(["?"] * len(_COLUMNS)) if paramstyle == "qmark" else ", ".join(["%s"] * len(_COLUMNS))
    return f"INSERT INTO thread ({cols}) VALUES ({marks}) ON CONFLICT (external_id) DO NOTHING"


def import_threads(
    engine: Engine, path: Path | str, *, mapping: dict[str, str] | None = None, fmt: str | None = None,
    truncate_at: int = 32_000, strict: bool = False, actor: str = "cli",
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a thread export. Bad rows are reported and skipped (`strict`: nothing is imported).

    The whole file goes in one transaction: an error part-way leaves the database as it was.
    Rows whose external id is already stored are left alone, so importing a file twice adds nothing.
    Inserts use the driver's executemany directly (this is the hot path for 1,000,000 rows).
    """
    path = Path(path)
    state = ReadState()
    report = ImportReport(file=path.name)
    sqlite = engine.dialect.name == "sqlite"
    sql = _insert_sql(engine.dialect.name, engine.dialect.paramstyle)
    with engine.begin() as conn:
        before = conn.execute(select(func.count()).select_from(Thread)).scalar_one()
        raw = conn.connection.driver_connection
        cur = raw.cursor()
        for chunk in iter_clean_chunks(path, mapping=mapping, fmt=fmt, truncate_at=truncate_at, state=state):
            if strict and state.problems:
                break
            if sqlite:  # SQLAlchemy's SQLite DateTime text format; the dates are UTC, so the offset is dropped
                dates = [None if d is None else d.isoformat(" ", "microseconds")[:26] for d in chunk.created_at]
            else:
                dates = chunk.created_at
            groups: dict[str | None, str | None] = {None: None}
            for r in set(chunk.role) - groups.keys():
                groups[r] = role_group(r)
            role_groups = [groups[r] for r in chunk.role]
            cur.executemany(sql, list(zip(chunk.external_id, chunk.text, chunk.char_count, chunk.truncated,
                                          chunk.user_id, chunk.role, role_groups, chunk.department, dates,
                                          chunk.meta)))
            if on_progress:
                on_progress(state.rows_read)
        report.rows_read, report.problems, report.truncated = state.rows_read, state.problems, state.truncated
        if strict and state.problems:  # leaving the block by an exception rolls the transaction back
            raise RowErrors(path.name, [(p.row, p.field, p.reason) for p in state.problems])
        after = conn.execute(select(func.count()).select_from(Thread)).scalar_one()
        report.inserted = after - before
        report.already_present = report.rows_read - report.skipped - report.inserted
        audit.record(conn, actor=actor, action="import_threads", entity="file", entity_id=path.name,
                     detail={"rows": report.rows_read, "inserted": report.inserted, "skipped": report.skipped,
                             "truncated": report.truncated})
    log.info("imported %s: %d new threads", path.name, report.inserted)
    return report
