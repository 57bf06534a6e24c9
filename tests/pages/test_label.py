"""The label page with its keyboard widget, driven like the widget's JavaScript drives it: the page sends
the widget the reviewer's queue, and stores the actions the widget reports (label, skip, undo, back)
through the labeling services, acknowledging each exactly once.

AppTest cannot run JavaScript; the real-browser journey (tests/e2e) presses the keys."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from annotator.data.models import Assignment, AuditEvent, Label, Round, Thread
from annotator.services import labeling
from annotator.services.accounts import sign_out_everywhere
from annotator.services.codebook import category_names
from annotator.services.rounds import set_round_status
from tests.factories import make_threads
from tests.pages.conftest import click, open_page, send_actions, signed_in, widget_data, widget_thread

KEY = "label.widget"


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


def _cats(db) -> list[str]:
    return category_names(db, db.execute(select(Round.codebook_version_id)).scalar_one())


def _item(at, n: int = 0) -> dict:
    return widget_data(at)["queue"][n]


def label(item: dict, seq: int, category: str, **extra) -> dict:
    return {"seq": seq, "type": "label", "round_id": item["round_id"], "thread_id": item["id"], "category": category,
            **extra}


def test_the_widget_gets_the_queue_ahead_categories_with_keys_and_own_progress(page, db, world):
    data = widget_data(page)
    assert data["mode"] == "label" and data["round"]["name"] == world.round_name and data["round"]["open"]
    assert [t["ext"] for t in data["queue"]] == _queue(db, world)[:5]  # the next five, sent ahead
    first = db.execute(select(Thread).where(Thread.external_id == data["queue"][0]["ext"])).scalar_one()
    assert data["queue"][0]["text"] == first.text  # raw text: the widget sets it as text, never as HTML
    assert [(c["name"], c["key"]) for c in data["categories"]] == list(zip(_cats(db), "1234567890"))
    assert data["progress"] == {"done": 0, "assigned": 6}
    assert data["reveal"] is None and data["queue"][0]["mine"] is None


def test_a_label_is_stored_with_note_unsure_and_seconds_and_acknowledged(page, db, world):
    cats = _cats(db)
    first = _item(page)
    at = send_actions(page, KEY, [label(first, 1, cats[1], unsure=True, note="hard one", seconds=7.25)])
    assert not at.exception
    (lab,) = _labels(db, world.reviewer.id)
    assert (lab.category, lab.unsure, lab.note, lab.seconds_spent) == (cats[1], True, "hard one", 7.2)
    data = widget_data(at)
    assert data["acked"] == {"tab-1": 1}
    assert data["notices"] == [{"instance": "tab-1", "seq": 1, "kind": "ok", "text": f"Saved: {cats[1]} (unsure)"}]
    assert widget_thread(at) == _queue(db, world)[1] and data["progress"] == {"done": 1, "assigned": 6}


def test_an_outbox_sent_again_stores_nothing_twice(page, db, world):
    """Streamlit may rerun with the same widget state (another widget changed, an interrupted run): the
    acknowledged actions are skipped. A new tab (another instance) starts its own sequence."""
    cats = _cats(db)
    q = widget_data(page)["queue"]
    items = [label(q[0], 1, cats[0]), label(q[1], 2, cats[2])]
    at = send_actions(page, KEY, items)
    at = send_actions(at, KEY, items)
    at = at.run()
    assert [x.category for x in _labels(db, world.reviewer.id)] == [cats[0], cats[2]]
    n = db.execute(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "label_created")).scalar_one()
    assert n == 2
    at = send_actions(at, KEY, [label(_item(at), 1, cats[3])], instance="tab-2")
    assert len(_labels(db, world.reviewer.id)) == 3 and widget_data(at)["acked"] == {"tab-1": 2, "tab-2": 1}


def test_skip_moves_the_thread_to_the_end(page, db, world):
    first = _item(page)
    at = send_actions(page, KEY, [{"seq": 1, "type": "skip", "round_id": first["round_id"], "thread_id": first["id"]}])
    assert _queue(db, world)[-1] == first["ext"] and widget_thread(at) != first["ext"]
    assert widget_data(at)["notices"][-1]["text"] == "Skipped: the thread moved to the end of your queue."


def test_undo_takes_back_the_last_label_and_shows_its_thread_again(page, db, world):
    cats = _cats(db)
    first = _item(page)
    at = send_actions(page, KEY, [label(first, 1, cats[4]),
                                  {"seq": 2, "type": "undo", "round_id": first["round_id"], "thread_id": first["id"]}])
    assert _labels(db, world.reviewer.id) == [] and widget_thread(at) == first["ext"]
    assert widget_data(at)["notices"][-1]["text"] == f"Undone: your label '{cats[4]}' was taken back."
    undone = db.execute(select(AuditEvent).where(AuditEvent.action == "label_undone")).scalar_one()
    assert undone.actor == world.reviewer.username and undone.detail["category"] == cats[4]


def test_resume_in_a_new_session_continues_at_the_first_unlabeled(page, app, db, world):
    cats = _cats(db)
    q = widget_data(page)["queue"]
    send_actions(page, KEY, [label(q[0], 1, cats[0]), label(q[1], 2, cats[0])])
    fresh = open_page(app(world.reviewer), "label.py")
    assert widget_thread(fresh) == _queue(db, world)[2]
    assert widget_data(fresh)["progress"] == {"done": 2, "assigned": 6}


def test_revisit_and_change_own_label_is_audited(page, db, world):
    cats = _cats(db)
    first = _item(page)
    at = send_actions(page, KEY, [label(first, 1, cats[0], note="first")])
    at = click(at, f"label.revisit.{first['id']}")
    item = _item(at)
    assert (item["ext"], item["editing"], item["mine"]) == (first["ext"], True,
                                                          {"category": cats[0], "unsure": False, "note": "first"})
    at = send_actions(at, KEY, [label(first, 1, cats[0], note="first"), label(item, 2, cats[2], note="first")])
    (lab,) = _labels(db, world.reviewer.id)
    assert lab.category == cats[2] and widget_data(at)["notices"][-1]["text"] == f"Changed to: {cats[2]}"
    assert widget_thread(at) != first["ext"]  # back to the queue
    changed = db.execute(select(AuditEvent).where(AuditEvent.action == "label_changed")).scalars().all()
    assert len(changed) == 1 and changed[0].detail["to"] == cats[2] and changed[0].actor == world.reviewer.username


def test_back_to_the_queue_without_a_change(page, db, world):
    cats = _cats(db)
    first = _item(page)
    at = click(send_actions(page, KEY, [label(first, 1, cats[0])]), f"label.revisit.{first['id']}")
    assert _item(at)["editing"]
    at = send_actions(at, KEY, [label(first, 1, cats[0]),
                                {"seq": 2, "type": "back", "round_id": first["round_id"], "thread_id": first["id"]}])
    assert widget_thread(at) == _queue(db, world)[1] and not _item(at)["editing"]


def test_closed_round_shows_no_thread_and_refuses_a_stale_tab(page, db, world):
    item = _item(page)
    set_round_status(db, name=world.round_name, status="closed", actor="test")
    at = send_actions(page, KEY, [label(item, 1, _cats(db)[0])])
    data = widget_data(at)
    assert data["queue"] == [] and not data["round"]["open"] and "closed" in data["message"]
    assert data["notices"][-1] == {"instance": "tab-1", "seq": 1, "kind": "error",
                                   "text": f"Not saved: round '{world.round_name}' is closed: labels can no longer change"}
    assert _labels(db, world.reviewer.id) == []


def test_a_thread_of_someone_else_or_a_bad_category_is_refused(page, db, world):
    rid = db.execute(select(Round.id)).scalar_one()
    (foreign,) = make_threads(db, 1, seed=99)  # in no round: not assigned to the reviewer
    at = send_actions(page, KEY, [{"seq": 1, "type": "label", "round_id": rid, "thread_id": foreign.id,
                                   "category": "Other"},
                                  label(_item(page), 2, "No such category")])
    texts = [n["text"] for n in widget_data(at)["notices"]]
    assert texts == ["Not saved: this thread is not assigned to you in this round",
                     "Not saved: 'No such category' is not a category of this round's codebook"]
    assert _labels(db, world.reviewer.id) == []


def test_a_tab_signed_out_elsewhere_cannot_store_a_label(page, db, world):
    """The page stores actions only after the router re-read the account in this run."""
    sign_out_everywhere(db, username=world.reviewer.username)
    at = send_actions(page, KEY, [label(_item(page), 1, _cats(db)[0])])
    assert not signed_in(at) and _labels(db, world.reviewer.id) == []


def test_a_double_submit_keeps_one_label(page, db, world):
    """Two tabs (or a replayed outbox) submit the same label: the stored label stays one row."""
    first = _item(page)
    at = send_actions(page, KEY, [label(first, 1, "Other")])
    at = send_actions(at, KEY, [label(first, 1, "Other")], instance="tab-2")
    assert len(_labels(db, world.reviewer.id)) == 1
    assert widget_data(at)["notices"][-1]["text"] == "Already saved: Other"
    rid = db.execute(select(Round.id)).scalar_one()
    assert labeling.progress(db, rid, world.reviewer.id) == (1, 6)


def test_the_due_date_is_shown_and_an_archived_round_is_gone(app, page, db, world):
    import datetime as dt

    from annotator.services.rounds import archive_round, set_due_date

    set_due_date(db, name=world.round_name, due_on=dt.date(2026, 12, 24), actor="lead")
    at = page.run()
    assert at.selectbox(key="label.round").format_func(world.round_name) == \
        f"Round {world.round_name} (open) · due 24 Dec 2026"
    home = open_page(app(world.reviewer), "home.py")
    assert "due 24 Dec 2026" in [c.value for c in home.caption]
    set_round_status(db, name=world.round_name, status="closed", actor="lead")
    archive_round(db, name=world.round_name, actor="lead")
    at = open_page(app(world.reviewer), "label.py")
    assert widget_data(at) is None and at.info[0].value.startswith("No rounds are assigned to you yet")
