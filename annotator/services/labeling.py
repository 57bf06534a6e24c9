"""The reviewer's side: their rounds, their queue, submitting, skipping and editing their own labels.

Blinding: every function here takes the reviewer and returns only that reviewer's own data;
nothing here reads another reviewer's label or any model prediction (except the reveal step,
after the reviewer's own blind label is stored, for rounds that enable it).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from annotator.data.models import Assignment, Label, Round, RoundStatus, Thread, utcnow
from annotator.errors import Conflict, InvalidInput, NotAllowed, NotFound
from annotator.services import audit
from annotator.services.codebook import category_names


@dataclass
class RoundProgress:
    round_id: int
    name: str
    status: str
    done: int
    assigned: int
    reveal_enabled: bool


def rounds_for_reviewer(session: Session, reviewer_id: int, *, include_closed: bool = False) -> list[RoundProgress]:
    """The rounds this reviewer has assignments in, with their own progress only."""
    assigned = (select(Assignment.round_id, func.count().label("n")).where(Assignment.reviewer_id == reviewer_id)
                .group_by(Assignment.round_id).subquery())
    done = (select(Label.round_id, func.count().label("n")).where(Label.reviewer_id == reviewer_id)
            .group_by(Label.round_id).subquery())
    stmt = (select(Round.id, Round.name, Round.status, func.coalesce(done.c.n, 0), assigned.c.n, Round.reveal_enabled)
            .join(assigned, assigned.c.round_id == Round.id).outerjoin(done, done.c.round_id == Round.id)
            .order_by(Round.created_at.desc(), Round.id.desc()))
    if not include_closed:
        stmt = stmt.where(Round.status == RoundStatus.open.value)
    return [RoundProgress(*row) for row in session.execute(stmt).all()]


def _require_assignment(session: Session, round_id: int, thread_id: int, reviewer_id: int) -> Round:
    rnd = session.get(Round, round_id)
    if rnd is None:
        raise NotFound("this round no longer exists")
    found = session.execute(select(Assignment.id).where(
        Assignment.round_id == round_id, Assignment.thread_id == thread_id, Assignment.reviewer_id == reviewer_id)).first()
    if found is None:
        raise NotAllowed("this thread is not assigned to you in this round")
    return rnd


def progress(session: Session, round_id: int, reviewer_id: int) -> tuple[int, int]:
    """(done, assigned) for this reviewer in this round."""
    assigned = session.execute(select(func.count()).select_from(Assignment).where(
        Assignment.round_id == round_id, Assignment.reviewer_id == reviewer_id)).scalar_one()
    done = session.execute(select(func.count()).select_from(Label).where(
        Label.round_id == round_id, Label.reviewer_id == reviewer_id)).scalar_one()
    return int(done), int(assigned)


def next_thread_id(session: Session, round_id: int, reviewer_id: int) -> int | None:
    """The reviewer's next unlabeled thread in queue order (skipped threads sit at the end)."""
    stmt = (select(Assignment.thread_id)
            .outerjoin(Label, and_(Label.round_id == Assignment.round_id, Label.thread_id == Assignment.thread_id,
                                   Label.reviewer_id == Assignment.reviewer_id))
            .where(Assignment.round_id == round_id, Assignment.reviewer_id == reviewer_id, Label.id.is_(None))
            .order_by(Assignment.position).limit(1))
    return session.execute(stmt).scalar()


def get_thread(session: Session, thread_id: int) -> Thread | None:
    return session.get(Thread, thread_id)


def own_label(session: Session, round_id: int, thread_id: int, reviewer_id: int) -> Label | None:
    return session.execute(select(Label).where(Label.round_id == round_id, Label.thread_id == thread_id,
                                               Label.reviewer_id == reviewer_id)).scalars().first()


def own_labels(session: Session, round_id: int, reviewer_id: int, *, limit: int = 20,
               external_id: str | None = None) -> list[tuple[Label, str]]:
    """This reviewer's labels in a round, newest first, with the thread's external id (optionally one thread)."""
    stmt = (select(Label, Thread.external_id).join(Thread, Thread.id == Label.thread_id)
            .where(Label.round_id == round_id, Label.reviewer_id == reviewer_id)
            .order_by(Label.updated_at.desc(), Label.id.desc()).limit(limit))
    if external_id:
        stmt = stmt.where(Thread.external_id == external_id)
    return [(lab, ext) for lab, ext in session.execute(stmt).all()]


def submit_label(session: Session, *, round_id: int, thread_id: int, reviewer_id: int, category: str,
                 note: str = "", unsure: bool = False, seconds_spent: float | None = None, actor: str) -> tuple[Label, str]:
    """Store (or change) this reviewer's label for a thread. Returns (label, 'created'|'changed'|'unchanged').

    Idempotent: a double click or resubmitted form finds the stored label and changes nothing; the
    unique constraint on (round, thread, reviewer) makes a second row impossible even under a race.
    Every change is audited in the same transaction. Closed rounds refuse changes.
    """
    rnd = _require_assignment(session, round_id, thread_id, reviewer_id)
    if rnd.status != RoundStatus.open.value:
        raise Conflict(f"round '{rnd.name}' is closed: labels can no longer change")
    names = category_names(session, rnd.codebook_version_id)
    if category not in names:
        raise InvalidInput(f"'{category}' is not a category of this round's codebook")
    note = (note or "").strip()[:5000]
    now = utcnow()
    existing = own_label(session, round_id, thread_id, reviewer_id)
    if existing is None:
        label = Label(round_id=round_id, thread_id=thread_id, reviewer_id=reviewer_id, category=category,
                      codebook_version_id=rnd.codebook_version_id, note=note, unsure=bool(unsure),
                      seconds_spent=seconds_spent, created_at=now, updated_at=now)
        session.add(label)
        audit.record(session, actor=actor, action="label_created", entity="label",
                     entity_id=f"{round_id}/{thread_id}/{reviewer_id}", detail={"category": category, "unsure": bool(unsure)})
        try:
            session.commit()
            return label, "created"
        except IntegrityError:  # a concurrent submit of the same label won the race
            session.rollback()
            existing = own_label(session, round_id, thread_id, reviewer_id)
            if existing is None:
                raise
    if (existing.category, existing.note, existing.unsure) == (category, note, bool(unsure)):
        return existing, "unchanged"
    if existing.revealed_model_category is not None:
        raise Conflict("the model's label was revealed after this blind label, so it can no longer change")
    before = {"category": existing.category, "unsure": existing.unsure, "note_changed": existing.note != note}
    existing.category, existing.note, existing.unsure, existing.updated_at = category, note, bool(unsure), now
    session.add(existing)
    audit.record(session, actor=actor, action="label_changed", entity="label",
                 entity_id=f"{round_id}/{thread_id}/{reviewer_id}", detail={"from": before, "to": category})
    session.commit()
    return existing, "changed"


def skip_thread(session: Session, *, round_id: int, thread_id: int, reviewer_id: int, actor: str) -> None:
    """Move the thread to the end of this reviewer's queue."""
    _require_assignment(session, round_id, thread_id, reviewer_id)
    last = session.execute(select(func.max(Assignment.position)).where(
        Assignment.round_id == round_id, Assignment.reviewer_id == reviewer_id)).scalar() or 0
    session.execute(update(Assignment).where(
        Assignment.round_id == round_id, Assignment.thread_id == thread_id, Assignment.reviewer_id == reviewer_id)
        .values(position=last + 1))
    audit.record(session, actor=actor, action="thread_skipped", entity="assignment",
                 entity_id=f"{round_id}/{thread_id}/{reviewer_id}")
    session.commit()


def round_version(session: Session, round_id: int) -> int:
    """The codebook version id a round labels under."""
    return session.execute(select(Round.codebook_version_id).where(Round.id == round_id)).scalar_one()


def reveal_model_label(session: Session, *, round_id: int, thread_id: int, reviewer_id: int, actor: str) -> str | None:
    """Reveal step (rounds that enable it): after the blind label is stored, show the newest model label.

    Revealing locks the blind label for good. Returns the model's category, or None when no run has
    classified the thread yet (then nothing is revealed and nothing locks).
    """
    from annotator.data.models import ModelRun, Prediction

    rnd = _require_assignment(session, round_id, thread_id, reviewer_id)
    if not rnd.reveal_enabled:
        raise NotAllowed("this round has no reveal step")
    label = own_label(session, round_id, thread_id, reviewer_id)
    if label is None:
        raise Conflict("store your blind label first")
    if label.revealed_model_category is not None:
        return label.revealed_model_category
    model = session.execute(
        select(Prediction.category).join(ModelRun, ModelRun.id == Prediction.run_id)
        .where(Prediction.thread_id == thread_id, Prediction.status == "ok")
        .order_by(Prediction.run_id.desc()).limit(1)).scalar()
    if model is None:
        return None
    label.revealed_model_category = model
    session.add(label)
    audit.record(session, actor=actor, action="model_label_revealed", entity="label",
                 entity_id=f"{round_id}/{thread_id}/{reviewer_id}")
    session.commit()
    return model


def record_post_reveal(session: Session, *, round_id: int, thread_id: int, reviewer_id: int, category: str,
                       actor: str) -> Label:
    """The reviewer's second, post-reveal label (the blind one stays as it was)."""
    rnd = _require_assignment(session, round_id, thread_id, reviewer_id)
    if rnd.status != RoundStatus.open.value:
        raise Conflict(f"round '{rnd.name}' is closed")
    if category not in category_names(session, rnd.codebook_version_id):
        raise InvalidInput(f"'{category}' is not a category of this round's codebook")
    label = own_label(session, round_id, thread_id, reviewer_id)
    if label is None or label.revealed_model_category is None:
        raise Conflict("the model's label has not been revealed for this thread")
    label.post_reveal_category = category
    session.add(label)
    audit.record(session, actor=actor, action="post_reveal_label", entity="label",
                 entity_id=f"{round_id}/{thread_id}/{reviewer_id}", detail={"category": category})
    session.commit()
    return label
