"""Tests for annotator.reports.model (json, csv, md, html renderers)."""

from __future__ import annotations

import base64
import csv
import io
import json
import re

import pandas as pd
import pytest

from annotator.reports.model import render_model_report
from annotator.stats.comparison import compare_to_consensus

HOSTILE = "<script>alert(1)</script>|x"
CATS = ["Email", "Coding", HOSTILE, "Unused"]


@pytest.fixture(scope="module")
def report() -> dict:
    truth = ["Email"] * 5 + ["Coding"] * 4 + [HOSTILE] * 3
    pred = ["Email"] * 4 + ["Coding"] + ["Coding"] * 3 + ["Email"] + [HOSTILE] * 2 + ["Email"]
    consensus = {f"t{k}": c for k, c in enumerate(truth)} | {"t_failed": "Email"}
    predictions = {f"t{k}": p for k, p in enumerate(pred)} | {"t_failed": None}
    ratings = pd.DataFrame(
        [(f"t{k}", "=dr_a", c) for k, c in enumerate(truth)]
        + [(f"t{k}", "dr_b", p) for k, p in enumerate(pred)]
        + [(f"t{k}", "dr_c", truth[k]) for k in range(6)],
        columns=["item", "reviewer", "category"],
    )
    return compare_to_consensus(predictions, consensus, categories=CATS, reviewer_ratings=ratings, n_boot=200)


def test_json_round_trips(report: dict) -> None:
    text = render_model_report(report, "json", title="GPT-4o vs consensus")
    data = json.loads(text)
    assert data["title"] == "GPT-4o vs consensus"
    assert {k: v for k, v in data.items() if k != "title"} == json.loads(json.dumps(report))
    assert text.startswith('{\n  "title"')  # indent 2


def test_csv_is_tidy_long_and_matches_report(report: dict) -> None:
    rows = list(csv.reader(io.StringIO(render_model_report(report, "csv", title="t"))))
    assert rows[0] == ["section", "key", "subkey", "value"]
    assert all(len(r) == 4 for r in rows)
    table = {(s, k, sk): v for s, k, sk, v in rows[1:]}
    assert float(table[("headline", "accuracy", "estimate")]) == pytest.approx(report["accuracy"])
    assert float(table[("headline", "cohen_kappa", "ci95_low")]) == pytest.approx(report["cohen_kappa_ci95"][0])
    assert table[("counts", "n_failed", "")] == "1"
    assert table[("confusion_matrix", "Email", "Coding")] == "1"
    assert table[("per_category", "Unused", "f1")] == ""  # undefined: empty cell ...
    assert table[("undefined", "per_category.Unused.f1", "reason")]  # ... with its reason
    assert ("per_category", "Email", "human_ceiling") not in table
    assert float(table[("as_reviewer", "kappa_difference", "")]) == pytest.approx(
        report["as_reviewer"]["kappa_difference"])
    ci = report["as_reviewer"]["kappa_difference_ci95"]  # 12 threads: too many undefined resamples here
    assert table[("as_reviewer", "kappa_difference_ci95", "low")] == ("" if ci is None else str(ci[0]))
    assert ci is not None or table[("undefined", "as_reviewer.kappa_difference_ci95", "reason")]
    # A reviewer name that looks like a spreadsheet formula is neutralised.
    assert ("model_vs_reviewer", "'=dr_a", "kappa") in table
    assert ("reviewers_vs_others", "'=dr_a", "accuracy") in table


def test_markdown_has_tables_summary_and_escapes(report: dict) -> None:
    md = render_model_report(report, "md", title="Model report")
    assert md.startswith("# Model report")
    for heading in ("## Headline", "## Per category", "## The model as another reviewer",
                    "## Against a reference that does not contain them", "## Confusion matrix"):
        assert heading in md
    assert f"| Accuracy | {report['accuracy']:.3f} | {report['accuracy_ci95'][0]:.3f} – " in md
    assert "Human ceiling" not in md and "ceiling" not in md
    assert "On 12 threads with a final label" in md
    a = report["as_reviewer"]
    assert f"a difference of {a['kappa_difference']:+.3f}" in md
    assert "the model labels as well as a reviewer" in md
    assert "1 prediction failed and was left out" in md
    assert "<script>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt;\\|x" in md
    header_cells = next(line for line in md.splitlines() if line.startswith("| Category"))
    assert header_cells.count(" | ") == 6  # 7 columns, the hostile name did not split a row


def test_html_is_self_contained_and_escaped(report: dict) -> None:
    page = render_model_report(report, "html", title="Report <b>x</b>")
    assert page.startswith("<!DOCTYPE html>")
    assert "@media print" in page
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "<b>x</b>" not in page
    for attribute in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page, flags=re.I):
        assert attribute.startswith(("data:", "#"))
    assert not re.search(r"https?://", page)
    assert "<link" not in page.lower() and "@import" not in page
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert match and base64.b64decode(match.group(1)).startswith(b"\x89PNG\r\n\x1a\n")


def test_empty_report_renders_everywhere() -> None:
    empty = compare_to_consensus({"a": None}, {"a": "A"}, categories=["A", "B"], n_boot=10)
    for fmt in ("json", "csv", "md", "html"):
        out = render_model_report(empty, fmt, title="Nothing yet")
        assert "Nothing yet" in out or fmt == "csv"
    page = render_model_report(empty, "html", title="Nothing yet")
    assert "data:image/png" not in page  # all-zero matrix: no heatmap
    assert "could not be scored" in render_model_report(empty, "md", title="x")
    json.loads(render_model_report(empty, "json", title="x"))


def test_unknown_format_raises(report: dict) -> None:
    with pytest.raises(ValueError, match="unknown format 'pdf'; expected one of json, csv, md, html"):
        render_model_report(report, "pdf", title="t")


def test_claim_sentence_in_plain_words_for_each_verdict(report: dict) -> None:
    from annotator.reports.model import claim_sentence

    a = dict(report["as_reviewer"], kappa_difference=-0.05, model_mean_kappa=0.6, reviewer_mean_kappa=0.65)
    for ci, words in (([0.01, 0.2], "the claim is supported"), ([-0.3, -0.01], "the data contradict the claim"),
                      ([-0.2, 0.1], "may be up to 0.200 kappa below a reviewer")):
        claim = "supported" if ci[0] >= 0 else "contradicted" if ci[1] < 0 else "not_shown"
        text = claim_sentence({"as_reviewer": dict(a, kappa_difference_ci95=ci, claim=claim)})
        assert words in text and "beside the reviewers' kappa with each other" in text
    assert "no claim can be made" in claim_sentence({"as_reviewer": dict(a, kappa_difference_ci95=None, claim=None)})


def test_pending_and_design_weights_lead_the_first_paragraph(report: dict) -> None:
    rep = dict(report, pending=7, weighting="design-weighted", notes=["The prompt's codebook examples contain ..."])
    md = render_model_report(rep, "md", title="t")
    first = md.split("\n")[2]
    assert first.startswith("Caution: 7 sampled thread(s) of the round still await a decision")
    assert "not a random sample" in first and "design-weighted" in first and "codebook examples" in first
    assert "| Accuracy (design-weighted) |" in md
    assert json.loads(render_model_report(rep, "json", title="t"))["pending"] == 7
    page = render_model_report(rep, "html", title="t")
    assert "Caution: 7 sampled" in page.split('<p class="summary">', 1)[1].split("</p>", 1)[0]


def test_reveal_step_is_reported_in_markdown_and_html():
    from annotator.reports.model import render_model_report

    report = {"n": 0, "n_failed": 0, "undefined": {}, "reveal": {
        "n_cases": 10, "n_model_differed": 4, "n_switched_to_model": 3, "switch_rate": 0.75,
        "switch_rate_model_right": 1.0, "switch_rate_model_wrong": 0.5, "n_toward_consensus": 2,
        "n_away_from_consensus": 1}}
    md = render_model_report(report, "md", title="t")
    assert "Reveal step (automation bias)" in md and "| Switched to the model's label | 3 (75.0%) |" in md
    assert "Reveal step (automation bias)" in render_model_report(report, "html", title="t")
    assert "Reveal step" not in render_model_report({"n": 0, "undefined": {}}, "md", title="t")
