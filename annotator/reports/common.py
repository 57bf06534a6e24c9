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


#: How numbers are printed, for each report's conventions section.
NUMBER_CONVENTION = (
    "Coefficients are printed to 3 decimals and percentages to 1, with more digits where rounding would "
    "print 0, 1, -1, 0% or 100% for a value that is not exactly that (0.9996 prints as 0.9996, not 1.000); "
    "a value that still rounds to such a boundary is printed as '>0.999999' or '<0.000001'; '-0.000' never "
    "appears. An undefined value is a dash, its reason listed with the report."
)
_MORE_DIGITS = 4


def _boundary_safe(value: float, digits: int, boundaries: tuple[float, ...], suffix: str = "") -> str:
    """Fixed-point text that never shows a boundary value the number is not, nor a negative zero."""
    if value == 0:
        return f"{0.0:.{digits}f}{suffix}"
    text = f"{value:.{digits}f}"
    for extra in range(digits, digits + _MORE_DIGITS):
        text = f"{value:.{extra}f}"
        shown = float(text)
        if shown == value or shown not in boundaries:
            return text + suffix
    shown, last = float(text), digits + _MORE_DIGITS - 1
    step = 10.0 ** -last
    if value < shown:
        return f">{shown - step:.{last}f}{suffix}"
    return f"<{shown + step:.{last}f}{suffix}"


def num(value: Any, digits: int = 3) -> str:
    """A number for a report: integers with thousands separators, floats honestly rounded (see NUMBER_CONVENTION)."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return DASH
        return _boundary_safe(value, digits, (0.0, 1.0, -1.0))
    return str(value)


def pct(value: float | None, digits: int = 1) -> str:
    """A share as a percentage, never rounded to 0% or 100% unless it is exactly that."""
    if value is None or value != value:
        return DASH
    return _boundary_safe(100 * value, digits, (0.0, 100.0, -100.0), "%")


def interval(pair: Sequence[float | None] | None, *, percent: bool = False, digits: int | None = None) -> str:
    """``lo – hi`` with the same honest rounding, or a dash when the interval is withheld."""
    if not pair or pair[0] is None or pair[1] is None:
        return DASH
    if percent:
        return f"{pct(pair[0], digits or 1)} – {pct(pair[1], digits or 1)}"
    return f"{num(float(pair[0]), digits or 3)} – {num(float(pair[1]), digits or 3)}"


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
