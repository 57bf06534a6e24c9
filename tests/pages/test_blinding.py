"""Blinding: nothing a reviewer can reach shows another reviewer's labels, notes, names or counts, a
lead's decision, or the model's output.

The round is seeded so that two other reviewers labeled every thread the reviewer has, with
distinctive notes, and a model run predicted every thread with a distinctive rationale and raw
answer. Then the reviewer opens every page of app.PAGES (pages for other roles included: opened by
URL they must refuse without leaking) and, on the label page, labels and revisits; after every run,
every string the page rendered (see ``page_texts`` in conftest) is searched for the secrets.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from annotator.data.models import Assignment, Decision, Label, ModelRun, Prediction, Round
from annotator.services.codebook import category_names
from tests.factories import make_round
from tests.pages.conftest import app_pages, click, make_user, open_page, page_text, send_actions, widget_data

OTHERS = ("zq-other-alpha", "zq-other-beta")
SECRETS = ("SECRET-NOTE", "MODEL-RATIONALE-SECRET", "MODEL-RAW-SECRET", "DECISION-RATIONALE-SECRET",
           "Zq Hidden", *OTHERS)


@pytest.fixture(params=[False, True], ids=["reviewer", "adjudicator"])
def blind_world(request, db):
    """rev1 (an adjudicator in one parametrisation) and two other reviewers who labeled everything."""
    reviewer = make_user(db, "rev1", adjudicator=request.param)
    for name in OTHERS:
        make_user(db, name, display_name=f"Zq Hidden {name}")
    make_round(db, name="blind", size=6, reviewers=("rev1", *OTHERS), per_thread=3, seed=11)
    rnd = db.execute(select(Round)).scalar_one()
    cats = category_names(db, rnd.codebook_version_id)
    rows = db.execute(select(Assignment.thread_id, Assignment.reviewer_id).where(Assignment.reviewer_id != reviewer.id)).all()
    for i, (tid, rid) in enumerate(rows):
        db.add(Label(round_id=rnd.id, thread_id=tid, reviewer_id=rid, category=cats[(i % 2) + 2],
                     codebook_version_id=rnd.codebook_version_id, note=f"SECRET-NOTE-{rid}-{tid}"))
    run = ModelRun(backend="local", model="MODEL-SECRET-NAME", codebook_version_id=rnd.codebook_version_id,
                   scope="round:blind", status="done")
    db.add(run)
    db.flush()
    thread_ids = sorted({tid for tid, _ in rows})
    for tid in thread_ids:
        db.add(Prediction(run_id=run.id, thread_id=tid, category=cats[-1], rationale="MODEL-RATIONALE-SECRET",
                          raw="MODEL-RAW-SECRET", confidence=0.987654))
    db.add(Decision(round_id=rnd.id, thread_id=thread_ids[0], status="resolved", category=cats[-1],
                    provenance="adjudicated", rationale="DECISION-RATIONALE-SECRET", decided_by="lead"))
    if request.param:  # an adjudicator gets a thread to decide: its third-review page is not empty
        db.add(Decision(round_id=rnd.id, thread_id=thread_ids[1], status="third_reviewer",
                        third_reviewer_id=reviewer.id, decided_by="lead"))
    db.commit()
    others_done = len(rows)
    return reviewer, rnd, others_done


def _assert_blind(at, *, done: int, assigned: int, others_done: int) -> None:
    assert not at.exception, at.exception
    text = page_text(at)
    leaks = [s for s in SECRETS if s.lower() in text.lower()]
    assert not leaks, f"page shows {leaks}"
    assert "0.987654" not in text and "MODEL-SECRET-NAME" not in text
    assert not at.get("metric"), "reviewers see no corpus or round metrics"
    own = (f"{done} / {assigned}", f"{done} / {assigned} labeled")
    for bar in at.get("progress"):
        numbers = re.match(r"^(\d+) / (\d+)", bar.text)
        if numbers:  # the third-review queue bar counts the reviewer's own queue, not labels
            assert bar.text in own, f"progress shows '{bar.text}', not the reviewer's own {done} / {assigned}"
    assert not re.search(rf"\b{others_done}\s*/|\b{others_done + done}\s*/", text), "round-wide counts shown"


def test_no_page_a_reviewer_can_reach_shows_others_or_the_model(app, blind_world):
    reviewer, _, others_done = blind_world
    at = app(reviewer)
    _assert_blind(at, done=0, assigned=6, others_done=others_done)
    for file, _title, _roles in app_pages():
        at = open_page(at, file)
        _assert_blind(at, done=0, assigned=6, others_done=others_done)


def test_labeling_and_revisiting_stays_blind(app, db, blind_world):
    reviewer, rnd, others_done = blind_world
    at = open_page(app(reviewer), "label.py")
    sent = []
    for n in range(1, 4):
        item = widget_data(at)["queue"][0]
        sent.append({"seq": n, "type": "label", "round_id": item["round_id"], "thread_id": item["id"],
                     "category": widget_data(at)["categories"][0]["name"]})
        at = send_actions(at, "label.widget", sent)
        _assert_blind(at, done=n, assigned=6, others_done=others_done)
        assert widget_data(at)["progress"] == {"done": n, "assigned": 6}
    tid = db.execute(select(Label.thread_id).where(Label.reviewer_id == reviewer.id)).scalars().first()
    at = click(at, f"label.revisit.{tid}")  # editing an own label shows only the own label
    _assert_blind(at, done=3, assigned=6, others_done=others_done)
    for file in ("home.py", "account.py"):
        _assert_blind(open_page(at, file), done=3, assigned=6, others_done=others_done)


def test_the_secrets_are_reachable_for_a_lead(app, db, blind_world):
    """Control: the same seeded data does show up for a lead, so its absence above means blinding."""
    lead = make_user(db, "lead1", "lead")
    text = page_text(open_page(app(lead), "rounds.py"))
    assert all(name in text for name in OTHERS)


def test_page_text_sees_every_kind_of_element():
    """The collector finds strings in markdown, HTML, captions, expander labels, widget options and
    placeholders, metrics, progress texts, dataframe cells and the sidebar."""
    from streamlit.testing.v1 import AppTest

    from tests.pages.conftest import page_texts

    def script():
        import pandas as pd
        import streamlit as st

        st.markdown("S-markdown")
        st.html("<b>S-html</b>")
        st.caption("S-caption")
        with st.expander("S-expander"):
            st.write("inside")
        st.selectbox("pick", ["S-option"], placeholder="S-placeholder")
        st.metric("m", "S-metric")
        st.progress(0.5, text="S-progress")
        st.dataframe(pd.DataFrame({"c": ["S-cell"]}))
        st.sidebar.write("S-sidebar")
        st.button("b", help="S-help")

    text = "\n".join(page_texts(AppTest.from_function(script).run()))
    for s in ("markdown", "html", "caption", "expander", "option", "metric", "progress", "cell", "sidebar", "help"):
        assert f"S-{s}" in text, s
