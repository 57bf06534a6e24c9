"""Reading thread exports (CSV, JSONL, XLSX, Parquet) in bounded chunks, and validating rows.

Pure of the database: :func:`iter_clean_chunks` yields validated rows and collects problems;
`annotator.services.threads.import_threads` writes them in one transaction.

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
from typing import Iterator

import pandas as pd

from annotator.errors import InvalidInput, InvalidRow

FIELDS = ("thread_id", "text", "user_id", "role", "department", "created_at")
REQUIRED = ("thread_id", "text")
FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx", ".parquet": "parquet"}
CHUNK_ROWS = 50_000
_has_surrogate = re.compile("[\udc80-\udcff]").search  # undecodable bytes, kept by surrogateescape
_MAX_LENGTH = {"thread_id": 200, "user_id": 200, "role": 200, "department": 200}  # column sizes in data.models


def parse_mapping(spec: str | None) -> dict[str, str]:
    """Parse `--map text=prompt,thread_id=id` into {field: source column}."""
    mapping: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise InvalidInput(f"'{part.strip()}' is not FIELD=COLUMN (e.g. text=prompt,thread_id=id)", option="map")
        key, _, col = (s.strip() for s in part.partition("="))
        if key not in FIELDS:
            raise InvalidInput(f"unknown field '{key}'; fields are {', '.join(FIELDS)}", option="map")
        if not col:
            raise InvalidInput(f"field '{key}' has no column name", option="map")
        mapping[key] = col
    return mapping


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in {"csv", "jsonl", "xlsx", "parquet"}:
            raise InvalidInput(f"{path.name}: unknown format '{fmt}'; use csv, jsonl, xlsx or parquet")
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    found = FORMATS.get(suffixes[-1] if suffixes else "")
    if not found:
        raise InvalidInput(f"{path.name}: cannot tell the format from the name; use .csv, .jsonl, .xlsx or .parquet")
    return found


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

    def __len__(self) -> int:
        return len(self.external_id)


@dataclass
class ReadState:
    seen: dict[str, int] = field(default_factory=dict)  # external id -> first row
    problems: list[Problem] = field(default_factory=list)
    rows_read: int = 0
    truncated: int = 0


def _raw_chunks(path: Path, fmt: str) -> Iterator[tuple[pd.DataFrame, int]]:
    """Yield (frame of strings/objects, row number of its first record)."""
    name = path.name
    if fmt == "csv":
        sep = "\t" if path.suffix.lower() == ".tsv" else ","
        try:
            with pd.read_csv(
                path, dtype=object, keep_default_na=False, encoding="utf-8", encoding_errors="surrogateescape",
                chunksize=CHUNK_ROWS, sep=sep,
            ) as reader:
                start = 2
                for chunk in reader:
                    yield chunk, start
                    start += len(chunk)
        except UnicodeEncodeError:  # pandas' Arrow-backed column index cannot hold undecodable header bytes
            raise InvalidInput(f"{name}: the header row is not UTF-8; re-save the file as UTF-8") from None
        except pd.errors.EmptyDataError:
            raise InvalidInput(f"{name}: the file is empty; it needs a header row with thread_id and text") from None
        except pd.errors.ParserError as exc:
            raise InvalidRow(name, None, None, f"not valid CSV ({_short(exc)}); fix the quoting or delimiters") from None
    elif fmt == "jsonl":
        start = 1
        try:
            for chunk in pd.read_json(path, lines=True, dtype=False, chunksize=CHUNK_ROWS, encoding_errors="surrogateescape"):
                yield chunk, start
                start += len(chunk)
        except ValueError as exc:
            raise InvalidRow(name, None, None, f"not valid JSON Lines ({_short(exc)}); each line must be one JSON object") from None
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several types for a broken file
            raise InvalidInput(f"{name}: not a readable Parquet file ({_short(exc)})") from None
        start = 1
        for batch in pf.iter_batches(batch_size=CHUNK_ROWS):
            frame = batch.to_pandas(types_mapper=None)
            yield frame, start
            start += len(frame)
    elif fmt == "xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises zipfile/KeyError/etc. for a broken workbook
            raise InvalidInput(f"{name}: not a readable XLSX workbook ({_short(exc)})") from None
        try:
            rows = wb.active.iter_rows(values_only=True)
            header = next(rows, None)
            if header is None:
                raise InvalidInput(f"{name}: the sheet is empty; it needs a header row with thread_id and text")
            cols = [str(h) if h is not None else f"column{i + 1}" for i, h in enumerate(header)]
            buf: list[tuple] = []
            start = 2
            for values in rows:
                buf.append(values)
                if len(buf) >= CHUNK_ROWS:
                    yield pd.DataFrame.from_records(buf, columns=cols), start
                    start += len(buf)
                    buf = []
            if buf:
                yield pd.DataFrame.from_records(buf, columns=cols), start
        finally:
            wb.close()


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
    if all(type(v) is str for v in values):  # the usual case (CSV): no per-value type checks
        return pd.Series([v.strip() for v in values] if strip else values, index=series.index, dtype=object)
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            v = ""
        elif not isinstance(v, str):
            v = str(v)
        out.append(v.strip() if strip else v)
    return pd.Series(out, index=series.index, dtype=object)


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
    mapping = mapping or {}
    for frame, start in _raw_chunks(path, fmt):
        columns = [str(c) for c in frame.columns]
        frame.columns = columns
        if any(_has_surrogate(c) for c in columns):
            raise InvalidInput(f"{path.name}: the header row is not UTF-8; re-save the file as UTF-8")
        source = {f: mapping.get(f, f) for f in FIELDS}
        for req in REQUIRED:
            if source[req] not in columns:
                missing = (f"{path.name}: no column '{source[req]}' for {req} "
                           f"(columns found: {', '.join(_printable(c) for c in columns[:12])}); ")
                raise InvalidInput(missing + f"choose the column that holds the {req}",
                                   cli=missing + f"name it with --map {req}=COLUMN")
        for f, col in mapping.items():
            if col not in columns:
                raise InvalidInput(f"{path.name}: {f} is mapped to the column '{col}', but the file has no column '{col}'",
                                   cli=f"{path.name}: --map {f}={col}, but the file has no column '{col}'")
        n = len(frame)
        rows = pd.RangeIndex(start, start + n)
        state.rows_read += n
        frame.index = rows
        ids = _as_text(frame[source["thread_id"]])
        text = _as_text(frame[source["text"]], strip=False)
        opt = {f: (_as_text(frame[source[f]]) if source[f] in columns else None) for f in FIELDS[2:]}

        bad = pd.Series("", index=rows, dtype=object)
        bad_field = pd.Series("", index=rows, dtype=object)

        def flag(mask: pd.Series, fld: str, reason) -> None:
            mask = mask & (bad == "")
            if mask.any():
                bad.loc[mask] = reason if isinstance(reason, str) else reason[mask]
                bad_field.loc[mask] = fld

        flag(ids == "", "thread_id", "empty thread_id")
        flag(_mask(text, lambda v: not v.strip()), "text", "empty text")
        for f in ("thread_id", "text", "user_id", "role", "department", "created_at"):
            s = ids if f == "thread_id" else text if f == "text" else opt[f]
            if s is None:
                continue
            values = s.tolist()
            joined = "".join(values)  # one scan per column; rows are only examined when it finds something
            if not joined.isascii():
                flag(_mask(s, _bad_encoding), f, "bad encoding (not UTF-8); re-save the file as UTF-8")
            if "\x00" in joined:
                flag(_mask(s, _has_nul), f, "contains a NUL character (0x00), which cannot be stored")
            limit = _MAX_LENGTH.get(f)
            if limit and max(map(len, values), default=0) > limit:
                flag(_mask(s, lambda v: len(v) > limit), f, f"longer than {limit} characters")
        extra = [c for c in columns if c not in set(source.values())]
        for c in extra:  # metadata is stored as JSON text: undecodable bytes cannot be encoded
            if frame[c].dtype == object:
                flag(_mask(frame[c], lambda v: v is not None and _has_surrogate(v if isinstance(v, str) else str(v))),
                     c, "bad encoding (not UTF-8); re-save the file as UTF-8")
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
            continue
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
        )
