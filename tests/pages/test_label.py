"""The label page driven like a reviewer would: category button + submit, skip, resume, revisit,
closed rounds, double submits."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from annotator.data.models import Assignment, AuditEvent, Label, Round, Thread
from annotator.services import labeling
from annotator.services.codebook import category_names
from annotator.services.rounds import set_round_status
from tests.pages.conftest import click, current_thread, open_page


@pytest.fixture
def page(app, world):
    return open_page(app(world.reviewer), "label.py")


def _labels(db, reviewer_id: int) -> list[Label]:
    db.expire_all()
    return list(db.execute(select(Label).where(Label.reviewer_id == reviewer_id).order_by(Label.id)).scalars())


def _queue(db, world) -> list[str]:
    """The reviewer's queue (external ids) in position order."""
    db.expire_all()
    rid = db.execute(select(Round.id).where(Round.name == world.round_name)).scalar_one()
    return list(db.execute(select(Thread.external_id).join(Assignment, Assignment.thread_id == Thread.id)
                           .where(Assignment.round_id == rid, Assignment.reviewer_id == world.reviewer.id)
                           .order_by(Assignment.position)).scalars())


def _progress(at) -> str:
    return next(p.text for p in at.get("progress") if p.text.endswith("labeled"))


def _label(at, category_index: int = 0):
    return click(click(at, f"label.cat.{category_index}"), "label.submit")


def test_label_with_category_button_and_submit(page, db, world):
    cats = category_names(db, db.execute(select(Round.codebook_version_id)).scalar_one())
    first = current_thread(page)
    assert first == _queue(db, world)[0]
    assert _progress(page) == "0 / 6 labeled"
    at = click(page, "label.cat.1")
    assert at.button(key="label.cat.1").proto.type == "primary"  # the chosen category is highlighted
    at = click(at, "label.submit")
    assert not at.exception
    assert [s.value for s in at.success] == [f"Saved: {cats[1]}"]
    labels = _labels(db, world.reviewer.id)
    assert [(lab.category, lab.note) for lab in labels] == [(cats[1], "")]
    assert current_thread(at) == _queue(db, world)[1]
    assert _progress(at) == "1 / 6 labeled"


def test_submit_without_a_category_is_impossible(page):
    assert page.button(key="label.submit").disabled


def test_note_and_unsure_are_stored(page, db, world):
    tid = current_thread(page)
    at = click(page, "label.cat.0")
    key = next(t.key for t in at.text_input if t.key and t.key.startswith("label.note."))
    at.text_input(key=key).input("hard one")
    at = click(click(at.run(), "label.unsure_btn"), "label.submit")
    (lab,) = _labels(db, world.reviewer.id)
    assert (lab.note, lab.unsure) == ("hard one", True)
    assert db.get(Thread, lab.thread_id).external_id == tid


def test_skip_moves_the_thread_to_the_end(page, db, world):
    skipped = current_thread(page)
    at = click(page, "label.skip")
    assert current_thread(at) != skipped
    assert _queue(db, world)[-1] == skipped
    shown = []
    for _ in range(5):
        shown.append(current_thread(at))
        at = _label(at)
    assert skipped not in shown
    assert current_thread(at) == skipped  # reached last
    at = _label(at)
    assert current_thread(at) is None and _progress(at) == "6 / 6 labeled"


def test_resume_in_a_new_session_continues_at_the_first_unlabeled(page, app, db, world):
    _label(_label(page))
    expected = _queue(db, world)[2]
    fresh = open_page(app(world.reviewer), "label.py")
    assert current_thread(fresh) == expected
    assert _progress(fresh) == "2 / 6 labeled"


def test_revisit_and_change_own_label_is_audited(page, db, world):
    cats = category_names(db, db.execute(select(Round.codebook_version_id)).scalar_one())
    at = _label(page, 0)
    (lab,) = _labels(db, world.reviewer.id)
    at = click(at, f"label.revisit.{lab.thread_id}")
    assert current_thread(at) == db.get(Thread, lab.thread_id).external_id
    assert at.button(key="label.cat.0").proto.type == "primary"  # own earlier choice preselected
    at = _label(at, 2)
    assert [s.value for s in at.success] == [f"Changed to {cats[2]}"]
    (lab,) = _labels(db, world.reviewer.id)
    assert lab.category == cats[2]
    changed = db.execute(select(AuditEvent).where(AuditEvent.action == "label_changed")).scalars().all()
    assert len(changed) == 1 and changed[0].detail["to"] == cats[2] and changed[0].actor == world.reviewer.username


def test_closed_round_shows_disabled_controls(page, db, world):
    set_round_status(db, name=world.round_name, status="closed", actor="test")
    at = page.run()
    assert any("closed" in i.value for i in at.info)
    assert all(b.disabled for b in at.button if b.key and b.key.startswith("label.cat."))
    assert at.button(key="label.submit").disabled


def test_round_closed_between_render_and_submit_refuses_the_label(page, db, world):
    at = click(page, "label.cat.0")
    set_round_status(db, name=world.round_name, status="closed", actor="test")
    at = click(at, "label.submit")
    assert [e.value for e in at.error] == [f"round '{world.round_name}' is closed: labels can no longer change"]
    assert _labels(db, world.reviewer.id) == []


def test_closed_round_refuses_a_change_of_an_existing_label(page, db, world):
    at = _label(page, 0)
    (lab,) = _labels(db, world.reviewer.id)
    at = click(at, f"label.revisit.{lab.thread_id}")
    at = click(at, "label.cat.1")
    set_round_status(db, name=world.round_name, status="closed", actor="test")
    at = click(at, "label.submit")
    assert at.error and "closed" in at.error[0].value
    assert [x.category for x in _labels(db, world.reviewer.id)] == [lab.category]


def test_double_submit_keeps_one_label(page, db, world):
    """A double click sends the submit trigger twice; the second arrives before the browser shows the
    new, disabled button (emulated by clearing the rendered button's disabled flag)."""
    at = click(click(page, "label.cat.0"), "label.submit")
    second = at.button(key="label.submit")
    assert second.disabled  # what the browser shows once it has caught up
    second.proto.disabled = False
    at = second.click().run()
    assert len(_labels(db, world.reviewer.id)) == 1
    assert _progress(at) == "1 / 6 labeled"
    rid = db.execute(select(Round.id)).scalar_one()
    assert labeling.progress(db, rid, world.reviewer.id) == (1, 6)
