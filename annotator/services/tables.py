"""Writing tables to files (CSV, JSON Lines, Parquet) and reading small CSV inputs.

CSV output goes through :mod:`annotator.spreadsheet`: a text cell that a spreadsheet would run as a
formula gets a leading apostrophe. JSON Lines and Parquet keep the values exactly as stored."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from annotator.errors import InvalidInput
from annotator.spreadsheet import csv_bytes

TABLE_FORMATS = ("csv", "jsonl", "parquet")


def frame_bytes(df: pd.DataFrame, fmt: str) -> bytes:
    """Serialise a frame as CSV (spreadsheet-safe cells), JSON Lines or Parquet bytes."""
    if fmt == "csv":
        return csv_bytes(df)
    if fmt == "jsonl":
        return df.to_json(orient="records", lines=True, force_ascii=False, date_format="iso").encode("utf-8")
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return buf.getvalue()
    raise InvalidInput(f"unknown format '{fmt}'; use {', '.join(TABLE_FORMATS)}")


def write_frame(df: pd.DataFrame, fmt: str, out: Path | str) -> Path:
    data = frame_bytes(df, fmt)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out


def read_small_csv(path: Path | str, *, required: tuple[str, ...]) -> pd.DataFrame:
    """Read a CSV as strings (empty cells are ''), checking the required columns exist."""
    from annotator.importing.sources import MAX_SMALL_FILE_BYTES, _check_columns, _csv_header, check_small_file, open_bytes

    path = Path(path)
    check_small_file(path, MAX_SMALL_FILE_BYTES, "this file")
    header = _csv_header(path, ",")
    if header:
        _check_columns(path.name, header)
    try:
        with open_bytes(path, csv_sep=b",") as fh:
            df = pd.read_csv(fh, dtype=object, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name}: not UTF-8 text; re-save it as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise InvalidInput(f"{path.name}: the file is empty; it needs a header row with {', '.join(required)}") from None
    except pd.errors.ParserError as exc:
        raise InvalidInput(f"{path.name}: not valid CSV ({str(exc).strip().splitlines()[0][:160]})") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InvalidInput(f"{path.name}: missing column(s) {', '.join(missing)}; the header must include {', '.join(required)}")
    if not len(df):
        raise InvalidInput(f"{path.name}: nothing to import: the file has a header but no rows")
    for c in df.columns:
        df[c] = df[c].map(lambda v: v.strip() if isinstance(v, str) else v)
    return df


def write_frames(frames, fmt: str, out: Path | str) -> int:
    """Stream frames (same columns) to one CSV, JSON Lines or Parquet file; returns the rows written.

    CSV cells go through :func:`annotator.reports.common.csv_cell` (a text starting with '=', '+',
    '-', '@', tab or CR gets a leading quote, so a spreadsheet never runs it as a formula); JSON Lines
    and Parquet keep the values exactly."""
    import csv

    from annotator.reports.common import csv_cell

    if fmt not in TABLE_FORMATS:
        raise InvalidInput(f"unknown format '{fmt}'; use {', '.join(TABLE_FORMATS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = None
        try:
            for df in frames:
                table = pa.Table.from_pandas(df, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(str(out), table.schema)
                writer.write_table(table.cast(writer.schema))
                n += len(df)
        finally:
            if writer is not None:
                writer.close()
        return n
    with open(out, "w", encoding="utf-8", newline="") as fh:
        header_done = False
        for df in frames:
            if fmt == "csv":
                writer = csv.writer(fh, lineterminator="\r\n")  # CRLF: a CR inside a cell is quoted (annotator.spreadsheet)
                if not header_done:
                    writer.writerow(list(df.columns))
                    header_done = True
                for rec in df.itertuples(index=False, name=None):
                    writer.writerow([csv_cell(_csv_value(v)) for v in rec])
            elif len(df):
                text = df.to_json(orient="records", lines=True, force_ascii=False, date_format="iso")
                fh.write(text if text.endswith("\n") else text + "\n")
            n += len(df)
    return n


def _csv_value(v):
    if v is None or v is pd.NaT or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    return v.isoformat() if hasattr(v, "isoformat") else v
