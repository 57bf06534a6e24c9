"""The adjudicate, third review and agreement pages driven like a lead and an adjudicator would."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from annotator.data.models import Account, AuditEvent, Decision, Round, Thread
from annotator.services import adjudication as adj
from annotator.services.consensus import read_consensus
from annotator.services.labeling import submit_label
from tests.pages.conftest import main_elements, make_user, open_page, page_text, send_actions, submit_form, widget_data

# Labels by thread position (external ids sorted): rev1, rev2, rev3.
PLAN = [
    ("Research", "Research", "Research"),
    ("Research", "Research", "Coding"),  # two to one
    ("Research", "Coding", "Other"),     # all differ: first in the queue
    ("Coding", "Coding", "Coding"),
    ("Other", "Other", "Other"),
    ("Research", "Research", "Research"),
]
REVIEWERS = ("rev1", "rev2", "rev3")


@pytest.fixture
def labeled(db, world):
    """The world's round r1 labeled as in PLAN, and an adjudicator account who does not label in it."""
    rid = db.execute(select(Round.id).where(Round.name == world.round_name)).scalar_one()
    ext = sorted(db.execute(select(Thread.external_id)).scalars())
    tid = dict(db.execute(select(Thread.external_id, Thread.id)).all())
    ids = dict(db.execute(select(Account.username, Account.id)).all())
    for i, cats in enumerate(PLAN):
        for reviewer, cat in zip(REVIEWERS, cats):
            submit_label(db, round_id=rid, thread_id=tid[ext[i]], reviewer_id=ids[reviewer], category=cat,
                         actor=reviewer)
    judge = make_user(db, "judge", adjudicator=True)
    return {"rid": rid, "ext": ext, "tid": tid, "judge": judge}


def decision(db, rid: int, tid: int) -> Decision | None:
    db.expire_all()
    return adj.get_decision(db, rid, tid)


def audit(db, action: str) -> list[AuditEvent]:
    db.expire_all()
    return list(db.execute(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).scalars())


def record_final(at, rid: int, tid: int, category: str, rationale: str):
    radio = at.radio(key=f"adj.final.{rid}.{tid}")
    assert radio.value is None and radio.index is None  # nothing pre-selected: the lead is not nudged
    radio.set_value(category)
    at.text_area(key=f"adj.rationale.{rid}.{tid}").input(rationale)
    return submit_form(at, "Record final label")


def test_lead_resolves_the_most_split_disagreement(app, world, labeled, db):
    rid, ext, tid = labeled["rid"], labeled["ext"], labeled["tid"]
    at = open_page(app(world.lead), "adjudicate.py")
    assert not at.exception, at.exception
    assert at.selectbox(key="adj.thread").value == tid[ext[2]]  # most split first
    assert [m.value for m in at.metric][:1] == ["2"]  # open items
    text = page_text(at)
    assert all(name in text for name in REVIEWERS)  # leads see who said what
    at = record_final(at, rid, tid[ext[2]], "Coding", "Asks for billing codes.")
    assert not at.exception, at.exception
    assert "Final label recorded: Coding" in [s.value for s in at.success]
    d = decision(db, rid, tid[ext[2]])
    assert (d.status, d.category, d.provenance, d.decided_by, d.rationale) == (
        "resolved", "Coding", "adjudicated", "lead1", "Asks for billing codes.")
    [event] = audit(db, "adjudicate")
    assert event.actor == "lead1" and event.detail["after"]["category"] == "Coding"
    assert at.selectbox(key="adj.thread").value == tid[ext[1]]  # the next open item


def test_submitting_without_choosing_a_label_records_nothing(app, world, labeled, db):
    rid, tid = labeled["rid"], labeled["tid"][labeled["ext"][2]]
    at = open_page(app(world.lead), "adjudicate.py")
    at.text_area(key=f"adj.rationale.{rid}.{tid}").input("no label chosen")
    at = submit_form(at, "Record final label")
    assert "Choose the final label first." in [w.value for w in at.warning]
    assert decision(db, rid, tid) is None


def test_lead_revises_a_decision_and_the_audit_log_keeps_both(app, world, labeled, db):
    rid, tid = labeled["rid"], labeled["tid"][labeled["ext"][1]]
    at = open_page(app(world.lead), "adjudicate.py")
    at.selectbox(key="adj.thread").set_value(tid).run()
    at = record_final(at, rid, tid, "Research", "Mostly a literature question.")
    at = at.radio(key="adj.show").set_value("resolved").run()
    assert at.selectbox(key="adj.thread").value == tid
    assert any("Current decision: **Research**" in i.value for i in at.info)
    at = record_final(at, rid, tid, "Coding", "On reflection, it asks for codes.")
    assert not at.exception, at.exception
    d = decision(db, rid, tid)
    assert (d.category, d.provenance, d.rationale) == ("Coding", "adjudicated", "On reflection, it asks for codes.")
    first, second = audit(db, "adjudicate")
    assert first.detail["after"]["category"] == "Research"
    assert second.detail["before"]["category"] == "Research" and second.detail["after"]["category"] == "Coding"


def test_lead_sends_to_the_third_reviewer_who_decides_blind(app, world, labeled, db):
    rid, ext, tid = labeled["rid"], labeled["ext"], labeled["tid"]
    at = open_page(app(world.lead), "adjudicate.py")
    at.selectbox(key=f"adj.who.{tid[ext[2]]}").select("judge")
    at = at.button(key=f"adj.send.{tid[ext[2]]}").click().run()
    assert not at.exception, at.exception
    assert "Sent to judge" in [s.value for s in at.success]
    d = decision(db, rid, tid[ext[2]])
    assert (d.status, d.third_reviewer_id, d.category) == ("third_reviewer", labeled["judge"].id, None)
    assert [e.actor for e in audit(db, "send_to_third_reviewer")] == ["lead1"]

    third = open_page(app(labeled["judge"]), "third_review.py")
    assert not third.exception, third.exception
    text = page_text(third)
    data = widget_data(third)
    assert data["mode"] == "decide" and data["progress"] == {"waiting": 1}
    [item] = data["queue"]
    assert (item["ext"], item["caption"]) == (ext[2], "round r1 · the reviewers' choices are marked •")
    assert sorted(item["options"]) == ["Coding", "Other", "Research"]  # the competing categories, shuffled
    assert [c["key"] for c in data["categories"]][:3] == ["1", "2", "3"]  # the keys the buttons show
    assert not any(name in text for name in REVIEWERS)  # no reviewer names, no counts
    assert "Display rev" not in text and item["mine"] is None
    third = send_actions(third, "third.widget", [{"seq": 1, "type": "decide", "round_id": item["round_id"],
                                                  "thread_id": item["id"], "category": "Other",
                                                  "note": "Not a research question."}])
    assert not third.exception, third.exception
    data = widget_data(third)
    assert data["notices"][-1]["text"] == "Recorded: Other"
    assert data["queue"] == [] and data["message"] == "Nothing is waiting for you."
    d = decision(db, rid, tid[ext[2]])
    assert (d.status, d.category, d.provenance, d.decided_by) == ("resolved", "Other", "third_reviewer", "judge")
    assert d.rationale == "Not a research question."
    assert [e.actor for e in audit(db, "third_reviewer_decision")] == ["judge"]
    row = read_consensus(db, ["r1"]).frame().set_index("thread_id").loc[ext[2]]
    assert (row["category"], row["method"], row["status"]) == ("Other", "third_reviewer", "decided")


def test_third_review_page_refuses_a_non_adjudicator(app, world, labeled):
    at = open_page(app(world.reviewer), "third_review.py")
    assert [e.value for e in at.error] == ["Not allowed: this page is for adjudicator accounts."]


@pytest.mark.parametrize("file", ["adjudicate.py", "agreement.py"])
def test_a_reviewer_is_not_allowed_on_lead_pages(app, world, labeled, file):
    at = open_page(app(world.reviewer), file)
    shown = main_elements(at)
    assert len(shown) == 1 and shown[0].type == "error" and shown[0].value.startswith("Not allowed")
    assert "rev2" not in page_text(at) and "Research" not in page_text(at)


def test_agreement_page_computes_and_offers_downloads_for_a_lead(app, world, labeled):
    at = open_page(app(world.lead), "agreement.py")
    assert at.multiselect[0].value == ["r1"]
    at.number_input[0].set_value(100)
    at = submit_form(at, "Compute")
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert set(metrics) == {"Krippendorff's α", "Fleiss' κ", "Gwet's AC1", "PABAK", "Agreement"}
    assert float(metrics["Krippendorff's α"]) == pytest.approx(_expected_alpha(), abs=5e-4)
    downloads = at.get("download_button")
    assert len(downloads) == 4
    text = page_text(at)
    for f in ("HTML", "MD", "JSON", "CSV"):
        assert f"Download {f}" in text
    assert "6 threads · 3 reviewers · 18 ratings" in text


def _expected_alpha() -> float:
    """Nominal alpha of PLAN computed independently with the krippendorff package."""
    import krippendorff
    import numpy as np

    cats = sorted({c for row in PLAN for c in row})
    data = np.array([[cats.index(row[r]) for row in PLAN] for r in range(3)], dtype=float)
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
