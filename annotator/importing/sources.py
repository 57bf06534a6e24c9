"""Reading untrusted files in bounded memory: size and expansion limits checked before (or while)
bytes reach a parser, and raw chunks of rows for every importer.

Limits (each rejection is one line naming the file and the limit; see README "Limits"):

- compressed input (.gz, .bz2, .xz): at most ``MAX_EXPANSION`` times the compressed size once past
  ``MIN_EXPANDED`` bytes, and never more than ``MAX_DECOMPRESSED``; a damaged or truncated stream is
  reported, not "Aborted!";
- CSV/TSV and JSONL: a line (or a quoted CSV field) of at most ``MAX_LINE`` bytes; CSV quoting is
  checked as the bytes stream past (a quote inside an unquoted field, text after a closing quote, or
  a quote never closed), because pandas would otherwise silently alter the text;
- XLSX: the zip directory is checked before openpyxl opens it (entries, total and per-entry
  expanded size and ratio, shared strings, sheet count), then columns, rows and cells;
- Parquet: the footer is checked before any data page is read (columns, expanded size, binary
  and nested columns);
- whole-file JSON (conversation exports) and codebooks: a file size limit before parsing; YAML
  with a safe loader that refuses more than ``MAX_YAML_ALIASES`` aliases (the "billion laughs").

Rows are numbered as a person sees them: CSV and XLSX count the header as row 1; JSONL counts lines;
Parquet counts records from 1.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np
import pandas as pd

from annotator.errors import InvalidInput, InvalidRow

MiB = 1024 * 1024
MAX_EXPANSION = 100
MIN_EXPANDED = 64 * MiB
MAX_DECOMPRESSED = 20 * 1024 * MiB
MAX_LINE = 32 * MiB
MAX_COLUMNS = 1000
MAX_XLSX_ROWS = 1_048_576
MAX_XLSX_CELLS = 50_000_000
MAX_XLSX_EXPANDED = 2048 * MiB
MAX_XLSX_SHARED_STRINGS = 256 * MiB
MAX_XLSX_SHEETS = 100
MAX_XLSX_ENTRIES = 10_000
MAX_PARQUET_EXPANDED = 20 * 1024 * MiB
MAX_JSON_BYTES = 256 * MiB
MAX_CODEBOOK_BYTES = 2 * MiB
MAX_YAML_ALIASES = 20
MAX_SMALL_FILE_BYTES = 512 * MiB  # labels, roster, role mapping

COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".xlsx": "xlsx",
           ".parquet": "parquet"}
_BLOCK = 1 * MiB
_has_surrogate = re.compile("[\udc80-\udcff]").search


def _mib(n: int) -> str:
    return f"{n / MiB:,.0f} MiB" if n >= MiB else f"{n:,} bytes"


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def compression_of(path: Path) -> str | None:
    return COMPRESSIONS.get(path.suffix.lower())


def detect_format(path: Path, fmt: str | None = None) -> str:
    """csv, jsonl, json, xlsx or parquet, from `fmt` or the file name (a .gz/.bz2/.xz suffix is looked through)."""
    if fmt:
        if fmt not in {"csv", "jsonl", "json", "xlsx", "parquet"}:
            raise InvalidInput(f"{path.name}: unknown format '{fmt}'; use csv, jsonl, json, xlsx or parquet")
        found = fmt
    else:
        suffixes = [s.lower() for s in path.suffixes]
        if suffixes and suffixes[-1] in COMPRESSIONS:
            suffixes = suffixes[:-1]
        found = FORMATS.get(suffixes[-1] if suffixes else "")
        if not found:
            raise InvalidInput(f"{path.name}: cannot tell the format from the name; use .csv, .tsv, .jsonl, .json, "
                               ".xlsx or .parquet (optionally .gz, .bz2 or .xz compressed)")
    if compression_of(path) and found in ("xlsx", "parquet"):
        raise InvalidInput(f"{path.name}: {found} files are compressed already; import the .{found} file itself")
    return found


# --------------------------------------------------------------------------- #
# A byte stream with limits
# --------------------------------------------------------------------------- #
class LimitedStream(io.RawIOBase):
    """Binary reader over a file or a decompressor that enforces the expansion and line limits and, for
    CSV, checks quoting cheaply (C-speed byte scans per 1 MiB block).

    The CSV check rests on RFC 4180: in a well-formed file a double quote is either the first character
    of a field, the last one, or doubled inside a quoted field, so a single quote with a non-delimiter on
    both sides ("stray quote") cannot occur; and the quote count is even at every record end. A quoted
    field that stays open for ``MAX_LINE`` bytes (or to the end of the file) is refused.
    """

    def __init__(self, raw: IO[bytes], *, name: str, compressed_size: int | None = None,
                 csv_sep: bytes | None = None, max_line: int | None = None):
        self.raw, self.name, self.compressed_size, self.max_line = raw, name, compressed_size, max_line or MAX_LINE
        self.total = 0
        self.lines = 0
        self.since_newline = 0
        self.csv_sep = csv_sep
        if csv_sep is not None:
            special = np.zeros(256, dtype=bool)
            special[[ord('"'), ord("\r"), ord("\n"), csv_sep[0]]] = True
            self._special = special
            self._before_ok = special.copy()
            self._before_ok[0xBF] = True  # the last byte of a UTF-8 byte-order mark
            self._odd = False
            self._odd_run = 0
            self._open_line = 0
            self._tail = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self.raw.read(min(len(buffer), _BLOCK))
        except (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile, OSError) as exc:
            raise InvalidInput(f"{self.name}: the compressed data is damaged or cut short ({_short(exc)}); "
                               "compress the file again or import it uncompressed") from None
        n = len(data)
        if n:
            self._check(data)
        elif self.csv_sep is not None and self._odd:
            raise InvalidInput(f"{self.name}: unbalanced double quotes: a quoted field opened at or after line "
                               f"{self._open_line} is never closed; close the quote, and double the quotes "
                               "inside a quoted field")
        buffer[:n] = data
        return n

    def _check(self, data: bytes) -> None:
        self.total += len(data)
        if self.compressed_size is not None:
            allowed = min(MAX_DECOMPRESSED, max(MIN_EXPANDED, MAX_EXPANSION * self.compressed_size))
            if self.total > allowed:
                raise InvalidInput(
                    f"{self.name}: expands to more than {_mib(allowed)} (limit: {MAX_EXPANSION}x the compressed size "
                    f"once past {_mib(MIN_EXPANDED)}, at most {_mib(MAX_DECOMPRESSED)}); this looks like a "
                    "compression bomb; import the uncompressed file if it is genuine")
        newlines = data.count(b"\n")
        if newlines:
            self.since_newline = len(data) - data.rfind(b"\n") - 1
        else:
            self.since_newline += len(data)
        if self.max_line < len(data) and newlines:  # a long line inside one block (only when the limit is small)
            parts = data.split(b"\n")
            for k, part in enumerate(parts[:-1]):
                if len(part) > self.max_line:
                    raise InvalidInput(f"{self.name}: line {self.lines + k + 1} is longer than {_mib(self.max_line)} "
                                       "(the limit for one line or field); split or shorten it")
        if self.since_newline > self.max_line:
            raise InvalidInput(f"{self.name}: line {self.lines + newlines + 1} is longer than {_mib(self.max_line)} "
                               "(the limit for one line or field); split or shorten it")
        if self.csv_sep is not None:
            window = self._tail + data
            hit = self._stray_quote(window)
            if hit is not None:
                line = self.lines + window[:hit].count(b"\n") - self._tail.count(b"\n") + 1
                raise InvalidInput(
                    f"{self.name}, line {line}: a double quote inside a field that is not quoted, or text after a "
                    f"field's closing quote (near {_snippet(window[max(hit - 10, 0): hit + 20])}); quote the whole "
                    "field and double the quotes inside it (as spreadsheet programs save CSV)")
            self._tail = data[-2:]
            if data.count(b'"') % 2:
                self._odd = not self._odd
                if self._odd:
                    self._open_line = self.lines + 1
            if self._odd:
                self._odd_run += len(data)
                if self._odd_run > self.max_line:
                    raise InvalidInput(
                        f"{self.name}: unbalanced double quotes: a quoted field opened at or after line {self._open_line} "
                        f"runs on for more than {_mib(self.max_line)}; close the quote (or double quotes inside "
                        "the field)")
            else:
                self._odd_run = 0
        self.lines += newlines


    def _stray_quote(self, window: bytes) -> int | None:
        """Offset of the first quote with an ordinary character on both sides, or None (numpy, C speed)."""
        if window.count(b'"') == 0:
            return None
        a = np.frombuffer(window, dtype=np.uint8)
        q = np.flatnonzero(a == 34)
        q = q[(q > 0) & (q < len(a) - 1)]
        if not len(q):
            return None
        found = q[~self._before_ok[a[q - 1]] & ~self._special[a[q + 1]]]
        return int(found[0]) if len(found) else None


def _snippet(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").splitlines()[0] if raw else ""
    return repr(text[:30])


def open_bytes(path: Path, *, csv_sep: bytes | None = None, max_line: int | None = None) -> io.BufferedReader:
    """The file's (decompressed) bytes through a :class:`LimitedStream`."""
    comp = compression_of(path)
    try:
        size = path.stat().st_size
        if comp == "gzip":
            raw: IO[bytes] = gzip.open(path, "rb")
        elif comp == "bz2":
            raw = bz2.open(path, "rb")
        elif comp == "xz":
            raw = lzma.open(path, "rb")
        else:
            raw = open(path, "rb")  # noqa: SIM115 - closed with the returned reader
    except OSError as exc:
        raise InvalidInput(f"{path.name}: cannot be read ({exc.strerror or _short(exc)})") from None
    stream = LimitedStream(raw, name=path.name, compressed_size=size if comp else None, csv_sep=csv_sep,
                           max_line=max_line)
    return io.BufferedReader(stream, buffer_size=_BLOCK)


def check_small_file(path: Path, limit: int, what: str) -> None:
    """Refuse a file larger than `limit` before reading it."""
    if not path.exists():
        raise InvalidInput(f"{path}: no such file")
    size = path.stat().st_size
    if size > limit:
        raise InvalidInput(f"{path.name}: {_mib(size)} is over the {_mib(limit)} limit for {what}")


# --------------------------------------------------------------------------- #
# Raw chunks
# --------------------------------------------------------------------------- #
@dataclass
class RawChunk:
    """Rows as strings/objects, their row numbers, problems found while reading, notes about the file."""

    frame: pd.DataFrame
    rows: list[int]
    problems: list[tuple[int, str | None, str]] = field(default_factory=list)


@dataclass
class SourceInfo:
    """What the reader found out about the file (shown in the import preview)."""

    fmt: str
    compression: str | None = None
    sheet: str | None = None
    notes: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)


def _check_columns(name: str, columns: list[str]) -> list[str]:
    cols = [str(c) for c in columns]
    if len(cols) > MAX_COLUMNS:
        raise InvalidInput(f"{name}: {len(cols):,} columns is over the limit of {MAX_COLUMNS:,}")
    if any(_has_surrogate(c) for c in cols):
        raise InvalidInput(f"{name}: the header row is not UTF-8; re-save the file as UTF-8")
    if any("\x00" in c for c in cols):
        raise InvalidInput(f"{name}: the header row contains a NUL character (0x00); re-save the file as text")
    seen: dict[str, int] = {}
    for i, c in enumerate(cols, start=1):
        key = c.strip()
        if key in seen:
            raise InvalidInput(f"{name}: column '{_printable(key)}' appears twice in the header (columns {seen[key]} "
                               f"and {i}); rename or remove one so it is clear which to import")
        seen[key] = i
    return [c.strip() for c in cols]


def _printable(value: str) -> str:
    return value if value.isprintable() else repr(value)


def _csv_header(path: Path, sep: str) -> list[str]:
    """The header record, read exactly (pandas would rename a repeated name to 'name.1')."""
    with open_bytes(path, csv_sep=sep.encode()) as fh:
        head = fh.read(_BLOCK)
    text = head.decode("utf-8", "surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return next(csv.reader(io.StringIO(text), delimiter=sep), [])
    except csv.Error:
        return []


def iter_raw(path: Path, fmt: str, *, chunk_rows: int, info: SourceInfo | None = None) -> Iterator[RawChunk]:
    """Chunks of at most `chunk_rows` rows of any supported format, limits enforced."""
    info = info or SourceInfo(fmt=fmt)
    info.compression = compression_of(path)
    if fmt == "csv":
        yield from _csv_chunks(path, chunk_rows, info)
    elif fmt == "jsonl":
        yield from _jsonl_chunks(path, chunk_rows, info)
    elif fmt == "parquet":
        yield from _parquet_chunks(path, chunk_rows, info)
    elif fmt == "xlsx":
        yield from _xlsx_chunks(path, chunk_rows, info)
    else:
        raise InvalidInput(f"{path.name}: {fmt} is read as conversations, not rows")


def _csv_chunks(path: Path, chunk_rows: int, info: SourceInfo) -> Iterator[RawChunk]:
    name = path.name
    sep = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
    header = _csv_header(path, sep)
    if header:
        info.columns = _check_columns(name, header)
    try:
        with open_bytes(path, csv_sep=sep.encode()) as fh, pd.read_csv(
            fh, dtype=object, keep_default_na=False, encoding="utf-8", encoding_errors="surrogateescape",
            chunksize=chunk_rows, sep=sep,
        ) as reader:
            start = 2
            for chunk in reader:
                chunk.columns = info.columns or _check_columns(name, list(chunk.columns))
                yield RawChunk(chunk, list(range(start, start + len(chunk))))
                start += len(chunk)
    except UnicodeEncodeError:  # pandas' Arrow-backed column index cannot hold undecodable header bytes
        raise InvalidInput(f"{name}: the header row is not UTF-8; re-save the file as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise InvalidInput(f"{name}: the file is empty; it needs a header row and at least one data row") from None
    except pd.errors.ParserError as exc:
        raise InvalidRow(name, None, None, f"not valid CSV ({_short(exc)}); fix the quoting or delimiters") from None


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _DuplicateKey(f"key '{dup}' appears twice in one object")
    return out


def iter_json_lines(path: Path, *, info: SourceInfo | None = None) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed value or None, problem or None) for every non-blank line of a JSON Lines file."""
    with open_bytes(path) as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield number, None, "bad encoding (not UTF-8); re-save the file as UTF-8"
                continue
            if "\x00" in text:
                yield number, None, "contains a NUL character (0x00), which cannot be stored"
                continue
            try:
                yield number, json.loads(text, object_pairs_hook=_no_duplicate_keys), None
            except _DuplicateKey as exc:
                yield number, None, f"{exc}; remove one so it is clear which to import"
            except ValueError as exc:
                yield number, None, f"not valid JSON ({_short(exc)}); each line must be one complete JSON object"
            except RecursionError:
                yield number, None, "JSON nested too deeply"


def _jsonl_chunks(path: Path, chunk_rows: int, info: SourceInfo) -> Iterator[RawChunk]:
    records: list[dict] = []
    rows: list[int] = []
    problems: list[tuple[int, str | None, str]] = []
    columns: dict[str, None] = {}

    def flush() -> RawChunk:
        frame = pd.DataFrame.from_records(records, columns=list(columns) or None) if records else pd.DataFrame()
        frame = frame.astype(object) if len(frame.columns) else frame
        return RawChunk(frame, list(rows), list(problems))

    for number, value, problem in iter_json_lines(path, info=info):
        if problem is None and not isinstance(value, dict):
            problem = f"a JSON {type(value).__name__}, not an object; each line must be one JSON object"
        if problem is not None:
            problems.append((number, None, problem))
            continue
        for key in value:
            if key not in columns:
                columns[key] = None
        records.append(value)
        rows.append(number)
        if len(records) >= chunk_rows:
            if len(columns) > MAX_COLUMNS:
                raise InvalidInput(f"{path.name}: {len(columns):,} different keys is over the limit of {MAX_COLUMNS:,}")
            yield flush()
            records, rows, problems = [], [], []
    if len(columns) > MAX_COLUMNS:
        raise InvalidInput(f"{path.name}: {len(columns):,} different keys is over the limit of {MAX_COLUMNS:,}")
    info.columns = list(columns)
    if records or problems:
        yield flush()


def _parquet_chunks(path: Path, chunk_rows: int, info: SourceInfo) -> Iterator[RawChunk]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = path.name
    try:
        pf = pq.ParquetFile(path)
        meta = pf.metadata
        schema = pf.schema_arrow
    except Exception as exc:  # pyarrow raises several types for a broken file  # noqa: BLE001
        raise InvalidInput(f"{name}: not a readable Parquet file ({_short(exc)})") from None
    columns = _check_columns(name, list(schema.names))
    expanded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    size = max(path.stat().st_size, 1)
    allowed = min(MAX_PARQUET_EXPANDED, max(MIN_EXPANDED, MAX_EXPANSION * size))
    if expanded > allowed:
        raise InvalidInput(f"{name}: its data expand to {_mib(expanded)}, over the limit of {_mib(allowed)} "
                           f"({MAX_EXPANSION}x the file size); this looks like a compression bomb")
    for f in schema:
        t = f.type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            raise InvalidInput(f"{name}: column '{f.name}' holds binary values, not text; write it as a UTF-8 "
                               "string column")
    info.columns = columns
    start = 1
    try:
        for i in range(meta.num_row_groups):
            group = meta.row_group(i)
            if group.total_byte_size > 4 * 1024 * MiB:
                raise InvalidInput(f"{name}: row group {i + 1} expands to {_mib(group.total_byte_size)}, over the "
                                   "4,096 MiB limit for one row group; write the file with smaller row groups")
            for batch in pf.iter_batches(batch_size=chunk_rows, row_groups=[i]):
                frame = batch.to_pandas().astype(object)
                frame.columns = columns
                yield RawChunk(frame, list(range(start, start + len(frame))))
                start += len(frame)
    except InvalidInput:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged data page
        raise InvalidInput(f"{name}: not a readable Parquet file ({_short(exc)})") from None


def check_xlsx(path: Path) -> list[str]:
    """Check the workbook's zip directory before openpyxl opens it; returns the worksheet entry names."""
    name = path.name
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidInput(f"{name}: not a readable XLSX workbook ({_short(exc)})") from None
    if len(infos) > MAX_XLSX_ENTRIES:
        raise InvalidInput(f"{name}: {len(infos):,} parts in the workbook is over the limit of {MAX_XLSX_ENTRIES:,}")
    total = sum(i.file_size for i in infos)
    if total > MAX_XLSX_EXPANDED:
        raise InvalidInput(f"{name}: the workbook expands to {_mib(total)}, over the limit of {_mib(MAX_XLSX_EXPANDED)}")
    for i in infos:
        if i.file_size > MIN_EXPANDED and i.file_size > MAX_EXPANSION * max(i.compress_size, 1):
            raise InvalidInput(f"{name}: part {i.filename} expands {i.file_size // max(i.compress_size, 1):,}x "
                               f"(limit {MAX_EXPANSION}x); this looks like a zip bomb")
        if i.filename.lower() == "xl/sharedstrings.xml" and i.file_size > MAX_XLSX_SHARED_STRINGS:
            raise InvalidInput(f"{name}: its shared strings expand to {_mib(i.file_size)}, over the limit of "
                               f"{_mib(MAX_XLSX_SHARED_STRINGS)}; save large text exports as CSV or Parquet")
    sheets = [i.filename for i in infos if re.fullmatch(r"xl/worksheets/[^/]+\.xml", i.filename, re.I)]
    if len(sheets) > MAX_XLSX_SHEETS:
        raise InvalidInput(f"{name}: {len(sheets):,} sheets is over the limit of {MAX_XLSX_SHEETS}")
    if not sheets:
        raise InvalidInput(f"{name}: not a readable XLSX workbook (no worksheet)")
    return sheets


def _xlsx_chunks(path: Path, chunk_rows: int, info: SourceInfo) -> Iterator[RawChunk]:
    from openpyxl import load_workbook

    name = path.name
    check_xlsx(path)
    try:
        wb = load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/etc. for a broken workbook  # noqa: BLE001
        raise InvalidInput(f"{name}: not a readable XLSX workbook ({_short(exc)})") from None
    try:
        ws = wb.worksheets[0]
        info.sheet = ws.title
        others = [s for s in wb.sheetnames if s != ws.title]
        if others:
            listed = ", ".join(f"'{s}'" for s in others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
            info.notes.append(f"only the first sheet '{ws.title}' was read; {len(others)} other sheet"
                              f"{'s' if len(others) > 1 else ''} ignored ({listed})")
        rows_iter = ws.iter_rows(values_only=True, max_row=1)
        header = next(rows_iter, None)
        if header is None:
            raise InvalidInput(f"{name}: the sheet '{ws.title}' is empty; it needs a header row and data rows")
        header = list(header)
        while header and header[-1] is None:
            header.pop()
        width = len(header)
        if width > MAX_COLUMNS:
            raise InvalidInput(f"{name}: {width:,} columns is over the limit of {MAX_COLUMNS:,}")
        cols = _check_columns(name, [str(h) if h is not None else f"column{i + 1}" for i, h in enumerate(header)])
        info.columns = cols
        max_row = ws.max_row or 0
        if max_row > MAX_XLSX_ROWS or max_row * max(width, 1) > MAX_XLSX_CELLS:
            raise InvalidInput(f"{name}: the sheet declares {max_row:,} rows x {width:,} columns, over the limits of "
                               f"{MAX_XLSX_ROWS:,} rows and {MAX_XLSX_CELLS:,} cells")
        step = max(1, min(chunk_rows, 5_000_000 // max(width, 1)))
        buf: list[list] = []
        rows: list[int] = []
        problems: list[tuple[int, str | None, str]] = []
        number = 1
        for cells in ws.iter_rows(min_row=2, max_col=width):
            number += 1
            if number > MAX_XLSX_ROWS + 1:
                raise InvalidInput(f"{name}: more than {MAX_XLSX_ROWS:,} rows")
            values = []
            formula = None
            for j, cell in enumerate(cells):
                if getattr(cell, "data_type", None) == "f":
                    formula = formula or cols[j]
                values.append(cell.value)
            if formula is not None:
                problems.append((number, formula, "a formula, not a value; save the sheet with values only "
                                                  "(copy, then Paste Special > Values)"))
                continue
            if all(v is None for v in values):
                continue
            values += [None] * (width - len(values))
            buf.append(values)
            rows.append(number)
            if len(buf) >= step:
                yield RawChunk(pd.DataFrame.from_records(buf, columns=cols).astype(object), rows, problems)
                buf, rows, problems = [], [], []
        if buf or problems:
            frame = pd.DataFrame.from_records(buf, columns=cols).astype(object) if buf else \
                pd.DataFrame(columns=cols, dtype=object)
            yield RawChunk(frame, rows, problems)
    except InvalidInput:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged sheet part
        raise InvalidInput(f"{name}: not a readable XLSX workbook ({_short(exc)})") from None
    finally:
        wb.close()


# --------------------------------------------------------------------------- #
# Whole-file JSON and YAML
# --------------------------------------------------------------------------- #
def load_json_file(path: Path, limit: int = MAX_JSON_BYTES) -> Any:
    """Parse a (possibly compressed) JSON file after checking its size; duplicate keys are refused."""
    check_small_file(path, limit, "a JSON file (use JSON Lines for larger exports)")
    with open_bytes(path) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"{path.name}: expands to more than {_mib(limit)}, the limit for a JSON file; use JSON Lines")
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name}: not UTF-8 text; re-save it as UTF-8") from None
    except _DuplicateKey as exc:
        raise InvalidInput(f"{path.name}: {exc}; remove one so it is clear which to import") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path.name}: not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"{path.name}: not valid JSON ({_short(exc)})") from None


def safe_yaml_load(text: str, *, name: str, max_aliases: int = MAX_YAML_ALIASES) -> Any:
    """yaml.safe_load with a limit on aliases (references): an alias bomb fails at once instead of
    expanding to gigabytes when the data are walked."""
    import yaml

    class _Loader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent, index):  # type: ignore[override]
            if self.check_event(yaml.AliasEvent):
                _Loader.aliases += 1
                if _Loader.aliases > max_aliases:
                    raise InvalidInput(f"{name}: more than {max_aliases} YAML aliases (*references); a codebook "
                                       "needs none, and many can expand to gigabytes; write the values out")
            return super().compose_node(parent, index)

    loader = _Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
