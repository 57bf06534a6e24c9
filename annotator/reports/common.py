"""Formatting shared by the report renderers (agreement, model, prevalence): numbers, CSV cells,
Markdown and HTML tables. Everything user-supplied is escaped for the format it goes into."""

from __future__ import annotations

import csv
import html
import io
from typing import Any, Iterable, Sequence

from annotator.spreadsheet import FORMULA_PREFIXES as CSV_FORMULA_PREFIXES  # noqa: F401 (kept for callers)
from annotator.spreadsheet import LINE_END, safe_cell

DASH = "—"


def num(value: Any, digits: int = 3) -> str:
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def pct(value: float | None) -> str:
    return DASH if value is None else f"{100 * value:.1f}%"


def csv_cell(value: Any) -> Any:
    """Empty for None; a leading quote keeps spreadsheets from evaluating user-supplied text as a formula
    (the one rule for every CSV the tool writes: annotator.spreadsheet)."""
    return safe_cell(value)


def csv_text(rows: Iterable[Sequence[Any]], header: Sequence[str] = ("section", "key", "subkey", "value")) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=LINE_END)  # CRLF: a CR inside a cell is quoted
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(cell) for cell in row])
    return buffer.getvalue()


def md_cell(text: Any) -> str:
    """One line; angle brackets escaped (no raw HTML), brackets and backticks escaped (no link, image or
    code: a category name like ``![x](http://...)`` stays text in any Markdown viewer), backslashes and
    pipes escaped for tables."""
    flat = " ".join(str(text).split())
    flat = flat.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return flat.replace("[", "\\[").replace("]", "\\]").replace("`", "\\`")


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric_from: int | None = None) -> str:
    """A table; columns from `numeric_from` on are right-aligned (class "num")."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)

    def cell(i: int, c: Any) -> str:
        cls = ' class="num"' if numeric_from is not None and i >= numeric_from else ""
        return f"<td{cls}>{esc(c)}</td>"

    body = "".join("<tr>" + "".join(cell(i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
