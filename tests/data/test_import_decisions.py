"""`annotator import-decisions` (SQLite and PostgreSQL): a consensus meeting's sheet records lead
decisions for pending threads with the validation, audit trail and all-or-nothing behaviour of
import-labels, and `export consensus` writes what it reads back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from sqlmodel import Session

from annotator.data.models import AuditEvent, Decision
from annotator.services.consensus import read_consensus
from tests.factories import dump_tables, make_codebook, make_threads, run_cli

REVIEWERS = ("ann", "ben", "cas")
LABELS = {  # thread index -> three labels
    0: ("A", "A", "A"),
    1: ("A", "B", "A"),
    2: ("B", "B", "C"),
    3: ("C", "A", "B"),
    4: ("C", "C", "C"),
}


@pytest.fixture
def study(db_url, engine, tmp_path) -> list[str]:
    with Session(engine) as s:
        make_codebook(s, ["A", "B", "C", "Other"])
        ext = [t.external_id for t in make_threads(s, 6, seed=12)]  # the sixth thread is in no round
    path = tmp_path / "labels.csv"
    pd.DataFrame([(ext[i], r, c) for i, cats in LABELS.items() for r, c in zip(REVIEWERS, cats)],
                 columns=["thread_id", "reviewer", "category"]).to_csv(path, index=False)
    assert run_cli(["import-labels", path, "--round", "meeting"], db_url).exit_code == 0
    return ext


def write(tmp_path: Path, rows: list[tuple], columns=("thread_id", "category", "rationale", "decided_by")) -> Path:
    path = tmp_path / "decisions.csv"
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False)
    return path


def test_export_fill_in_import_round_trip(study, db_url, engine, tmp_path):
    out = tmp_path / "consensus.csv"
    res = run_cli(["export", "consensus", "--round", "meeting", "--out", out], db_url)
    assert res.exit_code == 0 and res.stdout.strip() == f"wrote 5 threads to {out} (2 decided, 3 pending)"
    sheet = pd.read_csv(out, dtype=str, keep_default_na=False)
    # unchanged, the export reads back: decided rows repeat their decision, pending rows are left blank
    res = run_cli(["import-decisions", out, "--round", "meeting"], db_url)
    assert res.exit_code == 0, res.stderr
    assert res.stdout.strip() == ("round 'meeting': 0 decisions recorded, 2 unchanged, 3 rows without a category "
                                  "left pending; 3 threads still pending")
    sheet.loc[sheet["thread_id"] == study[1], ["category", "rationale", "decided_by"]] = ["a", "", "panel"]
    sheet.loc[sheet["thread_id"] == study[3], ["category", "rationale", "decided_by"]] = ["C", "mostly C", ""]
    sheet.to_csv(out, index=False)

    res = run_cli(["import-decisions", out, "--round", "meeting"], db_url)

    assert res.exit_code == 0, res.stderr
    assert res.stdout.strip() == ("round 'meeting': 2 decisions recorded, 2 unchanged, 1 rows without a category "
                                  "left pending; 1 threads still pending")
    with Session(engine) as s:
        rows = {r.external_id: r for r in read_consensus(s, ["meeting"]).rows}
        events = s.execute(select(AuditEvent).where(AuditEvent.action.in_(["adjudicate", "import_decisions"]))
                           .order_by(AuditEvent.id)).scalars().all()
    assert (rows[study[1]].category, rows[study[1]].method, rows[study[1]].decided_by) == ("A", "adjudicated", "panel")
    assert rows[study[1]].rationale == "decided at a consensus meeting (imported from consensus.csv)"
    assert (rows[study[3]].category, rows[study[3]].decided_by, rows[study[3]].rationale) == ("C", "cli", "mostly C")
    assert rows[study[2]].reasons == ("disagreement",)
    assert [e.action for e in events] == ["import_decisions", "adjudicate", "adjudicate", "import_decisions"]
    assert events[1].detail["source"] == "consensus.csv" and events[1].detail["after"]["category"] == "A"
    assert events[-1].detail == {"file": "consensus.csv", "recorded": 2, "unchanged": 2, "blank": 1}
    before = dump_tables(engine)
    again = run_cli(["import-decisions", out, "--round", "meeting"], db_url)
    assert again.exit_code == 0 and "0 decisions recorded, 4 unchanged" in again.stdout
    assert {k: v for k, v in dump_tables(engine).items() if k != "auditevent"} == \
        {k: v for k, v in before.items() if k != "auditevent"}


@pytest.mark.parametrize("rows, message", [
    ([("nope", "A", "", "")], "decisions.csv, row 3, field 'thread_id': thread 'nope' is not a sampled thread of "
                              "round 'meeting'"),
    ([(5, "A", "", "")], "row 3, field 'thread_id': thread '{5}' is not a sampled thread of round 'meeting'"),
    ([(1, "Astrology", "", "")], "decisions.csv, row 3, field 'category': unknown category 'Astrology'; the round's "
                                 "codebook has: A, B, C, Other"),
    ([(1, "A", "", ""), (0, "B", "", "")], "decisions.csv, row 4, field 'category': thread '{0}' is already decided "
                                           "as 'A' (unanimous); change it on the Adjudicate page"),
    ([(1, "A", "", ""), (1, "B", "", "")], "decisions.csv, row 4, field 'thread_id': thread '{1}' is listed twice "
                                           "(first at row 3)"),
    ([(1, "A", "", "x" * 101)], "decisions.csv, row 3, field 'decided_by': at most 100 characters"),
])
def test_a_bad_row_is_named_and_nothing_is_written(study, db_url, engine, tmp_path, rows, message):
    rows = [(study[t] if isinstance(t, int) else t, *rest) for t, *rest in rows]
    path = write(tmp_path, [(study[2], "B", "", "")] + rows)  # a good row first (row 2): it must not be written either
    before = dump_tables(engine)

    res = run_cli(["import-decisions", path, "--round", "meeting"], db_url)

    assert res.exit_code == 1 and res.stdout == ""
    first = res.stderr.strip().splitlines()[0]
    assert first.startswith("error: ") and message.format(*study) in first, first
    assert first.endswith("nothing was imported. Fix the file and import it again.")
    assert dump_tables(engine) == before


def test_a_row_of_another_round_and_missing_columns_are_refused(study, db_url, engine, tmp_path):
    before = dump_tables(engine)
    path = write(tmp_path, [("other", study[1], "A")], columns=("round", "thread_id", "category"))
    res = run_cli(["import-decisions", path, "--round", "meeting"], db_url)
    assert res.exit_code == 1 and "row 2, field 'round': this row is for round 'other', not 'meeting'" in res.stderr
    path = write(tmp_path, [(study[1],)], columns=("thread_id",))
    res = run_cli(["import-decisions", path, "--round", "meeting"], db_url)
    assert res.exit_code == 1 and res.stderr.strip() == (
        "error: decisions.csv: missing column(s) category; the header must include thread_id, category")
    res = run_cli(["import-decisions", tmp_path / "absent.csv", "--round", "meeting"], db_url)
    assert res.exit_code == 1 and "absent.csv: no such file" in res.stderr
    res = run_cli(["import-decisions", path, "--round", "nope"], db_url)
    assert res.exit_code == 1 and "no round named 'nope'" in res.stderr
    assert dump_tables(engine) == before


def test_a_meeting_decision_settles_a_thread_sent_to_a_third_reviewer(study, db_url, engine, tmp_path):
    from annotator.services import adjudication as adj
    from annotator.services.accounts import create_account

    with Session(engine) as s:
        create_account(s, username="judge", is_adjudicator=True, actor="test")
        rows = {r.external_id: r for r in read_consensus(s, ["meeting"]).rows}
        adj.send_to_third_reviewer(s, round_id=rows[study[3]].round_id, thread_id=rows[study[3]].thread_id,
                                   adjudicator="judge", actor="lead")
    res = run_cli(["import-decisions", write(tmp_path, [(study[3], "b", "agreed", "lee")]), "--round", "meeting"],
                  db_url)
    assert res.exit_code == 0, res.stderr
    with Session(engine) as s:
        d = s.execute(select(Decision).where(Decision.thread_id == rows[study[3]].thread_id)).scalars().one()
        assert adj.third_review_queue(s, s.execute(select(Decision.third_reviewer_id)).scalar() or -1) == []
    assert (d.status, d.category, d.provenance, d.decided_by, d.third_reviewer_id) == (
        "resolved", "B", "adjudicated", "lee", None)
