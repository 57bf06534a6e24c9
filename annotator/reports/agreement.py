"""Render an inter-rater agreement report (``annotator.stats.agreement.agreement_report``).

Formats:
- ``json``: the report dict itself, indent 2, no NaN.
- ``csv``: a tidy long table ``section, key, subkey, value``; an undefined value
  is an empty cell (its reason is in the ``undefined`` section); text cells that
  a spreadsheet would run as a formula are prefixed with ``'``.
- ``md``: a ready "Methods" paragraph in plain words built from the numbers
  (including how complete the gold standard is), then tables (completeness,
  headline measures, reviewer pairs, per category, each reviewer against the
  leave-one-out reference, confusion matrix), conventions and undefined measures.
- ``html``: one self-contained page: inline CSS with print rules, the category
  confusion heatmap and per-category agreement bars (95% CI whiskers) inlined
  as base64 PNG, every string escaped, no external asset.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from annotator.reports.charts import confusion_heatmap_png, horizontal_bars_png, img_tag
from annotator.reports.common import DASH as _DASH, esc as _esc, html_table, md_table as _md_table, num as _num, pct as _pct
from annotator.reports.common import NUMBER_CONVENTION, csv_text, interval as _interval, md_cell as _md_cell


def _html_table(header, rows, numeric_from: int = 1) -> str:
    return html_table(header, rows, numeric_from)

__all__ = ["FORMATS", "methods_paragraph", "render_agreement"]

FORMATS = ("json", "csv", "md", "html")


def render_agreement(report: Mapping[str, Any], fmt: str, *, title: str, resolution: str | None = None) -> str:
    """Render ``report`` as json, csv, md or html text.

    ``resolution`` says how the final labels were reached, either as a phrase
    that completes "Disagreements were resolved ..." or as full sentences; when
    None, the report's own ``"resolution"`` entry is used if present, and
    otherwise the paragraph makes no claim about it.

    Raises:
        ValueError: unknown ``fmt``.
    """
    if fmt == "json":
        return json.dumps(report, indent=2, allow_nan=False, ensure_ascii=False)
    if fmt == "csv":
        return csv_text(_csv_rows(report))
    if fmt == "md":
        return _render_markdown(report, title, resolution)
    if fmt == "html":
        return _render_html(report, title, resolution)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


# --------------------------------------------------------------------------- #
# Numbers in words
# --------------------------------------------------------------------------- #
def _ci(pair: Sequence[float | None] | None) -> str:
    return _interval(pair)


def _resolution_sentence(report: Mapping[str, Any], resolution: str | None) -> str:
    text = (resolution if resolution is not None else report.get("resolution")) or ""
    text = " ".join(str(text).split())
    if not text:
        return ""
    if text.startswith("by ") or text[:1].islower():
        return f"Disagreements were resolved {text.rstrip('.')}."
    return text if text.endswith(".") else text + "."


def methods_paragraph(report: Mapping[str, Any], resolution: str | None = None) -> str:
    """A plain-words Methods paragraph built from the report's numbers."""
    n_items, n_pairable = report.get("n_items", 0), report.get("n_items_pairable", 0)
    n_reviewers, n_ratings = report.get("n_reviewers", 0), report.get("n_ratings", 0)
    undefined = report.get("undefined", {})
    categories = report.get("categories", [])
    used = sum(1 for entry in report.get("per_category", {}).values() if entry.get("n_ratings"))
    parts = [
        f"{_num(n_reviewers)} reviewers independently labelled {_num(n_items)} threads into "
        f"{len(categories)} categories ({used} used), giving {_num(n_ratings)} ratings; the "
        f"{_num(n_pairable)} threads with two or more ratings were used to measure agreement."
    ]
    alpha = report.get("krippendorff_alpha")
    if alpha is None:
        parts.append(f"Krippendorff's alpha could not be computed ({undefined.get('krippendorff_alpha', 'undefined')}).")
    else:
        lo, hi = report.get("krippendorff_alpha_ci95", [None, None])
        interval = (
            f"95% CI {_num(lo)} to {_num(hi)}; "
            f"{'BCa' if report.get('interval_method') == 'bca' else 'percentile'} bootstrap over threads, "
            f"{_num(report.get('n_boot'))} resamples, seed {report.get('seed')}"
            if lo is not None and hi is not None
            else "no bootstrap interval"
        )
        parts.append(f"Inter-rater reliability, Krippendorff's alpha for nominal data, was {_num(alpha)} ({interval}).")
    pa = report.get("percent_agreement")
    if pa is not None:
        parts.append(
            f"Raw agreement, the share of reviewer pairs choosing the same category averaged over threads, was {_pct(pa)}."
        )
    coefficients = report.get("coefficients", {})

    def with_ci(key: str) -> str:
        entry = coefficients.get(key, {})
        ci = entry.get("ci95") or [None, None]
        return _num(report.get(key)) + (f" (95% CI {_num(ci[0])} to {_num(ci[1])})" if ci[0] is not None else "")

    if report.get("fleiss_kappa") is not None:
        parts.append(
            f"Fleiss' kappa, generalised to missing ratings (Gwet 2014), was {with_ci('fleiss_kappa')} over "
            f"{_num(report.get('fleiss_n_items'))} rated threads."
        )
    ac1, pabak = report.get("gwet_ac1"), report.get("pabak")
    if ac1 is not None and pabak is not None:
        parts.append(
            f"Gwet's AC1 was {with_ci('gwet_ac1')} and the prevalence-adjusted kappa (PABAK) {with_ci('pabak')}, "
            f"with chance agreement over the codebook's {report.get('q_codebook')} categories."
        )
    vs = {name: row for name, row in report.get("per_reviewer_vs_others", {}).items() if row.get("accuracy") is not None}
    if vs:
        low = min(vs, key=lambda name: vs[name]["accuracy"])
        high = max(vs, key=lambda name: vs[name]["accuracy"])
        kappas = [row["kappa"] for row in vs.values() if row.get("kappa") is not None]
        sentence = (
            "Each reviewer was compared with a reference that does not contain their own label: on each thread "
            "they labelled, the category all other reviewers of the thread chose (threads where the others "
            f"disagreed were left out). Reviewers' accuracy against it ranged from {_pct(vs[low]['accuracy'])} "
            f"(n = {_num(vs[low]['n'])}) to {_pct(vs[high]['accuracy'])} (n = {_num(vs[high]['n'])})"
        )
        if kappas:
            sentence += f", Cohen's kappa from {_num(min(kappas))} to {_num(max(kappas))}"
        parts.append(sentence + ".")
    excluded = report.get("excluded_reviewers") or []
    if excluded:
        parts.append(f"The labels of {', '.join(map(str, excluded))} were left out of these figures.")
    resolution_sentence = _resolution_sentence(report, resolution)
    if resolution_sentence:
        parts.append(resolution_sentence)
    return " ".join(parts)


# --------------------------------------------------------------------------- #
# Table rows shared by Markdown and HTML
# --------------------------------------------------------------------------- #
def _headline_rows(report: Mapping[str, Any]) -> list[list[str]]:
    """Counts, then one row per coefficient: value, interval and method, n, Gwet's analytic SE and interval."""
    rows = [
        ["Threads (with two or more ratings)", f"{_num(report.get('n_items'))} ({_num(report.get('n_items_pairable'))})",
         _DASH, "", _DASH, _DASH, _DASH, ""],
        ["Reviewers", _num(report.get("n_reviewers")), _DASH, "", _DASH, _DASH, _DASH, ""],
        ["Ratings", _num(report.get("n_ratings")), _DASH, "", _DASH, _DASH, _DASH, ""],
    ]
    for key, entry in report.get("coefficients", {}).items():
        value = entry.get("estimate")
        note = entry.get("reason") if value is None else (entry.get("ci_reason") or "")
        if value is not None and "q" in entry:
            note = f"q = {entry['q']}" + (f"; {note}" if note else "")
        shown = _pct(value) if key == "percent_agreement" else _num(value)
        ci = _interval(entry.get("ci95"), percent=key == "percent_agreement")
        analytic = _interval(entry.get("analytic_ci95"), percent=key == "percent_agreement")
        rows.append([
            entry.get("label", key), shown, ci, entry.get("ci_method") or _DASH, _num(entry.get("n_threads")),
            _num(entry.get("analytic_se")), analytic, note or "",
        ])
    pairs = report.get("percent_agreement_reviewer_pairs")
    rows.append(["Percent agreement (mean over reviewer pairs)", _pct(pairs), _DASH, _DASH,
                 _num(report.get("n_items_pairable")), _DASH, _DASH,
                 report.get("undefined", {}).get("percent_agreement_reviewer_pairs_ci95" if pairs is not None
                                                  else "percent_agreement_reviewer_pairs", "")])
    return rows


def _pair_rows(report: Mapping[str, Any]) -> list[list[str]]:
    return [
        [
            str(p["reviewer_a"]),
            str(p["reviewer_b"]),
            _num(p["n"]),
            _pct(p.get("percent_agreement")),
            _interval(p.get("percent_agreement_ci95"), percent=True),
            _num(p["kappa"]) if p["kappa"] is not None else f"{_DASH} ({p.get('reason') or 'undefined'})",
            _interval(p.get("kappa_ci95")) if p.get("kappa_ci95", [None])[0] is not None
            else f"{_DASH} ({p.get('kappa_ci_reason') or 'undefined'})" if p["kappa"] is not None else _DASH,
        ]
        for p in report.get("pairwise_cohen_kappa", [])
    ]


def _category_rows(report: Mapping[str, Any]) -> list[list[str]]:
    return [
        [
            str(category),
            f"{_num(entry['n_ratings'])} ({_num(entry.get('n_ratings_on_paired_threads', entry['n_ratings']))})",
            _num(entry.get("fleiss_kappa")),
            _ci(entry.get("fleiss_kappa_ci95")),
            _num(entry["specific_agreement"]),
            _ci(entry["specific_agreement_ci95"]),
            _num(entry["kappa_one_vs_rest"]),
            _ci(entry["kappa_one_vs_rest_ci95"]),
        ]
        for category, entry in report.get("per_category", {}).items()
    ]


def _reviewer_rows(report: Mapping[str, Any]) -> list[list[str]]:
    return [
        [str(reviewer), _num(row["n"]), _num(row.get("n_rated")), _pct(row["accuracy"]),
         _num(row["kappa"]) if row["kappa"] is not None or not row.get("reason") else f"{_DASH} ({row['reason']})"]
        for reviewer, row in report.get("per_reviewer_vs_others", {}).items()
    ]


def _completeness_rows(report: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for c in report.get("completeness") or []:
        methods = ", ".join(f"{m}: {n}" for m, n in c.get("by_method", {}).items()) or _DASH
        reasons = ", ".join(f"{r}: {n}" for r, n in c.get("pending_by_reason", {}).items()) or _DASH
        rows.append([str(c["round"]), _num(c["n_sampled"]), _num(c["n_decided"]), _num(c["n_pending"]), methods,
                     reasons])
    return rows


def _confusion(report: Mapping[str, Any]) -> tuple[list[str], list[list[int]]]:
    confusion = report.get("confusion_matrix") or {}
    return [str(label) for label in confusion.get("labels", [])], confusion.get("matrix", [])


_PAIR_HEADER = ["Reviewer A", "Reviewer B", "Threads in common", "Agreement", "95% CI (Wilson)", "Cohen's kappa",
                "95% CI (bootstrap)"]
_CATEGORY_HEADER = ["Category", "Ratings (on threads with 2+)", "Fleiss' kappa (1971)", "95% CI",
                    "Specific agreement", "95% CI", "One-vs-rest alpha", "95% CI"]
_REVIEWER_HEADER = ["Reviewer", "Threads with a reference", "Threads labelled", "Accuracy", "Cohen's kappa"]
_COMPLETENESS_HEADER = ["Round", "Sampled threads", "Decided", "Pending", "How decided", "Why pending"]
_HEADLINE_HEADER = ["Measure", "Value", "95% CI", "Interval method", "n (threads)", "Analytic SE (Gwet)",
                    "Analytic 95% CI", "Note"]


def _conventions(report: Mapping[str, Any]) -> dict[str, str]:
    return {**report.get("conventions", {}), "numbers": NUMBER_CONVENTION}


# --------------------------------------------------------------------------- #
# CSV
# --------------------------------------------------------------------------- #
def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _csv_rows(report: Mapping[str, Any]) -> Iterable[tuple[Any, Any, Any, Any]]:
    for key, value in report.items():
        if key == "pairwise_cohen_kappa":
            for p in value:
                pair = f"{p['reviewer_a']} | {p['reviewer_b']}"
                for field in ("n", "kappa", "percent_agreement"):
                    yield key, pair, field, p.get(field)
                for field in ("kappa_ci95", "percent_agreement_ci95"):
                    ci = p.get(field) or [None, None]
                    yield key, pair, f"{field}_lo", ci[0]
                    yield key, pair, f"{field}_hi", ci[1]
        elif key == "completeness":
            for c in value:
                for field in ("n_sampled", "n_decided", "n_pending"):
                    yield key, c["round"], field, c[field]
        elif key in ("per_category", "per_reviewer_vs_others", "coefficients"):
            for name, entry in value.items():
                for field, item in entry.items():
                    if isinstance(item, list):
                        yield key, name, f"{field}_lo", item[0]
                        yield key, name, f"{field}_hi", item[1]
                    elif field != "reason":
                        yield key, name, field, item
        elif key == "confusion_matrix":
            labels = value.get("labels", [])
            for label, row in zip(labels, value.get("matrix", []), strict=True):
                for other, count in zip(labels, row, strict=True):
                    yield key, label, other, count
        elif _is_scalar(value):
            yield "summary", key, "", value
        elif isinstance(value, list) and all(_is_scalar(v) for v in value):
            names = ("lo", "hi") if key.endswith("_ci95") else range(len(value))
            for name, item in zip(names, value):
                yield "summary", key, name, item
        elif isinstance(value, Mapping):
            for name, item in value.items():
                yield key, name, "", item if _is_scalar(item) else json.dumps(item, allow_nan=False)


# --------------------------------------------------------------------------- #
# Markdown
# --------------------------------------------------------------------------- #
def _render_markdown(report: Mapping[str, Any], title: str, resolution: str | None) -> str:
    lines = [f"# {_md_cell(title)}", "", "## Methods", "", _md_cell(methods_paragraph(report, resolution)), ""]
    if report.get("completeness"):
        lines += ["## Completeness of the gold standard", "", *_md_table(_COMPLETENESS_HEADER, _completeness_rows(report))]
    lines += ["## Headline measures", "", *_md_table(_HEADLINE_HEADER, _headline_rows(report))]
    if report.get("pairwise_cohen_kappa"):
        lines += ["## Reviewer pairs", "", *_md_table(_PAIR_HEADER, _pair_rows(report))]
    if report.get("per_category"):
        lines += ["## Per category", "", *_md_table(_CATEGORY_HEADER, _category_rows(report))]
    if report.get("per_reviewer_vs_others"):
        lines += ["## Each reviewer against the other reviewers (leave-one-out)", "",
                  *_md_table(_REVIEWER_HEADER, _reviewer_rows(report))]
    labels, matrix = _confusion(report)
    if labels:
        lines += [
            "## Category confusion between reviewers",
            "",
            "Rows: one reviewer's category; columns: another reviewer's category on the same thread (ordered pairs).",
            "",
            *_md_table(["", *labels], [[label, *map(_num, row)] for label, row in zip(labels, matrix, strict=True)]),
        ]
    lines += ["## Conventions", ""]
    lines += [f"- **{_md_cell(k)}**: {_md_cell(v)}" for k, v in _conventions(report).items()]
    if report.get("undefined"):
        lines += ["", "## Undefined measures", ""]
        lines += [f"- `{_md_cell(k)}`: {_md_cell(v)}" for k, v in report["undefined"].items()]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- #
# HTML
# --------------------------------------------------------------------------- #
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:60rem;
padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.methods{background:#f8f8f8;border-left:4px solid #4c78a8;padding:.75rem 1rem}
figure{margin:1rem 0}figcaption{font-size:.85rem;color:#555}img{max-width:100%;height:auto}
.meta{color:#555;font-size:.85rem}
@media print{
body{margin:0;max-width:none;font-size:10pt}
h2{page-break-after:avoid;break-after:avoid}
table,figure,.methods{page-break-inside:avoid;break-inside:avoid}
section.page{page-break-before:always;break-before:page}
a{color:inherit;text-decoration:none}
}
"""


def _figures(report: Mapping[str, Any]) -> list[str]:
    parts = []
    labels, matrix = _confusion(report)
    if labels and any(any(row) for row in matrix):
        png = confusion_heatmap_png(
            labels, matrix, title="Category pairs between reviewers", xlabel="Second reviewer", ylabel="First reviewer"
        )
        parts.append(
            "<figure>" + img_tag(png, "Heatmap of category pairs chosen by two reviewers on the same thread")
            + "<figcaption>Ordered pairs of reviewers on the same thread; the diagonal is agreement.</figcaption></figure>"
        )
    per_category = report.get("per_category", {})
    if any(entry.get("specific_agreement") is not None for entry in per_category.values()):
        names = list(per_category)
        cis = [per_category[n]["specific_agreement_ci95"] for n in names]
        png = horizontal_bars_png(
            names,
            [per_category[n]["specific_agreement"] for n in names],
            lows=[ci[0] for ci in cis],
            highs=[ci[1] for ci in cis],
            title="Specific agreement per category (95% CI)",
            xlabel="Share of reviewer pairs agreeing on the category",
            xlim=(0.0, 1.0),
        )
        parts.append(
            "<figure>" + img_tag(png, "Bar chart of specific agreement per category with 95% intervals")
            + "<figcaption>Specific agreement: of all reviewer pairs in which one chose the category, the share in "
            "which the other chose it too.</figcaption></figure>"
        )
    return parts


def _render_html(report: Mapping[str, Any], title: str, resolution: str | None) -> str:
    body = [
        f"<h1>{_esc(title)}</h1>",
        f'<p class="meta">{_esc(_num(report.get("n_items")))} threads, {_esc(_num(report.get("n_reviewers")))} '
        f'reviewers, {_esc(_num(report.get("n_ratings")))} ratings; {_esc(_num(report.get("n_boot")))} bootstrap '
        f'resamples, seed {_esc(report.get("seed"))}.</p>',
        f'<section><h2>Methods</h2><p class="methods">{_esc(methods_paragraph(report, resolution))}</p></section>',
    ]
    if report.get("completeness"):
        body.append("<section><h2>Completeness of the gold standard</h2>"
                    f"{_html_table(_COMPLETENESS_HEADER, _completeness_rows(report))}</section>")
    body.append(f"<section><h2>Headline measures</h2>{_html_table(_HEADLINE_HEADER, _headline_rows(report))}</section>")
    figures = _figures(report)
    if figures:
        body.append("<section><h2>Charts</h2>" + "".join(figures) + "</section>")
    if report.get("pairwise_cohen_kappa"):
        body.append(f"<section><h2>Reviewer pairs</h2>{_html_table(_PAIR_HEADER, _pair_rows(report), 2)}</section>")
    if report.get("per_category"):
        body.append(f"<section><h2>Per category</h2>{_html_table(_CATEGORY_HEADER, _category_rows(report))}</section>")
    if report.get("per_reviewer_vs_others"):
        body.append(
            "<section><h2>Each reviewer against the other reviewers (leave-one-out)</h2>"
            f"{_html_table(_REVIEWER_HEADER, _reviewer_rows(report))}</section>"
        )
    labels, matrix = _confusion(report)
    if labels:
        rows = [[label, *map(_num, row)] for label, row in zip(labels, matrix, strict=True)]
        body.append(
            '<section class="page"><h2>Category confusion between reviewers</h2>'
            f"{_html_table(['', *labels], rows)}</section>"
        )
    conventions = "".join(f"<li><strong>{_esc(k)}</strong>: {_esc(v)}</li>" for k, v in _conventions(report).items())
    body.append(f"<section><h2>Conventions</h2><ul>{conventions}</ul></section>")
    if report.get("undefined"):
        items = "".join(f"<li><code>{_esc(k)}</code>: {_esc(v)}</li>" for k, v in report["undefined"].items())
        body.append(f"<section><h2>Undefined measures</h2><ul>{items}</ul></section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
