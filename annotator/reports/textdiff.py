"""Word-level differences between two texts (codebook definitions and examples), and their HTML.

:func:`word_diff` is pure: it splits both texts into words and the whitespace between them and
returns the edit as segments ("same", "del", "ins") whose old parts join to the old text and whose
new parts join to the new text. :func:`diff_html` renders those segments with every piece of text
escaped (``<del>`` for removed words, ``<ins>`` for added ones), so a definition containing markup
or Markdown is shown exactly as written.
"""

from __future__ import annotations

import difflib
import html
import re

TOKEN = re.compile(r"\s+|[^\s]+")
SAME, DEL, INS = "same", "del", "ins"


def _tokens(text: str) -> list[str]:
    return TOKEN.findall(text or "")


def word_diff(old: str | None, new: str | None) -> list[tuple[str, str]]:
    """Segments (op, text) turning `old` into `new` word by word; adjacent segments of one op are merged.

    Joining the "same" and "del" texts gives `old`, joining the "same" and "ins" texts gives `new`.
    A replaced run of words comes out as its deletion followed by its insertion.
    """
    a, b = _tokens(old or ""), _tokens(new or "")
    raw: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            raw.append((SAME, "".join(a[i1:i2])))
        else:
            raw += [(DEL, "".join(a[i1:i2])), (INS, "".join(b[j1:j2]))]
    # A lone space kept between two changes reads as noise ("a|an letter.|email."): fold it into the change.
    for i in range(1, len(raw) - 1):
        if raw[i][0] == SAME and raw[i][1].isspace() and raw[i - 1][0] != SAME and raw[i + 1][0] != SAME:
            raw[i] = ("gap", raw[i][1])
    out: list[tuple[str, str]] = []
    block: dict[str, str] = {DEL: "", INS: ""}

    def flush() -> None:
        out.extend((op, block[op]) for op in (DEL, INS) if block[op])
        block[DEL] = block[INS] = ""

    for op, text in raw:
        if op == SAME:
            flush()
            if text:
                out.append((SAME, text))
        elif op == "gap":
            block[DEL] += text
            block[INS] += text
        else:
            block[op] += text
    flush()
    return out


def diff_counts(segments: list[tuple[str, str]]) -> tuple[int, int]:
    """(words removed, words added) in a diff."""
    removed = sum(len(text.split()) for op, text in segments if op == DEL)
    added = sum(len(text.split()) for op, text in segments if op == INS)
    return removed, added


def diff_html(old: str | None, new: str | None) -> str:
    """The word diff as escaped HTML: unchanged text plain, removed words in <del>, added words in <ins>."""
    parts = []
    for op, text in word_diff(old, new):
        escaped = html.escape(text)
        parts.append(escaped if op == SAME else f"<{op}>{escaped}</{op}>")
    return "".join(parts)


DIFF_CSS = (
    "<style>.cbdiff{border-collapse:collapse;width:100%;font-size:0.92rem}"
    ".cbdiff th,.cbdiff td{border-bottom:1px solid #e5e7eb;padding:0.35rem 0.5rem;vertical-align:top;text-align:left}"
    ".cbdiff td.t{white-space:pre-wrap;overflow-wrap:anywhere}"
    ".cbdiff del{background:#fde2e1;color:#8a1c1c;text-decoration:line-through}"
    ".cbdiff ins{background:#dcfce7;color:#14532d;text-decoration:none}</style>"
)


def diff_table_html(rows: list[dict], *, old_label: str, new_label: str) -> str:
    """The codebook changes (rows of refine.diff_versions) as one escaped HTML table, word diffs inline.

    Definitions and examples show the words removed and added in place; names, MedHELM codes and
    the active flag show the old value struck through and the new one.
    """
    head = (f"<table class='cbdiff'><thead><tr><th>Category</th><th>Change</th><th>Field</th>"
            f"<th>{html.escape(old_label)} → {html.escape(new_label)}</th></tr></thead><tbody>")
    body = []
    for r in rows:
        old, new = r.get("old") or "", r.get("new") or ""
        if r["field"] in ("definition", "examples"):
            cell = diff_html(old, new)
        else:
            cell = " ".join(x for x in (f"<del>{html.escape(old)}</del>" if old else "",
                                        f"<ins>{html.escape(new)}</ins>" if new else "") if x)
        body.append(f"<tr><td>{html.escape(r['category'])}</td><td>{html.escape(r['change'])}</td>"
                    f"<td>{html.escape(r['field'])}</td><td class='t'>{cell}</td></tr>")
    return DIFF_CSS + head + "".join(body) + "</tbody></table>"
