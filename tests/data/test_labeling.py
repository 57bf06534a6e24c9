"""The reviewer's queue: submitting, editing, skipping and resuming, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from annotator.data.models import Assignment, AuditEvent, Label
from annotator.errors import Conflict, InvalidInput, NotAllowed
from annotator.services import labeling
from annotator.services.accounts import get_account
from annotator.services.labeling import next_thread_id, progress, rounds_for_reviewer, skip_thread, submit_label
from annotator.services.rounds import set_round_status
from tests.factories import make_round


@pytest.fixture
def rnd(session):
    """A round of 4 threads, each for both reviewers: ana and ben have 4 threads each."""
    return make_round(session, size=4, reviewers=["ana", "ben"], per_thread=2, seed=5).round


def queue(session, round_id: int, reviewer_id: int) -> list[int]:
    return list(session.execute(select(Assignment.thread_id).where(
        Assignment.round_id == round_id, Assignment.reviewer_id == reviewer_id).order_by(Assignment.position)).scalars())


def reviewer(session, name: str) -> int:
    return get_account(session, name).id


def n_labels(session) -> int:
    return session.execute(select(func.count()).select_from(Label)).scalar_one()


def submit(session, rnd, thread_id: int, who: int, category: str = "Other", **kw):
    return submit_label(session, round_id=rnd.id, thread_id=thread_id, reviewer_id=who, category=category, actor="t", **kw)


def test_submit_stores_the_label_with_the_round_codebook_version(session, rnd):
    ana = reviewer(session, "ana")
    first = queue(session, rnd.id, ana)[0]
    label, outcome = submit(session, rnd, first, ana, "Research", note="  about trials ", seconds_spent=12.5)
    assert outcome == "created"
    stored = session.execute(select(Label)).scalar_one()
    assert (stored.category, stored.note, stored.seconds_spent, stored.codebook_version_id) == (
        "Research", "about trials", 12.5, rnd.codebook_version_id)
    assert progress(session, rnd.id, ana) == (1, 4)


def test_double_submit_keeps_one_label(session, rnd):
    ana = reviewer(session, "ana")
    first = queue(session, rnd.id, ana)[0]
    submit(session, rnd, first, ana)
    label, outcome = submit(session, rnd, first, ana)
    assert outcome == "unchanged" and n_labels(session) == 1
    assert session.execute(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("label_%"))).scalar_one() == 1


def test_concurrent_double_submit_keeps_one_label(engine, session, rnd, monkeypatch):
    """The second submit read 'no label yet' before the first committed: the unique constraint decides."""
    ana = reviewer(session, "ana")
    first = queue(session, rnd.id, ana)[0]
    with Session(engine) as other:
        submit(other, rnd, first, ana)
    real, reads = labeling.own_label, []

    def stale_then_real(*args, **kwargs):
        reads.append(1)
        return None if len(reads) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(labeling, "own_label", stale_then_real)
    label, outcome = submit(session, rnd, first, ana)
    assert len(reads) == 2  # the insert hit the constraint and the label was read again
    assert outcome == "unchanged" and label.category == "Other" and n_labels(session) == 1


def test_editing_a_label_is_audited(session, rnd):
    ana = reviewer(session, "ana")
    first = queue(session, rnd.id, ana)[0]
    submit(session, rnd, first, ana, "Other")
    label, outcome = submit(session, rnd, first, ana, "Coding", unsure=True)
    assert outcome == "changed" and (label.category, label.unsure) == ("Coding", True) and n_labels(session) == 1
    event = session.execute(select(AuditEvent).where(AuditEvent.action == "label_changed")).scalar_one()
    assert event.detail["from"]["category"] == "Other" and event.detail["to"] == "Coding" and event.actor == "t"


def test_closed_round_refuses_labels(session, rnd):
    ana = reviewer(session, "ana")
    set_round_status(session, name=rnd.name, status="closed", actor="lead")
    with pytest.raises(Conflict, match="closed"):
        submit(session, rnd, queue(session, rnd.id, ana)[0], ana)
    assert n_labels(session) == 0


def test_unknown_category_is_refused(session, rnd):
    ana = reviewer(session, "ana")
    with pytest.raises(InvalidInput, match="'Astrology' is not a category"):
        submit(session, rnd, queue(session, rnd.id, ana)[0], ana, "Astrology")


def test_reviewer_cannot_label_an_unassigned_thread(session):
    rnd = make_round(session, size=4, reviewers=["ana", "ben"], per_thread=1, seed=5).round
    ana, ben = reviewer(session, "ana"), reviewer(session, "ben")
    bens = queue(session, rnd.id, ben)
    assert bens and not set(bens) & set(queue(session, rnd.id, ana))
    with pytest.raises(NotAllowed, match="not assigned to you"):
        submit(session, rnd, bens[0], ana)
    with pytest.raises(NotAllowed):
        skip_thread(session, round_id=rnd.id, thread_id=bens[0], reviewer_id=ana, actor="ana")
    assert n_labels(session) == 0


def test_skip_moves_the_thread_to_the_end_of_the_queue(session, rnd):
    ana = reviewer(session, "ana")
    order = queue(session, rnd.id, ana)
    assert next_thread_id(session, rnd.id, ana) == order[0]
    skip_thread(session, round_id=rnd.id, thread_id=order[0], reviewer_id=ana, actor="ana")
    seen = []
    while (tid := next_thread_id(session, rnd.id, ana)) is not None:
        seen.append(tid)
        submit(session, rnd, tid, ana)
    assert seen == order[1:] + order[:1]


def test_resume_returns_the_first_unlabeled_thread(engine, session, rnd):
    ana = reviewer(session, "ana")
    order = queue(session, rnd.id, ana)
    submit(session, rnd, order[0], ana)
    submit(session, rnd, order[2], ana)
    with Session(engine) as later:  # a new visit, e.g. after a reload
        assert next_thread_id(later, rnd.id, ana) == order[1]
        assert progress(later, rnd.id, ana) == (2, 4)


def test_reviewer_sees_only_their_own_progress(session, rnd):
    ana, ben = reviewer(session, "ana"), reviewer(session, "ben")
    for tid in queue(session, rnd.id, ben)[:3]:
        submit(session, rnd, tid, ben)
    submit(session, rnd, queue(session, rnd.id, ana)[0], ana)
    (mine,) = rounds_for_reviewer(session, ana)
    assert (mine.name, mine.done, mine.assigned) == (rnd.name, 1, 4)
    set_round_status(session, name=rnd.name, status="closed", actor="lead")
    assert rounds_for_reviewer(session, ana) == [] and len(rounds_for_reviewer(session, ana, include_closed=True)) == 1
