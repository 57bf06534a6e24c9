"""Rendering the agreement report as json, csv, md and html, and the shared chart helpers."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest

from annotator.reports.agreement import methods_paragraph, render_agreement
from annotator.reports.charts import confusion_heatmap_png, horizontal_bars_png, img_tag
from annotator.stats.agreement import agreement_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CATEGORIES = ["Clinical question", "Drafting | letters", "=HYPERLINK(\"x\")", "Other"]


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    truth = rng.choice(len(CATEGORIES) - 1, size=120, p=[0.6, 0.3, 0.1])
    rows = []
    for reviewer in ("dr_a", "dr_b", "<script>alert(1)</script>"):
        labels = np.where(rng.random(120) < 0.85, truth, rng.integers(0, 3, 120))
        rows += [(f"t{i:03d}", reviewer, CATEGORIES[c]) for i, c in enumerate(labels) if rng.random() > 0.05]
    return pd.DataFrame(rows, columns=["item", "reviewer", "category"])


@pytest.fixture(scope="module")
def report(ratings: pd.DataFrame) -> dict:
    return agreement_report(ratings, categories=CATEGORIES, n_boot=200, seed=3)


def test_json_is_the_report_itself(report: dict) -> None:
    text = render_agreement(report, "json", title="Round 1")
    assert json.loads(text) == report
    assert text.startswith("{\n  ")


def test_csv_is_a_tidy_long_table_that_pandas_reads(report: dict) -> None:
    table = pd.read_csv(io.StringIO(render_agreement(report, "csv", title="Round 1")), keep_default_na=False)
    assert list(table.columns) == ["section", "key", "subkey", "value"]
    summary = table[table["section"] == "summary"].set_index(["key", "subkey"])["value"]
    assert float(summary[("krippendorff_alpha", "")]) == pytest.approx(report["krippendorff_alpha"])
    assert float(summary[("krippendorff_alpha_ci95", "hi")]) == pytest.approx(report["krippendorff_alpha_ci95"][1])
    cat = table[(table["section"] == "per_category") & (table["key"] == "Clinical question")].set_index("subkey")
    assert float(cat.loc["specific_agreement_ci95_lo", "value"]) == pytest.approx(
        report["per_category"]["Clinical question"]["specific_agreement_ci95"][0]
    )
    cells = table[table["section"] == "confusion_matrix"]
    assert len(cells) == len(report["categories"]) ** 2
    assert cells["value"].astype(int).sum() == np.sum(report["confusion_matrix"]["matrix"])
    # a category that a spreadsheet would run as a formula is neutralised
    assert not table["key"].str.startswith("=").any()
    assert "'=HYPERLINK(\"x\")" in set(table["key"])
    # an undefined value is an empty cell, its reason in the undefined section
    loo = table[table["section"] == "per_reviewer_vs_others"].set_index(["key", "subkey"])["value"]
    assert float(loo[("dr_a", "accuracy")]) == pytest.approx(report["per_reviewer_vs_others"]["dr_a"]["accuracy"])
    other = table[(table["section"] == "per_category") & (table["key"] == "Other")].set_index("subkey")
    assert other.loc["specific_agreement", "value"] == ""
    assert (table["section"] == "undefined").any()


def test_markdown_has_methods_paragraph_with_the_numbers(report: dict) -> None:
    text = render_agreement(report, "md", title="Round 1 agreement")
    assert text.startswith("# Round 1 agreement\n")
    methods = text.split("## Methods\n\n", 1)[1].split("\n", 1)[0]
    lo, hi = report["krippendorff_alpha_ci95"]
    assert f"{report['krippendorff_alpha']:.3f} (95% CI {lo:.3f} to {hi:.3f}" in methods
    assert f"{report['n_items']:,} threads" in methods and f"{report['n_ratings']:,} ratings" in methods
    assert f"over {report['fleiss_n_items']:,} rated threads" in methods and "generalised to missing ratings" in methods
    assert "resolved" not in methods  # no claim about adjudication the report cannot know
    loo = report["per_reviewer_vs_others"]
    low = min(loo.values(), key=lambda r: r["accuracy"])
    assert "a reference that does not contain their own label" in methods
    assert f"ranged from {100 * low['accuracy']:.1f}% (n = {low['n']})" in methods
    for heading in ("## Headline measures", "## Reviewer pairs", "## Per category",
                    "## Each reviewer against the other reviewers (leave-one-out)",
                    "## Category confusion between reviewers", "## Conventions"):
        assert heading in text
    assert "Drafting \\| letters" in text  # pipes in names cannot break a table
    assert "<script>" not in text


def test_resolution_text_is_used_as_phrase_or_sentence(report: dict) -> None:
    phrase = methods_paragraph(report, "by a third reviewer blinded to the first two")
    assert phrase.endswith("Disagreements were resolved by a third reviewer blinded to the first two.")
    sentence = methods_paragraph(report, "Final labels: 40 unanimous, 20 adjudicated by a lead.")
    assert sentence.endswith("Final labels: 40 unanimous, 20 adjudicated by a lead.")
    from_report = methods_paragraph({**report, "resolution": "Final labels: none yet."})
    assert from_report.endswith("Final labels: none yet.")


def test_html_is_self_contained_escaped_and_printable(report: dict) -> None:
    page = render_agreement(report, "html", title="Agreement <b>round 1</b>")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.IGNORECASE)
    assert "<link" not in page and "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<title>Agreement &lt;b&gt;round 1&lt;/b&gt;</title>" in page
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 2
    assert "@media print" in page and "break-inside:avoid" in page
    assert f"{report['krippendorff_alpha']:.3f}" in page


def test_degenerate_report_renders_in_every_format() -> None:
    empty = agreement_report(pd.DataFrame(columns=["item", "reviewer", "category"]))
    for fmt in ("json", "csv", "md", "html"):
        assert render_agreement(empty, fmt, title="Nothing yet")
    text = render_agreement(empty, "md", title="Nothing yet")
    assert "Krippendorff's alpha could not be computed (no ratings)." in text
    assert "<img" not in render_agreement(empty, "html", title="Nothing yet")


def test_unknown_format_is_rejected(report: dict) -> None:
    with pytest.raises(ValueError, match="unknown format 'pdf'; expected one of json, csv, md, html"):
        render_agreement(report, "pdf", title="x")


def test_charts_are_deterministic_png_and_tolerate_missing_values() -> None:
    heat = confusion_heatmap_png(["a", "b $x$"], [[5, 1], [1, 3]], title="t")
    assert heat.startswith(PNG_SIGNATURE)
    assert heat == confusion_heatmap_png(["a", "b $x$"], [[5, 1], [1, 3]], title="t")
    bars = horizontal_bars_png(
        ["one", "two", "three"], [0.8, None, 0.5], lows=[0.7, None, 0.55], highs=[0.9, None, 0.6], xlim=(0, 1)
    )
    assert bars.startswith(PNG_SIGNATURE)
    assert bars != horizontal_bars_png(["one", "two", "three"], [0.8, 0.1, 0.5])


def test_img_tag_inlines_png_and_escapes_alt() -> None:
    tag = img_tag(PNG_SIGNATURE, 'a "quoted" <alt>')
    assert tag == '<img src="data:image/png;base64,iVBORw0KGgo=" alt="a &quot;quoted&quot; &lt;alt&gt;">'
