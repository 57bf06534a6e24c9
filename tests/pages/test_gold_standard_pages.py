"""The gold standard through the pages, in the order of real work (AppTest): with two threads of the
round still pending, the Model page, the Agreement page and the dashboard's corrected share say so
calmly instead of showing numbers (or show them on request, with the caution first); the lead
downloads the consensus sheet and imports the meeting's decisions on the Adjudicate page; then the
figures appear, out of fold, with the model compared to the reviewers as one of them."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select

from annotator.data.models import Account, Decision, Round, Thread
from annotator.services.classify import classify_local
from annotator.services.labeling import submit_label
from tests.pages.conftest import click, open_page, page_text, submit_form

PLAN = [  # labels by thread position (external ids sorted): rev1, rev2, rev3
    ("Research", "Research", "Research"),
    ("Research", "Research", "Coding"),  # pending: disagreement
    ("Research", "Coding", "Other"),  # pending: disagreement
    ("Coding", "Coding", "Coding"),
    ("Coding", "Coding", "Coding"),
    ("Research", "Research", "Research"),
]
REVIEWERS = ("rev1", "rev2", "rev3")


@pytest.fixture
def labelled(db, world, app_db):
    rid = db.execute(select(Round.id).where(Round.name == world.round_name)).scalar_one()
    ext = sorted(db.execute(select(Thread.external_id)).scalars())
    tid = dict(db.execute(select(Thread.external_id, Thread.id)).all())
    ids = dict(db.execute(select(Account.username, Account.id)).all())
    for i, cats in enumerate(PLAN):
        for reviewer, cat in zip(REVIEWERS, cats):
            submit_label(db, round_id=rid, thread_id=tid[ext[i]], reviewer_id=ids[reviewer], category=cat,
                         actor=reviewer)
    run = classify_local(app_db, actor="lead1")  # over all threads, trained on the four decided ones
    return {"rid": rid, "ext": ext, "tid": tid, "run": run.run_id}


def compare(at, *, allow_pending: bool = False):
    if allow_pending:
        at.checkbox(key="model.allow_pending").check()
    return click(at, "model.compare")


def test_pending_threads_are_said_first_then_settled_on_the_adjudicate_page(app, world, labelled, db):
    # -- before adjudication -------------------------------------------------------------------------------
    at = compare(open_page(app(world.lead), "model.py"))
    assert not at.exception, at.exception
    (warning,) = [w.value for w in at.warning]
    assert warning.startswith("Not scored yet: round 'r1': 2 of 6 sampled threads are still pending.")
    assert "Adjudicate page" in warning and not at.metric
    at = compare(at, allow_pending=True)
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Compared / failed"] == "4 / 0"
    assert any(w.value.startswith("Caution: 2 sampled thread(s) of the round still await a decision")
               for w in at.warning)

    at = open_page(app(world.lead), "dashboard.py")
    assert not at.exception, at.exception
    assert any(w.value.startswith("No corrected share yet: round 'r1': 2 of 6 sampled threads pending")
               for w in at.warning)
    at.checkbox(key="dash.prev_allow_pending").check()
    at = at.run()
    assert any(w.value.startswith("Caution: 2 sampled thread(s) still await a decision") for w in at.warning)
    assert "decided threads only, 2 pending left out: not a random sample" in page_text(at)

    at = open_page(app(world.lead), "agreement.py")
    at = submit_form(at, "Compute")
    assert not at.exception, at.exception
    assert any("2 of 6 threads await adjudication" in w.value for w in at.warning)

    # -- the consensus meeting on the Adjudicate page ---------------------------------------------------------
    at = open_page(app(world.lead), "adjudicate.py")
    assert not at.exception, at.exception
    assert "Download consensus CSV" in [d.label for d in at.get("download_button")]
    assert "6 sampled threads: 4 decided (4 unanimous), 2 pending (2 disagreement)." in page_text(at)
    sheet = pd.DataFrame({"thread_id": [labelled["ext"][1], labelled["ext"][2]], "category": ["Research", "coding"],
                          "rationale": ["agreed", ""], "decided_by": ["panel", "panel"]}).to_csv(index=False)
    at.file_uploader(key="adj.import_file").set_value(("meeting.csv", sheet.encode(), "text/csv"))
    at = at.run()
    at = click(at, "adj.import")
    assert not at.exception, at.exception
    assert "2 decisions recorded, 0 unchanged, 0 rows left pending; 0 threads still pending." in \
        [s.value for s in at.success]
    db.expire_all()
    decided = db.execute(select(Decision.thread_id, Decision.category, Decision.decided_by)).all()
    assert sorted(decided) == sorted([(labelled["tid"][labelled["ext"][1]], "Research", "panel"),
                                      (labelled["tid"][labelled["ext"][2]], "Coding", "panel")])

    # -- after adjudication -------------------------------------------------------------------------------
    at = compare(open_page(app(world.lead), "model.py"))
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Compared / failed"] == "6 / 0"
    assert not any(w.value.startswith("Caution") for w in at.warning)
    assert any("out-of-fold prediction" in w.value for w in at.warning)  # the training overlap is said plainly
    assert "6 sampled threads: 6 decided (4 unanimous, 2 adjudicated by a lead)." in page_text(at)


def test_a_bad_decisions_sheet_is_one_calm_line_and_writes_nothing(app, world, labelled, db):
    at = open_page(app(world.lead), "adjudicate.py")
    sheet = "thread_id,category\nnot-a-thread,Research\n"
    at.file_uploader(key="adj.import_file").set_value(("bad.csv", sheet.encode(), "text/csv"))
    at = click(at.run(), "adj.import")
    assert not at.exception, at.exception
    (error,) = [e.value for e in at.error]
    assert error.startswith("bad.csv, row 2, field 'thread_id': thread 'not-a-thread' is not a sampled thread")
    db.expire_all()
    assert db.execute(select(Decision.id)).first() is None
