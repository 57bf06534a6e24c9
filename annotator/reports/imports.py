"""Import previews and reports as text lines and CSV (what the CLI prints and the skipped-rows file).

Every CSV cell goes through :func:`annotator.reports.common.csv_cell`, so a reason quoting a cell
that starts with '=' never becomes a spreadsheet formula."""

from __future__ import annotations

import csv
import io
from typing import Iterable

from annotator.reports.common import csv_cell

MODES = {"threads": "one row per thread", "messages": "message log, one row per message",
         "conversations": "conversation file (OpenAI messages / ShareGPT conversations)"}


def problems_csv(problems: Iterable) -> str:
    """row, field, reason; formulas neutralised."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")  # CRLF: a CR inside a cell is quoted (annotator.spreadsheet)
    writer.writerow(["row", "field", "reason"])
    for p in problems:
        writer.writerow([csv_cell(p.row), csv_cell(p.field or ""), csv_cell(p.reason)])
    return buf.getvalue()


def one_line(text: str | None, width: int = 100) -> str:
    """A thread's text on one line, escaped (newlines shown as \\n), cut at `width` characters."""
    flat = (text or "").replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    flat = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in flat)
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def preview_lines(report) -> list[str]:
    """The dry-run preview: detected format, mapping, counts, skipped by reason, changed texts, first rows."""
    mapping = ",".join(f"{k}={v}" for k, v in report.mapping.items()) or "none (columns named as the fields)"
    lines = [f"dry run of {report.file}: format {report.fmt} ({MODES.get(report.mode, report.mode)}); mapping: {mapping}",
             report.summary()]
    lines += [f"note: {n}" for n in report.notes]
    reasons = report.skipped_by_reason()
    if reasons:
        lines.append("skipped by reason:")
        lines += [f"  {n:>8,}  {reason}" for reason, n in reasons.items()]
    if report.changed:
        lines.append(f"changed texts ({len(report.changed)}; row, thread id):")
        lines += [f"  row {row}: {ext}" for row, ext in report.changed[:20]]
    if report.sample:
        lines.append("first threads as they will be stored:")
        for s in report.sample:
            meta = ", ".join(f"{k}={s[k]}" for k in ("user_id", "role", "role_group", "soc_group", "department",
                                                      "created_at", "user_turns") if s.get(k) not in (None, ""))
            lines.append(f"  row {s['row']} · {s['thread_id']} · {s['char_count']} chars"
                         f"{' (truncated)' if s['truncated'] else ''}{' · ' + meta if meta else ''}")
            lines.append(f"    {one_line(s['text'])}")
    return lines
