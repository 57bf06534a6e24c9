"""Render a prevalence estimate (:func:`annotator.stats.prevalence.estimate_prevalence`).

Formats: ``json`` (the result itself), ``md`` (a table and the method in plain
words) and ``html`` (self-contained: inline CSS and a PNG chart embedded as
base64, drawn with matplotlib's Agg canvas without pyplot, so no global state
and no external asset).
"""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from annotator.reports.common import NUMBER_CONVENTION, pct as _share

__all__ = ["render_prevalence"]

_FORMATS = ("json", "md", "html")
_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 60rem; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
p.method { max-width: 50rem; }
ul.notes { color: #7a4a00; }
p.caution { background: #fff4e0; border-left: 4px solid #b86e00; padding: 0.5rem 0.8rem; }
img { max-width: 100%; }
""".strip()


def render_prevalence(result: dict[str, Any], fmt: str, *, title: str) -> str:
    """Render ``result`` as ``"json"``, ``"md"`` or ``"html"`` text.

    Shares are shown as percentages with one decimal; an undefined value is
    shown as a dash, and the reasons are listed under the table.
    """
    if fmt not in _FORMATS:
        raise ValueError(f"fmt must be one of {_FORMATS}, got {fmt!r}")
    if fmt == "json":
        return json.dumps(result, indent=2, allow_nan=False, ensure_ascii=False)
    rows = _rows(result)
    if fmt == "md":
        return _markdown(result, rows, title)
    return _html(result, rows, title)


def _first_paragraph(result: dict[str, Any]) -> str:
    """The caution a reader needs before any number: threads still pending, and the gold standard's state."""
    parts = []
    if result.get("pending"):
        parts.append(f"Caution: {result['pending']} sampled thread(s) still await a decision and are left out; the "
                     f"correction uses the {result['n']} decided threads only, which are not a random sample, so "
                     "the corrected shares may keep part of the model's bias and the intervals may not cover the truth.")
    if result.get("completeness_text"):
        parts.append(f"Gold standard: {result['completeness_text']}")
    return " ".join(parts)


def _pct(value: float | None) -> str:
    return "–" if value is None else _share(value)


def _rows(result: dict[str, Any]) -> list[list[str]]:
    """Table cells: category, naive, corrected, CI, n human, n model."""
    rows = []
    for cat, r in result["categories"].items():
        ci = r["ci"]
        share_clipped = r["unclipped_share"] != r["corrected_share"]
        ci_clipped = r["clipped"] and ci is not None and (ci[0] == 0.0 or ci[1] == 1.0)
        if ci is not None:
            shown = f"{_pct(ci[0])} – {_pct(ci[1])}" + (" *" if ci_clipped else "")
        elif r.get("upper_bound") is not None:
            shown = f"≤ {_pct(r['upper_bound'])} †"
        else:
            shown = "–"
        rows.append(
            [
                cat,
                _pct(r["naive_share"]),
                _pct(r["corrected_share"]) + (" *" if share_clipped else ""),
                shown,
                str(r["n_sample_human"]),
                str(r["n_sample_model"]),
            ]
        )
    return rows


def _headers(result: dict[str, Any]) -> list[str]:
    level = f"{100 * result['confidence']:g}% CI" + (" (simultaneous)" if result.get("simultaneous") else "")
    return ["Category", "Model share", "Corrected share", level, "n human (sample)", "n model (sample)"]


def _footer_lines(result: dict[str, Any]) -> list[str]:
    lines = list(result["notes"])
    if any(r.get("upper_bound") is not None for r in result["categories"].values()):
        lines.insert(0, f"† no two-sided interval (too few human-labelled threads of the category); one-sided "
                        f"{100 * (1 + result.get('confidence_per_category', result['confidence'])) / 2:.4g}% upper bound.")
    if any(r["clipped"] for r in result["categories"].values()):
        lines.insert(0, "* clipped to [0, 100%].")
    lines.extend(f"Undefined {path}: {reason}" for path, reason in result["undefined"].items())
    return lines


def _markdown(result: dict[str, Any], rows: list[list[str]], title: str) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")

    headers = _headers(result)
    first = _first_paragraph(result)
    out = [f"# {esc(title)}", ""] + ([esc(first), ""] if first else []) + [
        _summary(result),
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|",
    ]
    out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    out += ["", f"Method: {result['method_description']}"]
    footer = _footer_lines(result)
    if footer:
        out += [""] + [f"- {esc(line)}" for line in footer]
    out += ["", "## Conventions", ""] + [f"- **{esc(k)}**: {esc(v)}" for k, v in _conventions(result).items()]
    return "\n".join(out) + "\n"


def _summary(result: dict[str, Any]) -> str:
    failed = f", {result['n_failed']} of them without a model label" if result.get("n_failed") else ""
    return (f"Frame: {result.get('frame', 'all threads')}. N = {result['N']} threads{failed}; n = {result['n']} "
            f"with human labels ({result['design']}).")


def _conventions(result: dict[str, Any]) -> dict[str, str]:
    return {**result.get("conventions", {}), "numbers": NUMBER_CONVENTION}


def _html(result: dict[str, Any], rows: list[list[str]], title: str) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in _headers(result))
    body = "".join(
        "<tr><td>" + e(row[0]) + "</td>" + "".join(f'<td class="num">{e(c)}</td>' for c in row[1:]) + "</tr>"
        for row in rows
    )
    footer = _footer_lines(result)
    notes = ("<ul class=\"notes\">" + "".join(f"<li>{e(x)}</li>" for x in footer) + "</ul>") if footer else ""
    chart = _chart_png(result)
    img = (
        f'<img alt="Model share and corrected share with confidence intervals, per category" '
        f'src="data:image/png;base64,{base64.b64encode(chart).decode("ascii")}">'
        if chart
        else ""
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{e(title)}</h1>"
        + (f"<p class=\"caution\">{e(_first_paragraph(result))}</p>" if _first_paragraph(result) else "")
        + f"<p>{e(_summary(result))}</p>"
        f"{img}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<p class=\"method\">Method: {e(result['method_description'])}</p>{notes}"
        "<h2>Conventions</h2><ul>" + "".join(f"<li><strong>{e(k)}</strong>: {e(v)}</li>"
                                             for k, v in _conventions(result).items()) + "</ul>"
        "</body></html>\n"
    )


def _chart_png(result: dict[str, Any]) -> bytes | None:
    """Horizontal bars of model vs corrected share with CI whiskers; None if no data."""
    cats = list(result["categories"])
    if not cats or all(r["naive_share"] is None for r in result["categories"].values()):
        return None
    rows = [result["categories"][c] for c in cats]
    naive = [100 * (r["naive_share"] or 0.0) for r in rows]
    corrected = [100 * (r["corrected_share"] or 0.0) for r in rows]
    have = [r["corrected_share"] is not None for r in rows]
    err_lo = [max(100 * (r["corrected_share"] - r["ci"][0]), 0.0) if r["ci"] else 0.0 for r in rows]
    err_hi = [max(100 * (r["ci"][1] - r["corrected_share"]), 0.0) if r["ci"] else 0.0 for r in rows]
    fig = Figure(figsize=(7, 0.45 * len(cats) + 1.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ys = list(range(len(cats)))[::-1]
    height = 0.38
    ax.barh([y + height / 2 for y in ys], naive, height, label="Model share", color="#9bb7d4")
    if any(have):
        ax.barh(
            [y - height / 2 for y in ys],
            corrected,
            height,
            xerr=[err_lo, err_hi],
            label="Corrected share (CI)",
            color="#2f6b9a",
            error_kw={"ecolor": "#222", "capsize": 3, "elinewidth": 1},
        )
    ax.set_yticks(ys, labels=cats)
    ax.set_xlabel("Share of threads (%)")
    ax.legend(loc="lower right", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
