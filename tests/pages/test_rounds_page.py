"""The Rounds page: create a round through the form, close and reopen it, export its labels."""

from __future__ import annotations

import io

import pandas as pd
from sqlalchemy import func, select

from annotator.data.models import Assignment, Label, Round
from annotator.services import admin
from annotator.services.rounds import get_round
from tests.pages.conftest import click, open_page, page_text, submit_form


def _rounds(db):
    db.expire_all()
    return {r.name: r for r in db.execute(select(Round)).scalars()}


def test_create_a_round_through_the_form(app, db, world):
    at = open_page(app(world.lead), "rounds.py")
    seed = at.number_input(key="rounds.seed").value
    assert isinstance(seed, int) and seed >= 0  # a random default, shown and editable
    at.text_input(key="rounds.name").input("round-2")
    at.number_input(key="rounds.size").set_value(4)
    at.number_input(key="rounds.k").set_value(2)
    at.number_input(key="rounds.seed").set_value(1234)
    at.multiselect(key="rounds.reviewers").set_value(["rev2", "rev3"])
    at.selectbox(key="rounds.rule").set_value("majority")
    at.checkbox(key="rounds.exclude").uncheck()
    at.checkbox(key="rounds.reveal").check()
    at = submit_form(at, "Create round")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [s.value for s in at.success] == ["Round 'round-2': 4 threads, 8 assignments."]
    rnd = _rounds(db)["round-2"]
    assert (rnd.seed, rnd.per_thread, rnd.acceptance_rule, rnd.reveal_enabled, rnd.created_by) == \
        (1234, 2, "majority", True, world.lead.username)
    n = db.execute(select(func.count()).select_from(Assignment).where(Assignment.round_id == rnd.id)).scalar_one()
    assert n == 8
    assert at.number_input(key="rounds.seed").value != 1234  # a new random default for the next round (p = 2^-31)
    assert "round-2" in page_text(at)


def test_bad_round_input_is_one_error_line(app, db, world):
    at = open_page(app(world.lead), "rounds.py")
    at.text_input(key="rounds.name").input(world.round_name)  # already exists
    at.multiselect(key="rounds.reviewers").set_value(["rev2"])
    at.number_input(key="rounds.k").set_value(1)
    at = submit_form(at, "Create round")
    assert [e.value for e in at.error] == [f"round '{world.round_name}' already exists; choose another name"]
    assert set(_rounds(db)) == {world.round_name}


def test_close_and_reopen(app, db, world):
    at = open_page(app(world.lead), "rounds.py")
    at = click(at, "rounds.close")
    assert _rounds(db)[world.round_name].status == "closed"
    assert [s.value for s in at.success] == [f"Round '{world.round_name}' is closed."]
    at = click(at, "rounds.reopen")
    assert _rounds(db)[world.round_name].status == "open"
    assert at.button(key="rounds.close")


def test_progress_per_reviewer_is_shown(app, db, world):
    rnd = get_round(db, world.round_name)
    tid = db.execute(select(Assignment.thread_id).where(Assignment.reviewer_id == world.reviewer.id)).scalars().first()
    db.add(Label(round_id=rnd.id, thread_id=tid, reviewer_id=world.reviewer.id, category="Other",
                 codebook_version_id=rnd.codebook_version_id))
    db.commit()
    at = open_page(app(world.lead), "rounds.py")
    bars = [p.text for p in at.get("progress")]
    assert bars == ["1 / 18 labels", "rev1: 1 / 6", "rev2: 0 / 6", "rev3: 0 / 6"]
    table = at.dataframe[0].value
    assert table.loc[0, "labels"] == "1 / 18" and "rev1 1/6" in table.loc[0, "reviewers"]


def test_export_downloads_are_offered_and_hold_the_labels(app, db, world):
    rnd = get_round(db, world.round_name)
    tid = db.execute(select(Assignment.thread_id).where(Assignment.reviewer_id == world.reviewer.id)).scalars().first()
    db.add(Label(round_id=rnd.id, thread_id=tid, reviewer_id=world.reviewer.id, category="Research", note="n1",
                 codebook_version_id=rnd.codebook_version_id))
    db.commit()
    at = open_page(app(world.lead), "rounds.py")
    assert [d.key for d in at.download_button] == ["rounds.export.csv", "rounds.export.jsonl", "rounds.export.parquet"]
    # AppTest does not run a download's data callable; the callable calls this service function.
    csv = pd.read_csv(io.BytesIO(admin.export_labels_bytes(db, world.round_name, "csv")))
    parquet = pd.read_parquet(io.BytesIO(admin.export_labels_bytes(db, world.round_name, "parquet")))
    jsonl = pd.read_json(io.BytesIO(admin.export_labels_bytes(db, world.round_name, "jsonl")), lines=True)
    for df in (csv, parquet, jsonl):
        assert list(df[["round", "reviewer", "category"]].itertuples(index=False, name=None)) == \
            [(world.round_name, "rev1", "Research")]


def test_without_rounds_the_form_is_open(app, db):
    from tests.factories import make_codebook
    from tests.pages.conftest import make_user

    lead = make_user(db, "lead1", "lead")
    make_codebook(db)
    at = open_page(app(lead), "rounds.py")
    assert any(i.value.startswith("No rounds yet") for i in at.info)
    assert at.expander[0].proto.expanded
