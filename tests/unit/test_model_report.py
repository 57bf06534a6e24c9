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
    assert float(table[("per_category", "Email", "human_ceiling")]) == pytest.approx(
        report["per_category"]["Email"]["human_ceiling"]
    )
    # A reviewer name that looks like a spreadsheet formula is neutralised.
    assert ("model_vs_reviewer", "'=dr_a", "kappa") in table


def test_markdown_has_tables_summary_and_escapes(report: dict) -> None:
    md = render_model_report(report, "md", title="Model report")
    assert md.startswith("# Model report")
    for heading in ("## Headline", "## Per category", "## Model vs reviewers", "## Reviewer pairs", "## Confusion matrix"):
        assert heading in md
    assert f"| Accuracy | {report['accuracy']:.3f} | {report['accuracy_ci95'][0]:.3f} – " in md
    assert "Human ceiling" in md
    assert "On 12 threads with a consensus label" in md
    assert "1 prediction failed and was left out" in md
    assert "<script>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt;\\|x" in md
    header_cells = next(line for line in md.splitlines() if line.startswith("| Category"))
    assert header_cells.count(" | ") == 7  # 8 columns, the hostile name did not split a row


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
