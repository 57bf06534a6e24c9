"""Managing rounds once they exist — delete, archive, due date, moving unlabeled work — and taking back
a label, on SQLite and PostgreSQL; the `annotator round` commands."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from annotator.data.models import Assignment, AuditEvent, Decision, Label, Round
from annotator.errors import Conflict, InvalidInput, NotFound
from annotator.services import labeling
from annotator.services import rounds as svc
from annotator.services.accounts import create_account, get_account, update_account
from tests.factories import dump_tables, make_round, make_threads, run_cli

REVIEWERS = ["ana", "ben", "cal"]


@pytest.fixture
def rnd(session):
    """12 threads, two reviewers of three per thread: every reviewer has 8."""
    return make_round(session, name="r", size=12, reviewers=REVIEWERS, per_thread=2, seed=3).round


def uid(session, name: str) -> int:
    return get_account(session, name).id


def assigned(session, round_id: int, name: str) -> list[int]:
    session.expire_all()
    return list(session.execute(select(Assignment.thread_id).where(
        Assignment.round_id == round_id, Assignment.reviewer_id == uid(session, name))
        .order_by(Assignment.position)).scalars())


def label(session, rnd, name: str, thread_id: int, category: str = "Other"):
    return labeling.submit_label(session, round_id=rnd.id, thread_id=thread_id, reviewer_id=uid(session, name),
                                 category=category, actor=name)


def audit_actions(session) -> list[str]:
    session.expire_all()
    return list(session.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars())


# --- delete ------------------------------------------------------------------------------------------

def test_delete_a_round_without_labels_removes_it_and_its_assignments(session, rnd):
    n = svc.delete_round(session, name="r", actor="lead")
    assert n == 24
    assert session.execute(select(func.count()).select_from(Round)).scalar_one() == 0
    assert session.execute(select(func.count()).select_from(Assignment)).scalar_one() == 0
    event = session.execute(select(AuditEvent).where(AuditEvent.action == "round_deleted")).scalar_one()
    assert event.entity_id == "r" and event.detail["assignments"] == 24 and event.detail["seed"] == 3


def test_a_round_with_a_label_cannot_be_deleted_and_nothing_changes(engine, session, rnd):
    label(session, rnd, "ana", assigned(session, rnd.id, "ana")[0])
    before = dump_tables(engine)
    with pytest.raises(Conflict, match="has 1 label\\(s\\) and cannot be deleted; close and archive it instead"):
        svc.delete_round(session, name="r", actor="lead")
    session.rollback()
    assert dump_tables(engine) == before


# --- archive -----------------------------------------------------------------------------------------

def test_archive_needs_a_closed_round_and_hides_it_from_reviewers(session, rnd):
    ana = uid(session, "ana")
    with pytest.raises(Conflict, match="close it before archiving it"):
        svc.archive_round(session, name="r", actor="lead")
    svc.set_round_status(session, name="r", status="closed", actor="lead")
    assert [r.name for r in labeling.rounds_for_reviewer(session, ana, include_closed=True)] == ["r"]
    svc.archive_round(session, name="r", actor="lead")
    assert labeling.rounds_for_reviewer(session, ana, include_closed=True) == []
    assert svc.get_round(session, "r").archived_at is not None  # still there for reports and exports
    svc.archive_round(session, name="r", archived=False, actor="lead")
    assert [r.name for r in labeling.rounds_for_reviewer(session, ana, include_closed=True)] == ["r"]
    svc.archive_round(session, name="r", actor="lead")
    svc.set_round_status(session, name="r", status="open", actor="lead")  # reopening brings it back too
    assert svc.get_round(session, "r").archived_at is None
    assert audit_actions(session)[-5:] == ["round_closed", "round_archived", "round_unarchived", "round_archived",
                                           "round_open"]


# --- due date ----------------------------------------------------------------------------------------

def test_due_date_is_set_shown_to_reviewers_and_cleared(session, rnd):
    svc.set_due_date(session, name="r", due_on=dt.date(2026, 12, 24), actor="lead")
    (mine,) = labeling.rounds_for_reviewer(session, uid(session, "ben"))
    assert mine.due_on == dt.date(2026, 12, 24)
    svc.set_due_date(session, name="r", due_on=None, actor="lead")
    assert labeling.rounds_for_reviewer(session, uid(session, "ben"))[0].due_on is None
    assert audit_actions(session)[-2:] == ["round_due_date", "round_due_date"]


# --- sample size ---------------------------------------------------------------------------------------

def test_asking_for_more_threads_than_exist_says_how_many_exist(engine, session):
    make_threads(session, 7, seed=1)
    make_round(session, name="small", size=3, reviewers=REVIEWERS, per_thread=1)
    before = dump_tables(engine)
    with pytest.raises(InvalidInput) as caught:
        svc.create_sampled_round(session, name="huge", size=100_000, reviewers=REVIEWERS, per_thread=1, seed=1,
                                 exclude_sampled=True)
    assert str(caught.value) == ("asked for 100,000 threads, but only 4 match the sampling criteria; "
                                 "ask for 4 or fewer, or relax the filters")
    assert caught.value.cli_message().startswith("--size: asked for 100,000 threads")
    session.rollback()
    assert dump_tables(engine) == before


# --- moving unlabeled work -------------------------------------------------------------------------------

def test_replacing_a_reviewer_moves_only_their_unlabeled_threads(session, rnd):
    create_account(session, username="dee", actor="t")
    ana_before = assigned(session, rnd.id, "ana")
    done = ana_before[:3]
    for tid in done:
        label(session, rnd, "ana", tid)
    res = svc.reassign_unlabeled(session, name="r", from_reviewer="ana", to_reviewers=["dee"], actor="lead")
    assert res.moved == {"dee": 5} and res.kept == 0
    assert assigned(session, rnd.id, "ana") == done  # their labels stay theirs
    assert assigned(session, rnd.id, "dee") == ana_before[3:]  # in ana's queue order
    event = session.execute(select(AuditEvent).where(AuditEvent.action == "assignments_reassigned")).scalar_one()
    assert event.detail == {"from": "ana", "to": {"dee": 5}, "kept": 0, "all_unlabeled": True}


def test_moving_work_is_balanced_and_never_doubles_a_reviewer_on_a_thread(session, rnd):
    ana_open = assigned(session, rnd.id, "ana")
    ben_has = set(assigned(session, rnd.id, "ben"))
    label(session, rnd, "cal", assigned(session, rnd.id, "cal")[0])
    res = svc.reassign_unlabeled(session, name="r", from_reviewer="ana", to_reviewers=["ben", "cal"], actor="lead")
    # ana's 8 threads: each is shared with exactly one of ben and cal, so it can only go to the other one.
    assert res.n_moved + res.kept == 8
    for tid in ana_open:
        holders = session.execute(select(Assignment.reviewer_id).where(
            Assignment.round_id == rnd.id, Assignment.thread_id == tid)).scalars().all()
        assert len(holders) == len(set(holders)) == 2  # K stays 2, never the same reviewer twice
    assert set(assigned(session, rnd.id, "ben")) >= ben_has


def test_balanced_plan_gives_each_thread_to_the_least_loaded_eligible_reviewer():
    pairs, left = svc.plan_reassignment([1, 2, 3, 4, 5, 6], {"x": 2, "y": 0}, {"x": {5}, "y": {6}}, ["x", "y"])
    assert pairs == [(1, "y"), (2, "y"), (3, "x"), (4, "y"), (5, "y"), (6, "x")]
    assert left == []
    pairs, left = svc.plan_reassignment([7], {"x": 0}, {"x": {7}}, ["x"])
    assert (pairs, left) == ([], [7])


def test_moving_a_number_takes_them_from_the_end_of_the_queue(session, rnd):
    create_account(session, username="dee", actor="t")
    queue = assigned(session, rnd.id, "ben")
    res = svc.reassign_unlabeled(session, name="r", from_reviewer="ben", to_reviewers=["dee"], count=2, actor="lead")
    assert res.moved == {"dee": 2}
    assert assigned(session, rnd.id, "ben") == queue[:-2] and assigned(session, rnd.id, "dee") == queue[-2:]


@pytest.mark.parametrize("kwargs, error, message", [
    ({"to_reviewers": []}, InvalidInput, "choose at least one reviewer"),
    ({"to_reviewers": ["ana"]}, InvalidInput, "cannot take their own threads"),
    ({"to_reviewers": ["nobody"]}, NotFound, "no account 'nobody'"),
    ({"to_reviewers": ["off"]}, InvalidInput, "account 'off' is not active"),
    ({"count": 0, "to_reviewers": ["ben"]}, InvalidInput, "at least 1"),
    ({"name": "closed", "to_reviewers": ["ben"]}, Conflict, "is closed: reopen it before moving work"),
])
def test_bad_moves_change_nothing(engine, session, rnd, kwargs, error, message):
    create_account(session, username="off", actor="t")
    update_account(session, username="off", active=False, actor="t")
    make_round(session, name="closed", size=12, reviewers=REVIEWERS, per_thread=2, seed=4)
    svc.set_round_status(session, name="closed", status="closed", actor="t")
    before = dump_tables(engine)
    with pytest.raises(error, match=message):
        svc.reassign_unlabeled(session, **({"name": "r", "from_reviewer": "ana", "actor": "lead"} | kwargs))
    session.rollback()
    assert dump_tables(engine) == before


# --- taking back a label (undo) -----------------------------------------------------------------------------

def test_undo_takes_back_the_newest_label_and_puts_its_thread_first(session, rnd):
    ana = uid(session, "ana")
    first, second = assigned(session, rnd.id, "ana")[:2]
    label(session, rnd, "ana", first, "Research")
    label(session, rnd, "ana", second, "Coding")
    undone = labeling.undo_label(session, round_id=rnd.id, reviewer_id=ana, actor="ana")
    assert (undone.thread_id, undone.category) == (second, "Coding")
    assert labeling.next_thread_id(session, rnd.id, ana) == second
    assert labeling.progress(session, rnd.id, ana) == (1, 8)
    undone = labeling.undo_label(session, round_id=rnd.id, reviewer_id=ana, actor="ana", thread_id=first)
    assert undone.category == "Research" and labeling.next_thread_ids(session, rnd.id, ana, limit=2) == [first, second]
    event = session.execute(select(AuditEvent).where(AuditEvent.action == "label_undone")
                            .order_by(AuditEvent.id.desc()).limit(1)).scalar_one()
    assert event.detail == {"category": "Research", "unsure": False} and event.actor == "ana"


def test_undo_is_refused_when_closed_locked_decided_or_empty(session, rnd):
    ana = uid(session, "ana")
    with pytest.raises(Conflict, match="nothing to undo"):
        labeling.undo_label(session, round_id=rnd.id, reviewer_id=ana, actor="ana")
    tid = assigned(session, rnd.id, "ana")[0]
    label(session, rnd, "ana", tid)
    session.add(Decision(round_id=rnd.id, thread_id=tid, status="resolved", category="Other", decided_by="lead"))
    session.commit()
    with pytest.raises(Conflict, match="a decision was already recorded"):
        labeling.undo_label(session, round_id=rnd.id, reviewer_id=ana, actor="ana")
    session.execute(Decision.__table__.delete())
    lab = session.execute(select(Label)).scalar_one()
    lab.revealed_model_category = "Other"
    session.commit()
    with pytest.raises(Conflict, match="revealed after this label, so it is locked"):
        labeling.undo_label(session, round_id=rnd.id, reviewer_id=ana, actor="ana")
    svc.set_round_status(session, name="r", status="closed", actor="lead")
    with pytest.raises(Conflict, match="is closed"):
        labeling.undo_label(session, round_id=rnd.id, reviewer_id=ana, actor="ana")
    assert session.execute(select(func.count()).select_from(Label)).scalar_one() == 1


def test_widget_actions_go_through_the_same_checks(session, rnd):
    ana = uid(session, "ana")
    tid = assigned(session, rnd.id, "ana")[0]
    not_ana = next(t for t in assigned(session, rnd.id, "ben") if t not in assigned(session, rnd.id, "ana"))
    actions = labeling.parse_actions({"instance": "x", "items": [
        {"seq": 1, "type": "label", "round_id": rnd.id, "thread_id": tid, "category": "Research", "unsure": True,
         "note": "n", "seconds": 4.26},
        {"seq": 2, "type": "label", "round_id": rnd.id, "thread_id": tid, "category": "Research", "unsure": True,
         "note": "n", "seconds": 9},
        {"seq": 3, "type": "label", "round_id": rnd.id, "thread_id": not_ana, "category": "Research"},
        {"seq": 4, "type": "label", "round_id": rnd.id, "thread_id": tid, "category": "Not a category"},
        {"seq": 5, "type": "undo", "round_id": rnd.id, "thread_id": None},
    ]})
    out = [labeling.apply_action(session, a, reviewer_id=ana, actor="ana") for a in actions]
    assert [(o.ok, o.result) for o in out] == [(True, "created"), (True, "unchanged"), (False, None), (False, None),
                                             (True, "undone")]
    assert out[2].message == "Not saved: this thread is not assigned to you in this round"
    assert out[3].message == "Not saved: 'Not a category' is not a category of this round's codebook"
    assert session.execute(select(func.count()).select_from(Label)).scalar_one() == 0
    created = session.execute(select(AuditEvent.detail).where(AuditEvent.action == "label_created")).scalar_one()
    assert created == {"category": "Research", "unsure": True}


# --- command line ----------------------------------------------------------------------------------------

def test_round_commands(db_url, session, rnd):
    create_account(session, username="dee", actor="t")
    out = run_cli(["round", "due", "r", "--date", "2026-12-24"], db_url)
    assert (out.exit_code, out.output) == (0, "round 'r': due 2026-12-24\n")
    out = run_cli(["round", "due", "r", "--date", "24/12/2026"], db_url)
    assert out.exit_code == 1 and out.stderr == "error: --date: '24/12/2026' is not a date; write it as YYYY-MM-DD\n"
    out = run_cli(["round", "reassign", "r", "--from", "ana", "--to", "dee"], db_url)
    assert out.exit_code == 0 and out.output == "round 'r': moved 8 unlabeled threads from ana (dee=8)\n"
    out = run_cli(["round", "reassign", "r", "--from", "ana", "--to", "dee"], db_url)
    assert out.exit_code == 1 and out.stderr == "error: 'ana' has no unlabeled threads in round 'r'\n"
    assert run_cli(["round", "archive", "r"], db_url).stderr == "error: round 'r' is open: close it before archiving it\n"
    assert run_cli(["round", "close", "r"], db_url).output == "round 'r' is closed\n"
    assert run_cli(["round", "archive", "r"], db_url).output == "round 'r' is archived\n"
    assert run_cli(["round", "list"], db_url).output == "r: closed, archived, 0/24 labels, due 2026-12-24\n"
    out = run_cli(["round", "delete", "r"], db_url, input="n\n")
    assert out.exit_code == 1 and svc.get_round(session, "r") is not None
    assert run_cli(["round", "delete", "r", "--yes"], db_url).output == "round 'r' deleted (24 assignments)\n"
    out = run_cli(["round", "delete", "r", "--yes"], db_url)
    assert out.exit_code == 1 and out.stderr == "error: no round named 'r' (no rounds yet: create one with 'annotator sample')\n"
    out = run_cli(["sample", "--round", "big", "--size", "1000", "--reviewers", "ana,ben", "--per-thread", "1",
                   "--seed", "1"], db_url)
    assert out.exit_code == 1 and out.stderr == ("error: --size: asked for 1,000 threads, but only 12 match the "
                                                 "sampling criteria; ask for 12 or fewer, or relax the filters\n")


def test_migration_0009_goes_down_and_up_with_rounds_in_use(empty_db_url):
    """Due date and archive columns leave and come back while assignments and labels point at rounds."""
    from alembic import command
    from sqlmodel import Session

    from annotator.data.engine import alembic_config, make_engine

    engine = make_engine(empty_db_url)
    try:
        cfg = alembic_config(engine)
        command.upgrade(cfg, "head")
        with Session(engine, expire_on_commit=False) as s:
            rnd = make_round(s, name="kept", size=4, reviewers=REVIEWERS, per_thread=2).round
            label(s, rnd, "ana", assigned(s, rnd.id, "ana")[0])
            svc.set_due_date(s, name="kept", due_on=dt.date(2026, 12, 24), actor="t")
        before = dump_tables(engine)
        command.downgrade(cfg, "0008")
        command.upgrade(cfg, "head")
        after = dump_tables(engine)
        assert after["label"] == before["label"] and after["assignment"] == before["assignment"]
        with Session(engine) as s:
            assert svc.get_round(s, "kept").due_on is None  # the column came back empty
    finally:
        engine.dispose()
