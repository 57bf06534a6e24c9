"""Import threads: one transaction for the whole file, idempotent on the external id.

Three kinds of file: thread exports (one row per thread), message logs (one row per message,
``messages=True``; assembled by :mod:`annotator.importing.messages`) and conversation JSON
(detected by itself). Every kind ends in the same writer: roster and role mapping applied, new
threads inserted, stored threads compared (a changed text is reported by row and id, and replaced
only with ``update`` and only while the thread has no labels), the audit row in the same
transaction. ``dry_run`` reads and checks everything, writes nothing, and returns the preview.
"""

from __future__ import annotations

import heapq
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Engine

from annotator.data.models import Decision, Label, Thread
from annotator.errors import InvalidInput, RowErrors
from annotator.importing import CleanChunk, Problem, ReadState, detect_format, iter_clean_chunks
from annotator.importing.messages import (MessageOptions, iter_conversation_threads, iter_message_threads,
                                          looks_like_conversations)
from annotator.services import audit
from annotator.services.roles import bump_revision, load_lookup, load_roster

log = logging.getLogger(__name__)

_COLUMNS = ("external_id", "text", "char_count", "truncated", "user_id", "role", "role_group", "soc_group",
            "department", "created_at", "last_message_at", "user_turns", "meta")
PREVIEW_ROWS = 5
_LOOKUP_CHUNK = 2000


@dataclass
class ImportReport:
    file: str
    fmt: str = ""
    mode: str = "threads"  # threads | messages | conversations
    mapping: dict[str, str] = field(default_factory=dict)
    rows_read: int = 0
    inserted: int = 0
    already_present: int = 0
    truncated: int = 0
    problems: list[Problem] = field(default_factory=list)
    changed: list[tuple[int, str]] = field(default_factory=list)  # (row, thread id): stored text differs
    updated: list[tuple[int, str]] = field(default_factory=list)  # changed and replaced (--update)
    kept_labeled: list[tuple[int, str]] = field(default_factory=list)  # changed, not replaced: has labels
    threads: int = 0  # valid threads offered to the database (assembled conversations for logs)
    conversations: int = 0
    messages: int = 0
    unknown_senders: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sample: list[dict] = field(default_factory=list)  # the first rows as stored
    dry_run: bool = False

    @property
    def skipped(self) -> int:
        return len(self.problems)

    def skipped_by_reason(self) -> dict[str, int]:
        """Skipped rows counted by kind of reason (ids, values and row numbers left out)."""
        return dict(Counter(_reason_kind(p.reason) for p in self.problems).most_common())

    def summary(self) -> str:
        verb = "would be imported" if self.dry_run else "imported"
        if self.mode == "threads":
            text = (f"{self.file}: {self.rows_read} rows read, {self.inserted} threads {verb}, "
                    f"{self.already_present} already present, {self.skipped} skipped, {self.truncated} truncated")
        else:
            unit = "message rows" if self.mode == "messages" else "conversations"
            text = (f"{self.file}: {self.rows_read} {unit} read, {self.threads} threads assembled, {self.inserted} "
                    f"threads {verb}, {self.already_present} already present, {self.skipped} skipped, "
                    f"{self.truncated} truncated")
        if self.changed:
            text += f", {len(self.changed)} changed"
            if self.updated:
                text += f" ({len(self.updated)} {'would be ' if self.dry_run else ''}updated"
                text += f", {len(self.kept_labeled)} kept: labeled)" if self.kept_labeled else ")"
            else:
                text += " (kept; --update replaces unlabeled ones)"
        return text + (" (dry run: nothing was written)" if self.dry_run else "")


def _reason_kind(reason: str) -> str:
    head = reason.split(";", 1)[0]
    head = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", head)
    head = re.sub(r"\(first at row \d+\)|\(same as row \d+\)|from row \d+", "", head)
    return " ".join(re.sub(r"\d+", "N", head).split())[:120]


def _insert_sql(paramstyle: str) -> str:
    cols = ", ".join(_COLUMNS)
    marks = ", ".join(["?"] * len(_COLUMNS)) if paramstyle == "qmark" else ", ".join(["%s"] * len(_COLUMNS))
    return f"INSERT INTO thread ({cols}) VALUES ({marks}) ON CONFLICT (external_id) DO NOTHING"


def detect_mode(path: Path, fmt: str | None, messages: bool) -> tuple[str, str]:
    """(format, mode): conversation files are recognised by themselves; `messages` asks for a message log."""
    found = detect_format(Path(path), fmt)
    if looks_like_conversations(Path(path), found):
        return found, "conversations"
    return found, "messages" if messages else "threads"


def import_threads(
    engine: Engine, path: Path | str, *, mapping: dict[str, str] | None = None, fmt: str | None = None,
    truncate_at: int = 32_000, strict: bool = False, actor: str = "cli",
    on_progress: Callable[[int], None] | None = None, messages: bool = False,
    options: MessageOptions | None = None, update_changed: bool = False, dry_run: bool = False,
) -> ImportReport:
    """Import a thread export, a message log (`messages`) or a conversation file.

    Bad rows are reported and skipped (`strict`: nothing is imported). The whole file goes in one
    transaction: an error part-way leaves the database as it was. A thread id already stored with
    the same text is left alone (importing a file twice adds nothing); with a different text it is
    reported, and replaced only with `update_changed` for threads that carry no labels. A file with
    no data rows, or whose every row is bad, imports nothing and raises. Inserts use the driver's
    executemany directly (the hot path for 1,000,000 rows).
    """
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"{path}: no such file")
    found, mode = detect_mode(path, fmt, messages)
    state = ReadState()
    report = ImportReport(file=path.name, fmt=found, mode=mode, mapping=dict(mapping or {}), dry_run=dry_run)
    if mode == "threads":
        chunks = iter_clean_chunks(path, mapping=mapping, fmt=found, truncate_at=truncate_at, state=state)
    elif mode == "messages":
        chunks = iter_message_threads(path, mapping=mapping, fmt=found, truncate_at=truncate_at, state=state,
                                      options=options)
    else:
        chunks = iter_conversation_threads(path, mapping=mapping, fmt=found, truncate_at=truncate_at, state=state,
                                           options=options)
    sqlite = engine.dialect.name == "sqlite"
    sql = _insert_sql(engine.dialect.paramstyle)
    sample_heap: list[tuple[int, int, dict]] = []
    changed_ids: dict[str, tuple] = {}  # external id -> (row, thread row id, index in chunk, chunk)
    same = 0  # stored with the same text
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            before = conn.execute(select(func.count()).select_from(Thread)).scalar_one()
            lookup = load_lookup(conn)
            roster = load_roster(conn)
            raw = conn.connection.driver_connection
            cur = raw.cursor()
            for chunk in chunks:
                if strict and state.problems:
                    break
                report.threads += len(chunk)
                _apply_roster_and_groups(chunk, roster, lookup)
                present = _stored(conn, chunk.external_id) if before else {}
                rows = []
                for i in range(len(chunk)):
                    ext = chunk.external_id[i]
                    stored = present.get(ext)
                    if stored is not None:
                        if (stored[1], stored[2]) != (chunk.text[i], chunk.char_count[i]):
                            changed_ids[ext] = (chunk.row[i] if chunk.row else 0, stored[0], i, chunk)
                        else:
                            same += 1
                        continue
                    rows.append(i)
                for i in _first_rows(chunk, rows):
                    _offer_sample(sample_heap, chunk, i)
                if not dry_run and rows:
                    cur.executemany(sql, _rows(chunk, rows, sqlite))
                if on_progress:
                    on_progress(state.rows_read)
            report.rows_read, report.truncated = state.rows_read, state.truncated
            report.problems = sorted(state.problems, key=lambda p: p.row)
            report.messages, report.conversations = state.messages, state.conversations
            report.unknown_senders = dict(state.unknown_senders)
            report.notes = list(state.info.notes) if state.info else []
            if state.unknown_senders:
                values = ", ".join(f"'{v}' ({n})" for v, n in sorted(state.unknown_senders.items(), key=lambda x: -x[1])[:8])
                report.notes.append(f"unknown sender values: {values}; map them with --user-senders, "
                                    "--assistant-senders or --system-senders")
            if strict and state.problems:  # leaving by an exception rolls the transaction back
                raise RowErrors(path.name, [(p.row, p.field, p.reason) for p in report.problems])
            if report.rows_read == 0:
                raise InvalidInput(f"{path.name}: nothing to import: the file has no data rows (only a header, or "
                                   "nothing at all); nothing was written")
            if report.threads == 0 and report.problems:
                raise RowErrors(path.name, [(p.row, p.field, p.reason) for p in report.problems])
            report.changed = sorted((row, ext) for ext, (row, _id, _i, _c) in changed_ids.items())
            if update_changed and changed_ids:
                _update_changed(conn, changed_ids, report, sqlite, dry_run)
            if dry_run:
                report.inserted = report.threads - same - len(report.changed)
            else:
                report.inserted = conn.execute(select(func.count()).select_from(Thread)).scalar_one() - before
            report.already_present = report.threads - report.inserted - len(report.changed)
            report.sample = [s for _r, _n, s in sorted(sample_heap, key=lambda x: (-x[0], x[1]))][:PREVIEW_ROWS]
            report.sample.sort(key=lambda s: s["row"])
            if dry_run:
                trans.rollback()
            else:
                audit.record(conn, actor=actor, action="import_threads", entity="file", entity_id=path.name[:200],
                             detail={"mode": mode, "rows": report.rows_read, "threads": report.threads,
                                     "inserted": report.inserted, "skipped": report.skipped,
                                     "truncated": report.truncated, "changed": len(report.changed),
                                     "updated": [ext for _r, ext in report.updated[:1000]]})
                trans.commit()
        except BaseException:
            if trans.is_active:
                trans.rollback()
            raise
    log.info("imported %s: %d new threads", path.name, report.inserted)
    return report


def _apply_roster_and_groups(chunk: CleanChunk, roster, lookup) -> None:
    """Roster (by user id and the thread's date) over the file's role and department; then the role's groups."""
    groups, socs = [], []
    if roster.by_user:
        for i, uid in enumerate(chunk.user_id):
            found = roster.at(uid, chunk.created_at[i]) if uid else None
            if found is not None:
                title, dept = found
                if title is not None:
                    chunk.role[i] = title
                if dept is not None:
                    chunk.department[i] = dept
    for r in chunk.role:
        g, s = lookup._cache.get(r) or lookup.groups(r)
        groups.append(g)
        socs.append(s)
    chunk.role_group = groups  # type: ignore[attr-defined]
    chunk.soc_group = socs  # type: ignore[attr-defined]


def _when(d):
    return None if d is None else d.isoformat(" ", "microseconds")[:26]  # SQLAlchemy's SQLite DateTime text (UTC)


def _sqlite_times(epoch) -> list:
    """SQLite DateTime text ('YYYY-MM-DD HH:MM:SS.ffffff', UTC) from epoch seconds, vectorised; None for NaN."""
    import numpy as np

    ok = ~np.isnan(epoch)
    us = np.where(ok, np.round(epoch * 1e6), 0).astype("int64").astype("datetime64[us]")
    text = np.char.replace(np.datetime_as_string(us, unit="us"), "T", " ").tolist()
    return text if ok.all() else [t if k else None for t, k in zip(text, ok.tolist())]


def _rows(chunk: CleanChunk, idx: list[int], sqlite: bool) -> list[tuple]:
    """Parameter tuples for the INSERT, columns as ``_COLUMNS``, for the chunk's rows `idx`."""
    n = len(chunk)
    created = chunk.created_at
    last = chunk.last_message_at if chunk.last_message_at is not None else [None] * n
    if sqlite:
        created = _sqlite_times(chunk.first_ts) if chunk.first_ts is not None else [_when(d) for d in created]
        last = _sqlite_times(chunk.last_ts) if chunk.last_ts is not None else [_when(d) for d in last]
    turns = chunk.user_turns if chunk.user_turns is not None else [None] * n
    cols = (chunk.external_id, chunk.text, chunk.char_count, chunk.truncated, chunk.user_id, chunk.role,
            chunk.role_group, chunk.soc_group, chunk.department, created, last, turns,  # type: ignore[attr-defined]
            chunk.meta)
    if len(idx) == n:
        return list(zip(*cols))
    return [tuple(c[i] for c in cols) for i in idx]


def _first_rows(chunk: CleanChunk, idx: list[int]) -> list[int]:
    """The (at most PREVIEW_ROWS) positions in `idx` with the smallest file rows, without a Python call per row."""
    if len(idx) <= PREVIEW_ROWS or not chunk.row:
        return idx[:PREVIEW_ROWS] if not chunk.row else idx
    import numpy as np

    rows = np.asarray(chunk.row, dtype=np.int64)[idx]
    best = np.argpartition(rows, PREVIEW_ROWS)[:PREVIEW_ROWS]
    return [idx[int(k)] for k in best]


def _offer_sample(heap: list, chunk: CleanChunk, i: int) -> None:
    row = chunk.row[i] if chunk.row else 0
    if len(heap) >= PREVIEW_ROWS and -heap[0][0] <= row:
        return
    item = {"row": row, "thread_id": chunk.external_id[i], "text": chunk.text[i], "char_count": chunk.char_count[i],
            "truncated": chunk.truncated[i], "user_id": chunk.user_id[i], "role": chunk.role[i],
            "role_group": chunk.role_group[i], "soc_group": chunk.soc_group[i],  # type: ignore[attr-defined]
            "department": chunk.department[i], "created_at": chunk.created_at[i],
            "last_message_at": chunk.last_message_at[i] if chunk.last_message_at is not None else None,
            "user_turns": chunk.user_turns[i] if chunk.user_turns is not None else None}
    heapq.heappush(heap, (-row, id(item), item))
    if len(heap) > PREVIEW_ROWS:
        heapq.heappop(heap)


def _stored(conn, external_ids: list[str]) -> dict[str, tuple[int, str, int]]:
    """external id -> (row id, text, char_count) of the stored threads among these ids."""
    out: dict[str, tuple[int, str, int]] = {}
    for start in range(0, len(external_ids), _LOOKUP_CHUNK):
        part = external_ids[start:start + _LOOKUP_CHUNK]
        for ext, tid, text, n in conn.execute(select(Thread.external_id, Thread.id, Thread.text, Thread.char_count)
                                              .where(Thread.external_id.in_(part))).all():
            out[ext] = (tid, text, n)
    return out


def _update_changed(conn, changed: dict, report: ImportReport, sqlite: bool, dry_run: bool) -> None:
    """Replace the texts of changed threads that have no label or decision; report the others."""
    ids = [v[1] for v in changed.values()]
    labeled: set[int] = set()
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        part = ids[start:start + _LOOKUP_CHUNK]
        labeled.update(conn.execute(select(Label.thread_id).where(Label.thread_id.in_(part)).distinct()).scalars())
        labeled.update(conn.execute(select(Decision.thread_id).where(Decision.thread_id.in_(part)).distinct()).scalars())
    params = []
    for ext, (row, tid, i, chunk) in sorted(changed.items(), key=lambda kv: kv[1][0]):
        if tid in labeled:
            report.kept_labeled.append((row, ext))
            continue
        report.updated.append((row, ext))
        params.append({"u_id": tid, "u_text": chunk.text[i], "u_n": chunk.char_count[i], "u_trunc": chunk.truncated[i],
                       "u_turns": chunk.user_turns[i] if chunk.user_turns is not None else None,
                       "u_last": chunk.last_message_at[i] if chunk.last_message_at is not None else None})
    if params and not dry_run:
        t = Thread.__table__
        stmt = (update(t).where(t.c.id == bindparam("u_id"))
                .values(text=bindparam("u_text"), char_count=bindparam("u_n"), truncated=bindparam("u_trunc"),
                        user_turns=bindparam("u_turns"), last_message_at=bindparam("u_last")))
        for start in range(0, len(params), _LOOKUP_CHUNK):
            conn.execute(stmt, params[start:start + _LOOKUP_CHUNK])
        bump_revision(conn)


EXPORT_COLUMNS = ("thread_id", "text", "truncated", "char_count", "user_id", "role", "role_group", "soc_group",
                  "department", "first_message_at", "last_message_at", "user_turns")


def iter_thread_frames(engine: Engine, *, chunk: int = 50_000):
    """The stored threads in id order as DataFrames of ``EXPORT_COLUMNS`` (keyset pagination, bounded memory)."""
    import pandas as pd

    t = Thread.__table__.c
    last = 0
    first = True
    while True:
        with engine.connect() as conn:
            rows = conn.execute(select(t.id, t.external_id, t.text, t.truncated, t.char_count, t.user_id, t.role,
                                       t.role_group, t.soc_group, t.department, t.created_at, t.last_message_at,
                                       t.user_turns).where(t.id > last).order_by(t.id).limit(chunk)).all()
        if not rows and not first:
            return
        first = False
        frame = pd.DataFrame([r[1:] for r in rows], columns=list(EXPORT_COLUMNS))
        frame["user_turns"] = frame["user_turns"].astype("Int64")
        frame["truncated"] = frame["truncated"].astype(bool)
        for col in ("first_message_at", "last_message_at"):
            frame[col] = pd.to_datetime(frame[col], utc=True)
        yield frame
        if len(rows) < chunk:
            return
        last = rows[-1][0]


def export_threads(engine: Engine, fmt: str, out: Path | str) -> int:
    """Write every stored thread (what was assembled and stored) to CSV, JSON Lines or Parquet."""
    from annotator.services.tables import write_frames

    return write_frames(iter_thread_frames(engine), fmt, out)
