"""Render a model-vs-human comparison (``annotator.stats.comparison.compare_to_consensus``, with the
service's run, round, completeness and notes: ``annotator.services.model_eval.compare_run``).

Formats:
- ``json``: the report as one JSON object (``title`` plus the report's keys), indent 2, no NaN.
- ``csv``: tidy long table with columns ``section, key, subkey, value``; an
  undefined value is an empty cell and its reason is in the ``undefined`` section.
- ``md``: Markdown: a first paragraph with every caution (pending threads,
  design weights, training overlap) and the plain-words summary, then tables
  (headline with 95% CIs, per category F1 with support, the model as another
  reviewer with the difference and its CI, the model against the final label
  beside each reviewer against the other reviewers, confusion matrix, reveal
  step, undefined measures).
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

__all__ = ["FORMATS", "caution_sentences", "claim_sentence", "render_model_report", "summary_sentences"]

FORMATS = ("json", "csv", "md", "html")


def render_model_report(report: Mapping[str, Any], fmt: str, *, title: str) -> str:
    """Render ``report`` (output of ``compare_to_consensus`` or ``compare_run``) as json, csv, md or html text.

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
_COUNTS = ("n", "n_consensus", "n_failed", "n_out_of_codebook", "n_missing", "pending", "n_boot", "seed")


def _ci(pair: Sequence[float] | None) -> str:
    return _DASH if pair is None or pair[0] is None else f"{pair[0]:.3f} – {pair[1]:.3f}"


def _weighted(report: Mapping[str, Any]) -> bool:
    return report.get("weighting") == "design-weighted"


def _headline_rows(report: Mapping[str, Any]) -> list[list[str]]:
    suffix = " (design-weighted)" if _weighted(report) else ""
    return [[label + suffix, _num(report.get(key)), _ci(report.get(f"{key}_ci95"))] for key, label in _HEADLINE]


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
            ]
        )
    return rows


_CATEGORY_HEADER = ["Category", "Support (final label)", "Predicted", "Precision", "Recall", "F1", "F1 95% CI"]
_AS_REVIEWER_HEADER = ["Compared", "Threads", "Agreement", "Cohen's kappa"]
_REFERENCE_HEADER = ["Who", "Reference", "Threads", "Accuracy", "Cohen's kappa"]


def _as_reviewer_rows(report: Mapping[str, Any]) -> list[list[str]]:
    a = report.get("as_reviewer") or {}
    rows = [[f"model vs {r['reviewer']}", _num(r["n"]), _pct(r["agreement"]), _num(r["kappa"])]
            for r in a.get("reviewers", [])]
    rows += [[f"{p['reviewer_a']} vs {p['reviewer_b']}", _num(p["n"]), _pct(p["agreement"]), _num(p["kappa"])]
             for p in a.get("pairs", [])]
    if a.get("kappa_difference") is not None:
        rows.append(["mean, model vs reviewers", "", _pct(a.get("model_mean_agreement")), _num(a.get("model_mean_kappa"))])
        rows.append(["mean, reviewer vs reviewer", "", _pct(a.get("reviewer_mean_agreement")),
                     _num(a.get("reviewer_mean_kappa"))])
        agree_ci, kappa_ci = a.get("agreement_difference_ci95"), a.get("kappa_difference_ci95")
        agree = f"{100 * a['agreement_difference']:+.1f} points" + (
            f" (95% CI {100 * agree_ci[0]:+.1f} to {100 * agree_ci[1]:+.1f})" if agree_ci else "")
        kappa = f"{a['kappa_difference']:+.3f}" + (f" (95% CI {kappa_ci[0]:+.3f} to {kappa_ci[1]:+.3f})" if kappa_ci else "")
        rows.append(["difference (model minus reviewers)", "", agree, kappa])
    return rows


def _reference_rows(report: Mapping[str, Any]) -> list[list[str]]:
    if not report.get("n"):
        return []
    rows = [["model", "final label", _num(report.get("n")), _pct(report.get("accuracy")), _num(report.get("cohen_kappa"))]]
    for reviewer, r in (report.get("reviewers_vs_others") or {}).items():
        rows.append([str(reviewer), "the other reviewers' agreed label", _num(r["n"]), _pct(r["accuracy"]),
                     _num(r["kappa"])])
    return rows


def _confusion(report: Mapping[str, Any]) -> tuple[list[str], list[list[int]]]:
    cm = report.get("confusion_matrix") or {}
    return list(cm.get("labels", [])), [list(row) for row in cm.get("matrix", [])]


def _confusion_rows(labels: list[str], matrix: list[list[int]]) -> list[list[str]]:
    return [[truth, *map(str, row)] for truth, row in zip(labels, matrix, strict=True)]


def caution_sentences(report: Mapping[str, Any]) -> list[str]:
    """What a reader must know before any figure: pending threads, design weights, overlap with training."""
    out = []
    pending = report.get("pending") or 0
    if pending:
        out.append(f"Caution: {pending} sampled thread(s) of the round still await a decision and are left out, so "
                   "the scored threads are the decided ones only, not a random sample of the round (decided-first "
                   "threads tend to be the easy ones); these figures may flatter the model.")
    if _weighted(report):
        out.append("The round was sampled by the model's predicted category; accuracy, F1 and kappa are "
                   "design-weighted (each thread counts N_h / n_h of its stratum), so they estimate the figures "
                   "over the corpus, not over the over-sampled round.")
    out.extend(str(note) for note in report.get("notes") or [])
    return out


def claim_sentence(report: Mapping[str, Any]) -> str | None:
    """Which comparison supports "the model labels as well as a reviewer", and whether its CI allows it."""
    a = report.get("as_reviewer") or {}
    diff = a.get("kappa_difference")
    if diff is None:
        return None
    ci = a.get("kappa_difference_ci95")
    start = (f"The comparison that can support \"the model labels as well as a reviewer\" is the model's kappa "
             f"with each reviewer set beside the reviewers' kappa with each other, on the same "
             f"{a.get('n_threads')} threads: {a['model_mean_kappa']:.3f} against {a['reviewer_mean_kappa']:.3f}, "
             f"a difference of {diff:+.3f}")
    if ci is None:
        return start + " (no confidence interval, so no claim can be made either way)."
    start += f" (95% CI {ci[0]:+.3f} to {ci[1]:+.3f})"
    claim = a.get("claim")
    if claim == "supported":
        return start + ("; the interval lies at or above 0, so the claim is supported: the model agrees with "
                        "the reviewers at least as well as they agree with each other.")
    if claim == "contradicted":
        return start + ("; the whole interval lies below 0, so the data contradict the claim: the model agrees "
                        "with reviewers less than they agree with each other.")
    return start + (f"; the interval includes 0, so the model is not shown to be worse, but it may be up to "
                    f"{-ci[0]:.3f} kappa below a reviewer; the claim holds only if such a difference would not "
                    "matter (a margin fixed before looking at the data).")


def summary_sentences(report: Mapping[str, Any]) -> list[str]:
    """Plain-words summary of the comparison (a few short sentences)."""
    n = report.get("n", 0)
    failed = report.get("n_failed", 0)
    if not n:
        return [
            f"No thread had both a valid model label and a final label ({failed} failed), "
            "so the model could not be scored."
        ]
    acc_ci = report.get("accuracy_ci95")
    weighted = " (design-weighted)" if _weighted(report) else ""
    sentences = [
        f"On {n} threads with a final label, the model gave the same category as the final label "
        f"for {_pct(report.get('accuracy'))}{weighted}"
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
    claim = claim_sentence(report)
    if claim:
        sentences.append(claim)
    if report.get("reviewers_vs_others"):
        sentences.append("The final label is built from the reviewers' own labels, so each reviewer is scored "
                         "instead against the label the other reviewers agreed on (leave-one-out), beside the "
                         "model against the final label; those references differ, and threads where the others "
                         "agreed are easier than average.")
    return sentences


# --------------------------------------------------------------------------- #
# CSV
# --------------------------------------------------------------------------- #
def _csv_rows(report: Mapping[str, Any]) -> Iterable[tuple[str, str, str, Any]]:
    for key in _COUNTS:
        if key in report:
            yield ("counts", key, "", report[key])
    yield ("counts", "weighting", "", report.get("weighting"))
    for key, _ in _HEADLINE:
        yield ("headline", key, "estimate", report.get(key))
        ci = report.get(f"{key}_ci95")
        yield ("headline", key, "ci95_low", None if ci is None else ci[0])
        yield ("headline", key, "ci95_high", None if ci is None else ci[1])
    for cat, m in report.get("per_category", {}).items():
        for field in ("support", "predicted", "precision", "recall", "f1"):
            yield ("per_category", cat, field, m.get(field))
        ci = m.get("f1_ci95")
        yield ("per_category", cat, "f1_ci95_low", None if ci is None else ci[0])
        yield ("per_category", cat, "f1_ci95_high", None if ci is None else ci[1])
    labels, matrix = _confusion(report)
    for truth, row in zip(labels, matrix, strict=False):
        for predicted, count in zip(labels, row, strict=False):
            yield ("confusion_matrix", truth, predicted, count)
    a = report.get("as_reviewer") or {}
    for r in a.get("reviewers", []):
        for field in ("n", "agreement", "kappa"):
            yield ("model_vs_reviewer", r["reviewer"], field, r[field])
    for p in a.get("pairs", []):
        pair = f"{p['reviewer_a']} vs {p['reviewer_b']}"
        for field in ("n", "agreement", "kappa"):
            yield ("reviewer_pairs", pair, field, p[field])
    for key in ("n_threads", "model_mean_kappa", "reviewer_mean_kappa", "kappa_difference", "model_mean_agreement",
                "reviewer_mean_agreement", "agreement_difference", "claim"):
        yield ("as_reviewer", key, "", a.get(key))
    for key in ("kappa_difference_ci95", "agreement_difference_ci95"):
        ci = a.get(key)
        yield ("as_reviewer", key, "low", None if ci is None else ci[0])
        yield ("as_reviewer", key, "high", None if ci is None else ci[1])
    for reviewer, r in (report.get("reviewers_vs_others") or {}).items():
        for field in ("n", "accuracy", "kappa"):
            yield ("reviewers_vs_others", reviewer, field, r[field])
    for i, note in enumerate(caution_sentences(report)):
        yield ("notes", str(i + 1), "", note)
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


def _completeness_line(report: Mapping[str, Any]) -> str | None:
    c = report.get("completeness_text")
    return str(c) if c else None


def _render_markdown(report: Mapping[str, Any], title: str) -> str:
    first = " ".join(caution_sentences(report) + summary_sentences(report))
    lines = [f"# {_md_cell(title)}", "", _md_cell(first), ""]
    if _completeness_line(report):
        lines += [_md_cell(f"Gold standard: {_completeness_line(report)}"), ""]
    lines += [
        f"Scored: {report.get('n', 0)} · failed: {report.get('n_failed', 0)} · "
        f"without prediction: {report.get('n_missing', 0)} · bootstrap resamples: "
        f"{report.get('n_boot', _DASH)} (seed {report.get('seed', _DASH)})",
        "",
        "## Headline (model against the final label)",
        "",
    ]
    lines += _md_table(["Measure", "Estimate", "95% CI"], _headline_rows(report))
    lines += ["## Per category", ""] + _md_table(_CATEGORY_HEADER, _category_rows(report))
    if _as_reviewer_rows(report):
        lines += ["## The model as another reviewer", ""]
        claim = claim_sentence(report)
        if claim:
            lines += [_md_cell(claim), ""]
        lines += _md_table(_AS_REVIEWER_HEADER, _as_reviewer_rows(report))
    if len(_reference_rows(report)) > 1:
        lines += ["## Against a reference that does not contain them", ""]
        lines += _md_table(_REFERENCE_HEADER, _reference_rows(report))
    labels, matrix = _confusion(report)
    if labels:
        lines += ["## Confusion matrix (rows: final label, columns: model; thread counts)", ""]
        lines += _md_table(["Final label / Model", *labels], _confusion_rows(labels, matrix))
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
    """Confusion heatmap (colour = share of each final-label row, text = count) as base64 PNG."""
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
    ax.set_ylabel("Final label")
    for i, j in np.ndindex(counts.shape):
        if counts[i, j]:
            colour = "white" if shares[i, j] > 0.6 else "black"
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=7, color=colour)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="Share of final-label row")
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
        f'<p class="summary">{esc(" ".join(caution_sentences(report) + summary_sentences(report)))}</p>',
    ]
    if _completeness_line(report):
        parts.append(f'<p class="meta">Gold standard: {esc(_completeness_line(report))}</p>')
    parts += [
        f'<p class="meta">Scored: {esc(str(report.get("n", 0)))} · failed: {esc(str(report.get("n_failed", 0)))}'
        f' · without prediction: {esc(str(report.get("n_missing", 0)))} · bootstrap resamples:'
        f' {esc(str(report.get("n_boot", _DASH)))} (seed {esc(str(report.get("seed", _DASH)))})</p>',
        "<h2>Headline (model against the final label)</h2>",
        _html_table(["Measure", "Estimate", "95% CI"], _headline_rows(report)),
        "<h2>Per category</h2>",
        _html_table(_CATEGORY_HEADER, _category_rows(report)),
    ]
    if _as_reviewer_rows(report):
        parts.append("<h2>The model as another reviewer</h2>")
        claim = claim_sentence(report)
        if claim:
            parts.append(f"<p>{esc(claim)}</p>")
        parts.append(_html_table(_AS_REVIEWER_HEADER, _as_reviewer_rows(report)))
    if len(_reference_rows(report)) > 1:
        parts += ["<h2>Against a reference that does not contain them</h2>",
                  _html_table(_REFERENCE_HEADER, _reference_rows(report))]
    labels, matrix = _confusion(report)
    if labels:
        parts.append("<h2>Confusion matrix (rows: final label, columns: model; thread counts)</h2>")
        png = _heatmap_png(labels, matrix)
        if png:
            alt = "Confusion heatmap: final-label rows, model columns"
            parts.append(f'<img alt="{alt}" src="data:image/png;base64,{png}">')
        parts.append(_html_table(["Final label / Model", *labels], _confusion_rows(labels, matrix)))
    if _reveal_rows(report):
        parts += ["<h2>Reveal step (automation bias)</h2>", _html_table(_REVEAL_HEADER, _reveal_rows(report))]
    undefined = report.get("undefined", {})
    if undefined:
        items = "".join(f"<li><code>{esc(k)}</code>: {esc(v)}</li>" for k, v in undefined.items())
        parts += ["<h2>Undefined measures</h2>", f"<ul>{items}</ul>"]
    parts.append("</body></html>")
    return "\n".join(parts)
