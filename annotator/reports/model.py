"""Render a model-vs-consensus comparison (``annotator.stats.comparison.compare_to_consensus``).

Formats:
- ``json``: the report as one JSON object (``title`` plus the report's keys), indent 2, no NaN.
- ``csv``: tidy long table with columns ``section, key, subkey, value``; an
  undefined value is an empty cell and its reason is in the ``undefined`` section.
- ``md``: Markdown with a plain-words summary and tables (headline with 95% CIs,
  per category with the human ceiling, model vs reviewers, reviewer pairs,
  confusion matrix, undefined measures).
- ``html``: one self-contained page (inline CSS with print rules, confusion
  heatmap embedded as a base64 PNG, every string escaped, no external asset).
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from annotator.reports.common import DASH as _DASH, html_table, md_table as _md_table, num as _num, pct as _pct
from annotator.reports.common import csv_text, md_cell as _md_cell

_html_table = html_table

__all__ = ["FORMATS", "render_model_report", "summary_sentences"]

FORMATS = ("json", "csv", "md", "html")


def render_model_report(report: Mapping[str, Any], fmt: str, *, title: str) -> str:
    """Render ``report`` (output of ``compare_to_consensus``) as json, csv, md or html text.

    Raises:
        ValueError: unknown ``fmt``.
    """
    if fmt == "json":
        return json.dumps({"title": title, **report}, indent=2, allow_nan=False)
    if fmt == "csv":
        return csv_text(_csv_rows(report))
    if fmt == "md":
        return _render_markdown(report, title)
    if fmt == "html":
        return _render_html(report, title)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


# --------------------------------------------------------------------------- #
# Shared pieces
# --------------------------------------------------------------------------- #
_HEADLINE = (
    ("accuracy", "Accuracy"),
    ("macro_f1", "Macro F1"),
    ("weighted_f1", "Weighted F1"),
    ("cohen_kappa", "Cohen's kappa"),
)
_COUNTS = ("n", "n_consensus", "n_failed", "n_out_of_codebook", "n_missing", "n_boot", "seed")


def _ci(pair: Sequence[float] | None) -> str:
    return _DASH if pair is None else f"{pair[0]:.3f} – {pair[1]:.3f}"


def _headline_rows(report: Mapping[str, Any]) -> list[list[str]]:
    return [[label, _num(report.get(key)), _ci(report.get(f"{key}_ci95"))] for key, label in _HEADLINE]


def _category_rows(report: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for cat, m in report.get("per_category", {}).items():
        rows.append(
            [
                cat,
                _num(m.get("support")),
                _num(m.get("predicted")),
                _num(m.get("precision")),
                _num(m.get("recall")),
                _num(m.get("f1")),
                _ci(m.get("f1_ci95")),
                _num(m.get("human_ceiling")),
            ]
        )
    return rows


_CATEGORY_HEADER = ["Category", "Support", "Predicted", "Precision", "Recall", "F1", "F1 95% CI", "Human ceiling"]


def _reviewer_rows(report: Mapping[str, Any]) -> list[list[str]]:
    return [[r["reviewer"], _num(r["n"]), _num(r["kappa"])] for r in report.get("model_vs_reviewer", [])]


def _pair_rows(report: Mapping[str, Any]) -> list[list[str]]:
    return [
        [p["reviewer_a"], p["reviewer_b"], _num(p["n"]), _num(p["kappa"])]
        for p in report.get("reviewer_pairs", [])
    ]


def _confusion(report: Mapping[str, Any]) -> tuple[list[str], list[list[int]]]:
    cm = report.get("confusion_matrix") or {}
    return list(cm.get("labels", [])), [list(row) for row in cm.get("matrix", [])]


def _confusion_rows(labels: list[str], matrix: list[list[int]]) -> list[list[str]]:
    return [[truth, *map(str, row)] for truth, row in zip(labels, matrix, strict=True)]


def summary_sentences(report: Mapping[str, Any]) -> list[str]:
    """Plain-words summary of the comparison (a few short sentences)."""
    n = report.get("n", 0)
    failed = report.get("n_failed", 0)
    if not n:
        return [
            f"No thread had both a valid model label and a consensus label ({failed} failed), "
            "so the model could not be scored."
        ]
    acc_ci = report.get("accuracy_ci95")
    sentences = [
        f"On {n} threads with a consensus label, the model gave the same category as the consensus "
        f"for {_pct(report.get('accuracy'))}"
        + (f" (95% CI {_pct(acc_ci[0])} to {_pct(acc_ci[1])})" if acc_ci else "")
        + f"; Cohen's kappa was {_num(report.get('cohen_kappa'))} and macro F1 {_num(report.get('macro_f1'))}."
    ]
    if failed:
        noun = "prediction failed and was" if failed == 1 else "predictions failed and were"
        sentences.append(f"{failed} {noun} left out of these figures.")
    scored = [(c, m["f1"]) for c, m in report.get("per_category", {}).items() if m.get("f1") is not None]
    if scored:
        worst = min(scored, key=lambda cf: cf[1])
        sentences.append(f"The weakest category was {worst[0]} (F1 {worst[1]:.3f}).")
    position = report.get("model_vs_human_position")
    if position is not None:
        low, high = report["human_kappa_range"]
        sentences.append(
            f"Its mean kappa against individual reviewers, {report['model_mean_kappa']:.3f}, was {position} "
            f"the range of kappas between pairs of reviewers ({low:.3f} to {high:.3f})."
        )
    return sentences


# --------------------------------------------------------------------------- #
# CSV
# --------------------------------------------------------------------------- #
def _csv_rows(report: Mapping[str, Any]) -> Iterable[tuple[str, str, str, Any]]:
    for key in _COUNTS:
        if key in report:
            yield ("counts", key, "", report[key])
    for key, _ in _HEADLINE:
        yield ("headline", key, "estimate", report.get(key))
        ci = report.get(f"{key}_ci95")
        yield ("headline", key, "ci95_low", None if ci is None else ci[0])
        yield ("headline", key, "ci95_high", None if ci is None else ci[1])
    for cat, m in report.get("per_category", {}).items():
        for field in ("support", "predicted", "precision", "recall", "f1", "human_ceiling"):
            yield ("per_category", cat, field, m.get(field))
        ci = m.get("f1_ci95")
        yield ("per_category", cat, "f1_ci95_low", None if ci is None else ci[0])
        yield ("per_category", cat, "f1_ci95_high", None if ci is None else ci[1])
    labels, matrix = _confusion(report)
    for truth, row in zip(labels, matrix, strict=False):
        for predicted, count in zip(labels, row, strict=False):
            yield ("confusion_matrix", truth, predicted, count)
    for r in report.get("model_vs_reviewer", []):
        yield ("model_vs_reviewer", r["reviewer"], "n", r["n"])
        yield ("model_vs_reviewer", r["reviewer"], "kappa", r["kappa"])
    for p in report.get("reviewer_pairs", []):
        pair = f"{p['reviewer_a']} vs {p['reviewer_b']}"
        yield ("reviewer_pairs", pair, "n", p["n"])
        yield ("reviewer_pairs", pair, "kappa", p["kappa"])
    yield ("human_range", "model_mean_kappa", "", report.get("model_mean_kappa"))
    human = report.get("human_kappa_range")
    yield ("human_range", "human_kappa_range", "low", None if human is None else human[0])
    yield ("human_range", "human_kappa_range", "high", None if human is None else human[1])
    yield ("human_range", "model_within_human_range", "", report.get("model_within_human_range"))
    yield ("human_range", "model_vs_human_position", "", report.get("model_vs_human_position"))
    for measure, reason in report.get("undefined", {}).items():
        yield ("undefined", measure, "reason", reason)


# --------------------------------------------------------------------------- #
# Markdown
# --------------------------------------------------------------------------- #
_REVEAL_HEADER = ["Measure", "Value"]


def _reveal_rows(report: Mapping[str, Any]) -> list[list[str]]:
    """The reveal step (automation bias): how often reviewers switched to the model after seeing it."""
    r = report.get("reveal") or {}
    if not r:
        return []
    return [
        ["Revealed cases", _num(r.get("n_cases"))],
        ["Model differed from the blind label", _num(r.get("n_model_differed"))],
        ["Switched to the model's label", f"{_num(r.get('n_switched_to_model'))} ({_pct(r.get('switch_rate'))})"],
        ["Switch rate when the model was right", _pct(r.get("switch_rate_model_right"))],
        ["Switch rate when the model was wrong", _pct(r.get("switch_rate_model_wrong"))],
        ["Switches toward the consensus", _num(r.get("n_toward_consensus"))],
        ["Switches away from the consensus", _num(r.get("n_away_from_consensus"))],
    ]


def _render_markdown(report: Mapping[str, Any], title: str) -> str:
    lines = [f"# {_md_cell(title)}", "", _md_cell(" ".join(summary_sentences(report))), ""]
    lines += [
        f"Scored: {report.get('n', 0)} · failed: {report.get('n_failed', 0)} · "
        f"without prediction: {report.get('n_missing', 0)} · bootstrap resamples: "
        f"{report.get('n_boot', _DASH)} (seed {report.get('seed', _DASH)})",
        "",
        "## Headline",
        "",
    ]
    lines += _md_table(["Measure", "Estimate", "95% CI"], _headline_rows(report))
    lines += ["## Per category", ""] + _md_table(_CATEGORY_HEADER, _category_rows(report))
    if report.get("model_vs_reviewer"):
        lines += ["## Model vs reviewers", ""] + _md_table(["Reviewer", "n", "Kappa"], _reviewer_rows(report))
    if report.get("reviewer_pairs"):
        lines += ["## Reviewer pairs", ""]
        lines += _md_table(["Reviewer A", "Reviewer B", "n", "Kappa"], _pair_rows(report))
    labels, matrix = _confusion(report)
    if labels:
        lines += ["## Confusion matrix (rows: consensus, columns: model)", ""]
        lines += _md_table(["Consensus / Model", *labels], _confusion_rows(labels, matrix))
    if _reveal_rows(report):
        lines += ["## Reveal step (automation bias)", ""] + _md_table(_REVEAL_HEADER, _reveal_rows(report))
    undefined = report.get("undefined", {})
    if undefined:
        lines += ["## Undefined measures", ""]
        lines += [f"- {_md_cell(k)}: {_md_cell(v)}" for k, v in undefined.items()] + [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# HTML
# --------------------------------------------------------------------------- #
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:72rem;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}
.summary{background:#f7f9fc;border-left:4px solid #3a6ea5;padding:.6rem 1rem}
.meta{color:#555;font-size:.9rem}img{max-width:100%;height:auto}
@media print{body{margin:0;max-width:none;font-size:10pt}h2{break-after:avoid}table,img{break-inside:avoid}.summary{border:1px solid #999}}
"""


def _heatmap_png(labels: list[str], matrix: list[list[int]]) -> str | None:
    """Confusion heatmap (colour = share of each consensus row, text = count) as base64 PNG."""
    counts = np.asarray(matrix, dtype=float)
    if counts.size == 0 or counts.sum() == 0:
        return None
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    size = max(4.0, 0.55 * len(labels) + 2.5)
    fig = Figure(figsize=(size, size * 0.85), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("Model")
    ax.set_ylabel("Consensus")
    for i, j in np.ndindex(counts.shape):
        if counts[i, j]:
            colour = "white" if shares[i, j] > 0.6 else "black"
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=7, color=colour)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="Share of consensus row")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _render_html(report: Mapping[str, Any], title: str) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="summary">{esc(" ".join(summary_sentences(report)))}</p>',
        f'<p class="meta">Scored: {esc(str(report.get("n", 0)))} · failed: {esc(str(report.get("n_failed", 0)))}'
        f' · without prediction: {esc(str(report.get("n_missing", 0)))} · bootstrap resamples:'
        f' {esc(str(report.get("n_boot", _DASH)))} (seed {esc(str(report.get("seed", _DASH)))})</p>',
        "<h2>Headline</h2>",
        _html_table(["Measure", "Estimate", "95% CI"], _headline_rows(report)),
        "<h2>Per category</h2>",
        _html_table(_CATEGORY_HEADER, _category_rows(report)),
    ]
    if report.get("model_vs_reviewer"):
        parts += ["<h2>Model vs reviewers</h2>", _html_table(["Reviewer", "n", "Kappa"], _reviewer_rows(report))]
    if report.get("reviewer_pairs"):
        parts += [
            "<h2>Reviewer pairs</h2>",
            _html_table(["Reviewer A", "Reviewer B", "n", "Kappa"], _pair_rows(report)),
        ]
    labels, matrix = _confusion(report)
    if labels:
        parts.append("<h2>Confusion matrix (rows: consensus, columns: model)</h2>")
        png = _heatmap_png(labels, matrix)
        if png:
            alt = "Confusion heatmap: consensus rows, model columns"
            parts.append(f'<img alt="{alt}" src="data:image/png;base64,{png}">')
        parts.append(_html_table(["Consensus / Model", *labels], _confusion_rows(labels, matrix)))
    if _reveal_rows(report):
        parts += ["<h2>Reveal step (automation bias)</h2>", _html_table(_REVEAL_HEADER, _reveal_rows(report))]
    undefined = report.get("undefined", {})
    if undefined:
        items = "".join(f"<li><code>{esc(k)}</code>: {esc(v)}</li>" for k, v in undefined.items())
        parts += ["<h2>Undefined measures</h2>", f"<ul>{items}</ul>"]
    parts.append("</body></html>")
    return "\n".join(parts)
