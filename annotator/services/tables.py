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
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"{path}: no such file")
    try:
        df = pd.read_csv(path, dtype=object, keep_default_na=False, encoding="utf-8")
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
    for c in df.columns:
        df[c] = df[c].map(lambda v: v.strip() if isinstance(v, str) else v)
    return df
