"""Agreement reports through the command line: published worked values reproduced end to end
(codebook -> threads -> import-labels -> report agreement), degenerate rounds, and the demo pilot
round resolved in full and reported as a self-contained HTML file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from sqlmodel import Session

from annotator.data.engine import ensure_schema, make_engine
from annotator.services import adjudication as adj
from annotator.services.consensus import read_consensus
from annotator.services.demo import PILOT_REVIEWERS, PILOT_ROUND, load_demo
from annotator.services.rounds import require_round
from tests.factories import run_cli, thread_frame, write_threads_file
from tests.published import FLEISS_WIKIPEDIA, KRIPPENDORFF_2011

_ = None


# Wikipedia, "Cohen's kappa": 50 proposals, rows A's answer, columns B's: kappa = 0.4.
COHEN_WIKIPEDIA = {("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15}


def ok(result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stdout}{result.stderr}"
    return result.stdout


def load_study(db_url: str, tmp_path: Path, categories: list[str], labels: list[tuple[str, str, str]],
               *, round_name: str = "study") -> None:
    """Through the CLI: a codebook with these categories, one thread per labeled id, the long labels CSV."""
    codebook = tmp_path / "codebook.json"  # JSON, so names like "1" or "no" stay strings
    codebook.write_text(json.dumps({"name": "published", "categories": [{"name": c} for c in categories]}),
                        encoding="utf-8")
    ok(run_cli(["import-codebook", codebook], db_url))
    ids = sorted({t for t, _, _ in labels})
    ok(run_cli(["import-threads", write_threads_file(tmp_path / "threads.csv", thread_frame(len(ids), seed=1,
                                                                                         thread_id=ids))], db_url))
    path = tmp_path / "labels.csv"
    pd.DataFrame(labels, columns=["thread_id", "reviewer", "category"]).to_csv(path, index=False)
    ok(run_cli(["import-labels", path, "--round", round_name], db_url))


def agreement_json(db_url: str, *rounds: str, boot: int = 200) -> dict:
    args = ["report", "agreement", "--format", "json", "--boot", boot, "--seed", 5]
    for r in rounds:
        args += ["--round", r]
    return json.loads(ok(run_cli(args, db_url)))


# --------------------------------------------------------------------------- #
# Published values, end to end
# --------------------------------------------------------------------------- #
def test_krippendorff_2011_worked_example_gives_alpha_0_743(db_url, tmp_path):
    labels = [(f"u{u:02d}", coder, str(v)) for coder, values in KRIPPENDORFF_2011.items()
              for u, v in enumerate(values, 1) if v is not None]
    load_study(db_url, tmp_path, ["1", "2", "3", "4", "5"], labels)
    rep = agreement_json(db_url, "study")
    assert round(rep["krippendorff_alpha"], 3) == 0.743
    assert (rep["n_items"], rep["n_items_pairable"], rep["n_reviewers"], rep["n_ratings"]) == (12, 11, 4, 41)
    lo, hi = rep["krippendorff_alpha_ci95"]
    assert lo < rep["krippendorff_alpha"] < hi
    assert rep["rounds"] == ["study"] and rep["n_boot"] == 200 and rep["seed"] == 5
    # four labels alike on u3, u4, u5, u7, u9; every other unit disagrees or lacks a label (u12 has one of
    # four: not pairable, and pending rather than "unanimous")
    assert rep["consensus_provenance"] == {"unanimous": 5} and rep["consensus_pending"] == 7


def test_fleiss_wikipedia_worked_example_gives_kappa_0_210(db_url, tmp_path):
    labels = []
    for u, row in enumerate(FLEISS_WIKIPEDIA):
        raters = iter(f"rater{r:02d}" for r in range(14))
        labels += [(f"subject{u:02d}", next(raters), str(c + 1)) for c, n in enumerate(row) for _ in range(n)]
    load_study(db_url, tmp_path, ["1", "2", "3", "4", "5"], labels)
    rep = agreement_json(db_url, "study", boot=0)
    assert round(rep["fleiss_kappa"], 3) == 0.210
    assert (rep["fleiss_n_items"], rep["fleiss_complete_case_ratings_per_item"], rep["n_reviewers"]) == (10, 14, 14)
    assert rep["fleiss_kappa_complete_case"] == pytest.approx(rep["fleiss_kappa"])  # complete data: one kappa
    assert rep["krippendorff_alpha_ci95"] == [None, None]
    assert rep["undefined"]["krippendorff_alpha_ci95"] == "no bootstrap resamples requested (n_boot = 0)"


def test_cohen_wikipedia_example_gives_pairwise_kappa_0_4(db_url, tmp_path):
    labels, i = [], 0
    for (a, b), n in COHEN_WIKIPEDIA.items():
        for _ in range(n):
            labels += [(f"p{i:02d}", "rater_a", a), (f"p{i:02d}", "rater_b", b)]
            i += 1
    load_study(db_url, tmp_path, ["yes", "no"], labels)
    rep = agreement_json(db_url, "study")
    [pair] = rep["pairwise_cohen_kappa"]
    assert (pair["reviewer_a"], pair["reviewer_b"], pair["n"]) == ("rater_a", "rater_b", 50)
    assert round(pair["kappa"], 3) == 0.4
    assert round(pair["percent_agreement"], 3) == 0.7
    assert round(rep["pabak"], 3) == 0.4  # two raters: 2 p_o - 1
    assert set(rep["per_category"]) == {"yes", "no"}


# --------------------------------------------------------------------------- #
# Degenerate rounds: no crash, None with a reason
# --------------------------------------------------------------------------- #
def test_one_category_only_gives_null_alpha_with_a_reason(db_url, tmp_path):
    labels = [(f"t{i}", r, "A") for i in range(4) for r in ("ann", "ben", "cas")]
    load_study(db_url, tmp_path, ["A", "B"], labels)
    rep = agreement_json(db_url, "study")
    assert rep["krippendorff_alpha"] is None
    assert "only one category" in rep["undefined"]["krippendorff_alpha"]
    assert rep["percent_agreement"] == 1.0
    for key in ("fleiss_kappa", "gwet_ac1_observed_q", "pabak_observed_q"):
        assert rep[key] is None and "one category" in rep["undefined"][key], key
    # with q = the codebook's 2 categories, AC1 and PABAK are defined (Gwet's convention): 1
    assert rep["gwet_ac1"] == rep["pabak"] == 1.0
    assert "at least 10" in rep["undefined"]["gwet_ac1_ci95"]  # 4 threads: no interval
    assert rep["consensus_provenance"] == {"unanimous": 4} and rep["consensus_pending"] == 0


def test_one_reviewer_is_refused_in_one_line_and_can_be_left_out(db_url, tmp_path):
    load_study(db_url, tmp_path, ["A", "B"], [("t0", "solo", "A"), ("t1", "solo", "B")])
    res = run_cli(["report", "agreement", "--round", "study", "--format", "json"], db_url)
    assert res.exit_code == 1 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [
        "error: reviewer 'solo' shares fewer than 2 threads with any other reviewer (0), so no agreement can be "
        "measured for them: check the name in the labels file, or leave them out with --exclude-reviewer solo"]
    rep = json.loads(ok(run_cli(["report", "agreement", "--round", "study", "--format", "json",
                                 "--exclude-reviewer", "solo"], db_url)))
    assert (rep["n_reviewers"], rep["n_ratings"], rep["excluded_reviewers"]) == (0, 0, ["solo"])
    for key in ("krippendorff_alpha", "percent_agreement", "fleiss_kappa"):
        assert rep[key] is None and rep["undefined"][key] == "no ratings", key
    res = run_cli(["report", "agreement", "--round", "study", "--exclude-reviewer", "nobody"], db_url)
    assert res.exit_code == 1 and "no reviewer 'nobody' labelled in these rounds" in res.stderr


def test_a_misspelt_reviewer_with_one_label_is_named_and_left_out_on_request(db_url, tmp_path):
    labels = [(f"t{i}", r, "AB"[i % 2]) for i in range(6) for r in ("ann", "ben")] + [("t0", "Ann ", "A")]
    load_study(db_url, tmp_path, ["A", "B"], labels)
    res = run_cli(["report", "agreement", "--round", "study", "--format", "md"], db_url)
    assert res.exit_code == 1 and "reviewer 'Ann' shares fewer than 2 threads with any other reviewer (1)" in res.stderr
    md = ok(run_cli(["report", "agreement", "--round", "study", "--format", "md", "--exclude-reviewer", "Ann"], db_url))
    assert "The labels of Ann were left out of these figures." in md


def test_thread_labeled_by_one_of_three_is_left_out_and_pending(db_url, tmp_path):
    labels = [("t0", "ann", "A"), ("t0", "ben", "A"), ("t0", "cas", "B"),
              ("t1", "ann", "B"), ("t1", "ben", "B"), ("t1", "cas", "B"),
              ("t2", "ann", "A"), ("t2", "ben", "A"), ("t2", "cas", "A"),
              ("t3", "ben", "B")]
    load_study(db_url, tmp_path, ["A", "B"], labels)
    rep = agreement_json(db_url, "study")
    assert (rep["n_items"], rep["n_items_pairable"], rep["n_ratings"]) == (4, 3, 10)
    assert rep["krippendorff_alpha"] is not None
    assert rep["consensus_provenance"] == {"unanimous": 2}
    assert rep["consensus_pending"] == 2  # t0 disagrees, t3 lacks two labels
    assert "2 of 4 threads await adjudication (1 missing labels, 1 disagreement)" in rep["resolution"]
    assert "resolved" not in rep["resolution"] and "were decided by" not in rep["resolution"]
    methods = ok(run_cli(["report", "agreement", "--round", "study", "--format", "md", "--boot", 0], db_url))
    assert "2 of 4 threads await adjudication" in methods.split("## Methods", 1)[1].split("##", 1)[0]
    assert "| study | 4 | 2 | 2 |" in methods  # the completeness table


def test_round_without_labels_reports_nulls_with_reasons(db_url, tmp_path):
    load_study(db_url, tmp_path, ["A", "B"], [("t0", "ann", "A"), ("t0", "ben", "A")])
    ok(run_cli(["sample", "--round", "empty", "--size", 1, "--reviewers", "ann,ben", "--per-thread", 2,
                "--seed", 3], db_url))
    rep = agreement_json(db_url, "empty")
    assert (rep["n_items"], rep["n_reviewers"], rep["n_ratings"]) == (0, 0, 0)
    for key in ("krippendorff_alpha", "percent_agreement", "fleiss_kappa", "gwet_ac1", "pabak"):
        assert rep[key] is None and rep["undefined"][key], key
    assert rep["undefined"]["krippendorff_alpha"] == "no ratings"
    assert rep["consensus_pending"] == 1 and rep["consensus_provenance"] == {}
    for fmt in ("csv", "md", "html"):
        text = ok(run_cli(["report", "agreement", "--round", "empty", "--format", fmt, "--boot", 0], db_url))
        assert "no ratings" in text, fmt


def test_unknown_round_is_one_line_and_exit_1(db_url):
    res = run_cli(["report", "agreement", "--round", "nope"], db_url)
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines() == ["error: no round named 'nope' (no rounds yet: create one with "
                                               "'annotator sample')"]


# --------------------------------------------------------------------------- #
# The demo pilot round, resolved in full
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def pilot(tmp_path_factory) -> tuple[str, dict]:
    """The demo database (loaded once; ~10 s) with every open pilot item resolved by a lead."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite3'}"
    engine = make_engine(url)
    ensure_schema(engine)
    try:
        load_demo(engine, password="demo-password-123")
        with Session(engine, expire_on_commit=False) as s:
            before = read_consensus(s, [PILOT_ROUND]).frame()
            items = adj.disagreement_queue(s, PILOT_ROUND)
            round_id = require_round(s, PILOT_ROUND).id
            for item in items:
                adj.resolve(s, round_id=round_id, thread_id=item.thread_id, category=item.assessment.counts[0][0],
                            rationale="most voted after review", actor="lead")
            after = read_consensus(s, [PILOT_ROUND]).frame()
            left = adj.disagreement_queue(s, PILOT_ROUND)
    finally:
        engine.dispose()
    return url, {"before": before, "after": after, "n_items": len(items), "left": left}


def test_pilot_round_can_be_resolved_completely(pilot):
    _, state = pilot
    before, after = state["before"], state["after"]
    assert len(before) == len(after) == 150
    assert state["n_items"] == int((before["status"] != "decided").sum()) > 0
    assert state["left"] == []
    assert set(after["status"]) == {"decided"}
    assert after["category"].notna().all()
    assert set(after["method"]) == {"unanimous", "adjudicated"}
    assert int((after["method"] == "adjudicated").sum()) == state["n_items"]
    assert set(after.loc[after["method"] == "adjudicated", "decided_by"]) == {"lead"}


def test_pilot_agreement_report_is_a_self_contained_html_file(pilot, tmp_path):
    url, state = pilot
    out = tmp_path / "reports" / "pilot.html"
    res = run_cli(["report", "agreement", "--round", PILOT_ROUND, "--format", "html", "--boot", 200, "--out", out], url)
    assert ok(res).strip() == f"wrote {out}"
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<script" not in page.lower()
    assert "<h2>Methods</h2>" in page
    methods = re.search(r'<p class="methods">(.*?)</p>', page, re.S).group(1)
    assert "Krippendorff&#x27;s alpha for nominal data" in methods
    assert "200 resamples, seed 0" in methods
    assert f"{state['n_items']} adjudicated by a lead" in methods
    assert "await adjudication" not in methods
    assert f"were decided by a lead ({state['n_items']} threads)" in methods
    assert "reference that does not contain their own label" in methods
    for reviewer in PILOT_REVIEWERS:
        assert reviewer in page
    rep = agreement_json(url, PILOT_ROUND, boot=0)
    assert rep["consensus_pending"] == 0
    assert rep["n_items"] == 150 and rep["completeness"] == [
        {"round": PILOT_ROUND, "n_sampled": 150, "n_decided": 150, "n_pending": 0,
         "by_method": {"unanimous": 150 - state["n_items"], "adjudicated": state["n_items"]}, "pending_by_reason": {}}]
    assert set(rep["per_reviewer_vs_others"]) == set(PILOT_REVIEWERS)
    assert all(0 < r["accuracy"] < 1 and r["n"] > 100 for r in rep["per_reviewer_vs_others"].values())
