"""Reading thread exports (CSV, JSONL, XLSX, Parquet) in bounded chunks, and validating rows.

Pure of the database: :func:`iter_clean_chunks` yields validated rows and collects problems;
`annotator.services.threads.import_threads` writes them in one transaction. Message logs and
conversation JSON are assembled into the same chunks by :mod:`annotator.importing.messages`;
every file goes through the limits of :mod:`annotator.importing.sources` first.

Row numbers in problems are what a person sees when opening the file: for CSV and XLSX the
header is row 1, so the first record is row 2; for JSONL the line number; for Parquet the
1-based record number.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from annotator.errors import InvalidInput
from annotator.importing.sources import SourceInfo, detect_format, iter_raw

FIELDS = ("thread_id", "text", "user_id", "role", "department", "created_at")
MESSAGE_FIELDS = ("thread_id", "text", "sender", "position", "user_id", "role", "department", "created_at")
REQUIRED = ("thread_id", "text")
CHUNK_ROWS = 50_000
_has_surrogate = re.compile("[\udc80-\udcff]").search  # undecodable bytes, kept by surrogateescape
_MAX_LENGTH = {"thread_id": 200, "user_id": 200, "role": 200, "department": 200}  # column sizes in data.models

__all__ = ["FIELDS", "MESSAGE_FIELDS", "REQUIRED", "CHUNK_ROWS", "CleanChunk", "Problem", "ReadState", "detect_format",
           "iter_clean_chunks", "parse_mapping"]


def parse_mapping(spec: str | None, *, fields: tuple[str, ...] = FIELDS) -> dict[str, str]:
    """Parse `--map text=prompt,thread_id=id` into {field: source column}."""
    mapping: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise InvalidInput(f"'{part.strip()}' is not FIELD=COLUMN (e.g. text=prompt,thread_id=id)", option="map")
        key, _, col = (s.strip() for s in part.partition("="))
        if key not in fields:
            hint = " (sender and position need --messages)" if key in MESSAGE_FIELDS else ""
            raise InvalidInput(f"unknown field '{key}'; fields are {', '.join(fields)}{hint}", option="map")
        if not col:
            raise InvalidInput(f"field '{key}' has no column name", option="map")
        mapping[key] = col
    return mapping


@dataclass
class Problem:
    row: int
    field: str | None
    reason: str


@dataclass
class CleanChunk:
    """Validated rows ready to insert (all columns are Python lists of equal length)."""

    external_id: list[str]
    text: list[str]
    char_count: list[int]
    truncated: list[bool]
    user_id: list[str | None]
    role: list[str | None]
    department: list[str | None]
    created_at: list[datetime | None]  # timezone-aware, UTC
    meta: list[str | None]
    row: list[int] = field(default_factory=list)  # the row a person finds the thread at (first message of a log)
    last_message_at: list[datetime | None] | None = None
    user_turns: list[int | None] | None = None
    first_ts: Any = None  # message logs: numpy arrays of epoch seconds (NaN: none), for vectorised SQL values
    last_ts: Any = None

    def __len__(self) -> int:
        return len(self.external_id)


@dataclass
class ReadState:
    seen: dict[str, int] = field(default_factory=dict)  # external id -> first row
    problems: list[Problem] = field(default_factory=list)
    rows_read: int = 0
    truncated: int = 0
    info: SourceInfo | None = None
    messages: int = 0  # message-level imports: message rows read
    conversations: int = 0  # conversations assembled (threads offered to the database)
    unknown_senders: dict[str, int] = field(default_factory=dict)


def _printable(value: str) -> str:
    """`value` itself, or its repr when it holds line breaks or other control characters (messages stay one line)."""
    return value if value.isprintable() else repr(value)


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def _as_text(series: pd.Series, strip: bool = True) -> pd.Series:
    """Object-dtype series of (stripped) Python strings; missing values become ''.

    Kept as object dtype on purpose: pandas' Arrow strings cannot hold the surrogates that mark
    undecodable bytes, which we must report rather than crash on.
    """
    values = series.tolist()
    if pd.api.types.infer_dtype(values, skipna=False) == "string":  # the usual case (CSV): no per-value checks
        if strip and _needs_strip(values):
            values = [v.strip() for v in values]
        return pd.Series(values, index=series.index, dtype=object)
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            v = ""
        elif not isinstance(v, str):
            v = str(v)
        out.append(v.strip() if strip else v)
    return pd.Series(out, index=series.index, dtype=object)


_EDGE_SPACE = re.compile(r"\x1f(?:(?<=\s\x1f)|(?=\s))")  # a literal first: the engine skips to each \x1f


def _needs_strip(values: list[str]) -> bool:
    """Whether any value starts or ends with whitespace (one regex over the joined column, C speed)."""
    if not values:
        return False
    return _EDGE_SPACE.search("\x1f" + "\x1f".join(values) + "\x1f") is not None


class Flags:
    """Bad rows of one chunk: a boolean mask plus (field, reason) for the few flagged positions."""

    def __init__(self, n: int) -> None:
        self.ok = np.ones(n, dtype=bool)
        self.reasons: dict[int, tuple[str, str]] = {}

    def __call__(self, mask, field: str, reason) -> None:
        m = np.asarray(mask, dtype=bool) & self.ok
        if not m.any():
            return
        idx = np.flatnonzero(m)
        texts = reason.to_numpy(dtype=object) if isinstance(reason, pd.Series) else None
        for i in idx.tolist():
            self.reasons[i] = (field, reason if texts is None else texts[i])
        self.ok[idx] = False

    def problems(self, rows) -> list[Problem]:
        if not self.reasons:
            return []
        rows = list(rows)
        return [Problem(int(rows[i]), f or None, r) for i, (f, r) in sorted(self.reasons.items())]


def _bad_encoding(value: str) -> bool:
    """Undecodable bytes (surrogates); an ASCII-only string, the usual case, is checked in O(1)."""
    return not value.isascii() and _has_surrogate(value) is not None


def _has_nul(value: str) -> bool:
    """PostgreSQL text cannot hold NUL."""
    return "\x00" in value


def _py_datetimes(dates: pd.Series) -> list:
    """UTC-aware `datetime`s, None for missing (vectorised conversion)."""
    missing = dates.isna().tolist()
    return [None if m else d for d, m in zip(dates.array.to_pydatetime().tolist(), missing)]


def _mask(values: pd.Series, test) -> pd.Series:
    return pd.Series([bool(test(v)) for v in values.tolist()], index=values.index, dtype=bool)


def _parse_dates(values: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    retry = parsed.isna() & (values != "")
    if retry.any():
        parsed.loc[retry] = pd.to_datetime(values[retry], utc=True, errors="coerce", format="mixed")
    return parsed


def iter_clean_chunks(
    path: Path, *, mapping: dict[str, str] | None = None, fmt: str | None = None, truncate_at: int = 32_000,
    state: ReadState,
) -> Iterator[CleanChunk]:
    """Read `path` chunk by chunk; yield valid rows, record bad ones in `state.problems`."""
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"{path}: no such file")
    fmt = detect_format(path, fmt)
    if fmt == "json":
        raise InvalidInput(f"{path.name}: a .json file is read as conversations (OpenAI 'messages' or ShareGPT "
                           "'conversations'); it holds no thread rows")
    mapping = mapping or {}
    state.info = state.info or SourceInfo(fmt=fmt)
    for raw in iter_raw(path, fmt, chunk_rows=CHUNK_ROWS, info=state.info):
        state.problems.extend(Problem(r, f, reason) for r, f, reason in raw.problems)
        state.rows_read += len(raw.problems)
        frame = raw.frame
        if not len(frame.columns) and not len(frame):
            continue
        columns = [str(c) for c in frame.columns]
        frame.columns = columns
        source = {f: mapping.get(f, f) for f in FIELDS}
        check_columns(path.name, columns, source, mapping, REQUIRED)
        n = len(frame)
        rows = pd.Index(raw.rows)
        state.rows_read += n
        if not n:
            continue
        frame.index = rows
        yield from _clean(frame, rows, columns, source, path.name, truncate_at, state)


def check_columns(name: str, columns: list[str], source: dict[str, str], mapping: dict[str, str],
                  required: tuple[str, ...]) -> None:
    for req in required:
        if source[req] not in columns:
            missing = (f"{name}: no column '{source[req]}' for {req} (columns found: "
                       f"{', '.join(_printable(c) for c in columns[:12])}); ")
            raise InvalidInput(missing + f"choose the column that holds the {req}",
                               cli=missing + f"name it with --map {req}=COLUMN")
    for f, col in mapping.items():
        if col not in columns:
            raise InvalidInput(f"{name}: {f} is mapped to the column '{col}', but the file has no column '{col}'",
                               cli=f"{name}: --map {f}={col}, but the file has no column '{col}'")


def _not_text(v) -> bool:
    return isinstance(v, (dict, list, tuple, bytes, bytearray))


def flag_values(s: pd.Series, f: str, flag) -> None:
    """Flag undecodable bytes, NUL characters and over-long values of one column."""
    values = s.tolist()
    joined = "".join(values)  # one scan per column; rows are only examined when it finds something
    if not joined.isascii():
        flag(_mask(s, _bad_encoding), f, "bad encoding (not UTF-8); re-save the file as UTF-8")
    if "\x00" in joined:
        flag(_mask(s, _has_nul), f, "contains a NUL character (0x00), which cannot be stored")
    limit = _MAX_LENGTH.get(f)
    if limit and max(map(len, values), default=0) > limit:
        flag(_mask(s, lambda v: len(v) > limit), f, f"longer than {limit} characters")


def _clean(frame: pd.DataFrame, rows: pd.Index, columns: list[str], source: dict[str, str], name: str,
           truncate_at: int, state: ReadState) -> Iterator[CleanChunk]:
    raw_text = frame[source["text"]]
    ids = _as_text(frame[source["thread_id"]])
    text = _as_text(raw_text, strip=False)
    opt = {f: (_as_text(frame[source[f]]) if source[f] in columns else None) for f in FIELDS[2:]}

    bad = pd.Series("", index=rows, dtype=object)
    bad_field = pd.Series("", index=rows, dtype=object)

    def flag(mask: pd.Series, fld: str, reason) -> None:
        mask = mask & (bad == "")
        if mask.any():
            bad.loc[mask] = reason if isinstance(reason, str) else reason[mask]
            bad_field.loc[mask] = fld

    if raw_text.dtype == object:
        flag(_mask(raw_text, _not_text), "text", "not text (a list, object or binary value); the text must be a string")
    flag(ids == "", "thread_id", "empty thread_id")
    flag(_mask(text, lambda v: not v.strip()), "text", "empty text")
    for f in ("thread_id", "text", "user_id", "role", "department", "created_at"):
        s = ids if f == "thread_id" else text if f == "text" else opt[f]
        if s is not None:
            flag_values(s, f, flag)
    extra = [c for c in columns if c not in set(source.values())]
    for c in extra:  # metadata is stored as JSON text: undecodable bytes or NUL cannot be stored
        if frame[c].dtype == object:
            flag(_mask(frame[c], lambda v: v is not None and _bad_meta(v if isinstance(v, str) else str(v))),
                 c, "bad encoding (not UTF-8) or a NUL character; re-save the file as UTF-8 text")
    dates = None
    if opt["created_at"] is not None:
        dates = _parse_dates(opt["created_at"])
        raw = opt["created_at"]
        unparsed = dates.isna() & (raw != "")
        if unparsed.any():
            reasons = raw[unparsed].map(lambda v: f"unparseable date {v[:40]!r}; use ISO 8601 like 2024-05-01T09:30:00Z")
            flag(unparsed, "created_at", reasons.reindex(rows, fill_value=""))
    # duplicates inside the file (across chunks too)
    dup_reason = pd.Series("", index=rows, dtype=object)
    seen = state.seen
    ok_mask = bad == ""
    for row, tid in zip(rows[ok_mask.to_numpy()], ids[ok_mask].tolist()):
        first = seen.get(tid)
        if first is None:
            seen[tid] = row
        else:
            dup_reason.loc[row] = f"duplicate thread_id '{_printable(tid[:60])}' (first at row {first})"
    flag(dup_reason != "", "thread_id", dup_reason)

    bad_rows = bad != ""
    if bad_rows.any():
        state.problems.extend(
            Problem(int(r), f or None, reason) for r, f, reason in zip(rows[bad_rows.to_numpy()], bad_field[bad_rows], bad[bad_rows])
        )
    keep = ~bad_rows
    if not keep.any():
        return
    t = text[keep]
    lengths = pd.Series([len(v) for v in t.tolist()], index=t.index, dtype="int64")
    over = lengths > truncate_at
    state.truncated += int(over.sum())
    if over.any():
        t = pd.Series([v[:truncate_at] if o else v for v, o in zip(t.tolist(), over.tolist())], index=t.index, dtype=object)
    meta = [None] * int(keep.sum())
    if extra:
        recs = frame.loc[keep, extra].astype(object).where(frame.loc[keep, extra].notna(), None).to_dict("records")
        meta = [json.dumps(r, ensure_ascii=False, default=str) for r in recs]

    def opt_list(f: str) -> list:
        s = opt[f]
        if s is None:
            return [None] * len(t)
        return [v if v else None for v in s[keep].tolist()]

    yield CleanChunk(
        external_id=ids[keep].tolist(),
        text=t.tolist(),
        char_count=lengths.astype(int).tolist(),
        truncated=over.tolist(),
        user_id=opt_list("user_id"),
        role=opt_list("role"),
        department=opt_list("department"),
        created_at=_py_datetimes(dates[keep]) if dates is not None else [None] * len(t),
        meta=meta,
        row=[int(r) for r in rows[keep.to_numpy()]],
    )


def _bad_meta(value: str) -> bool:
    return "\x00" in value or (not value.isascii() and _has_surrogate(value) is not None)
