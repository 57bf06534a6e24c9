"""The reviewer's side: their rounds, their queue, submitting, skipping and editing their own labels.

Blinding: every function here takes the reviewer and returns only that reviewer's own data;
nothing here reads another reviewer's label or any model prediction (except the reveal step,
after the reviewer's own blind label is stored, for rounds that enable it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from annotator.data.models import Assignment, Decision, Label, Round, RoundStatus, Thread, utcnow
from annotator.errors import AnnotatorError, Conflict, InvalidInput, NotAllowed, NotFound
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
    due_on: date | None = None


def rounds_for_reviewer(session: Session, reviewer_id: int, *, include_closed: bool = False) -> list[RoundProgress]:
    """The rounds this reviewer has assignments in, with their own progress only (archived rounds never)."""
    assigned = (select(Assignment.round_id, func.count().label("n")).where(Assignment.reviewer_id == reviewer_id)
                .group_by(Assignment.round_id).subquery())
    done = (select(Label.round_id, func.count().label("n")).where(Label.reviewer_id == reviewer_id)
            .group_by(Label.round_id).subquery())
    stmt = (select(Round.id, Round.name, Round.status, func.coalesce(done.c.n, 0), assigned.c.n, Round.reveal_enabled,
                   Round.due_on)
            .join(assigned, assigned.c.round_id == Round.id).outerjoin(done, done.c.round_id == Round.id)
            .where(Round.archived_at.is_(None))
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


def next_thread_ids(session: Session, round_id: int, reviewer_id: int, *, limit: int = 5) -> list[int]:
    """The reviewer's next `limit` unlabeled threads in queue order (the first is what next_thread_id returns)."""
    stmt = (select(Assignment.thread_id)
            .outerjoin(Label, and_(Label.round_id == Assignment.round_id, Label.thread_id == Assignment.thread_id,
                                   Label.reviewer_id == Assignment.reviewer_id))
            .where(Assignment.round_id == round_id, Assignment.reviewer_id == reviewer_id, Label.id.is_(None))
            .order_by(Assignment.position).limit(limit))
    return list(session.execute(stmt).scalars())


def get_thread(session: Session, thread_id: int) -> Thread | None:
    return session.get(Thread, thread_id)


def get_threads(session: Session, thread_ids: list[int]) -> dict[int, Thread]:
    """Threads by id (unknown ids are absent)."""
    if not thread_ids:
        return {}
    return {t.id: t for t in session.execute(select(Thread).where(Thread.id.in_(thread_ids))).scalars()}


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


def undo_label(session: Session, *, round_id: int, reviewer_id: int, actor: str,
               thread_id: int | None = None) -> Label:
    """Take back this reviewer's newest label in an open round (or their label of `thread_id`).

    The label is deleted and its thread goes to the front of the reviewer's queue, so it is shown
    next. Refused once the model's label was revealed after it (the blind label is locked) or a
    decision was recorded for the thread. Audited with the category taken back. Returns the deleted
    label (detached) so the caller can offer its choice again.
    """
    rnd = session.get(Round, round_id)
    if rnd is None:
        raise NotFound("this round no longer exists")
    if rnd.status != RoundStatus.open.value:
        raise Conflict(f"round '{rnd.name}' is closed: labels can no longer change")
    stmt = select(Label).where(Label.round_id == round_id, Label.reviewer_id == reviewer_id)
    if thread_id is not None:
        stmt = stmt.where(Label.thread_id == thread_id)
    label = session.execute(stmt.order_by(Label.updated_at.desc(), Label.id.desc()).limit(1)).scalars().first()
    if label is None:
        raise Conflict("nothing to undo: that label is not stored" if thread_id is not None
                       else "nothing to undo: you have no label in this round")
    if label.revealed_model_category is not None:
        raise Conflict("the model's label was revealed after this label, so it is locked")
    decided = session.execute(select(Decision.id).where(Decision.round_id == round_id,
                                                        Decision.thread_id == label.thread_id)).first()
    if decided is not None:
        raise Conflict("a decision was already recorded for this thread, so your label stays")
    front = session.execute(select(func.min(Assignment.position)).where(
        Assignment.round_id == round_id, Assignment.reviewer_id == reviewer_id)).scalar() or 0
    session.execute(update(Assignment).where(
        Assignment.round_id == round_id, Assignment.thread_id == label.thread_id, Assignment.reviewer_id == reviewer_id)
        .values(position=front - 1))
    audit.record(session, actor=actor, action="label_undone", entity="label",
                 entity_id=f"{round_id}/{label.thread_id}/{reviewer_id}",
                 detail={"category": label.category, "unsure": label.unsure})
    session.delete(label)
    session.commit()
    return label


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


# --- the labeling widget's actions ------------------------------------------------------------------

ACTION_TYPES = ("label", "skip", "undo", "post_reveal", "back", "decide")
MAX_ACTIONS = 500
MAX_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class Action:
    """One thing a reviewer did in the labeling widget, as the browser reported it (validated)."""

    seq: int
    type: str
    round_id: int
    thread_id: int | None
    category: str | None = None
    unsure: bool = False
    note: str = ""
    seconds: float | None = None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**53 else None


def parse_actions(raw: Any) -> list[Action]:
    """The widget's outbox (``{"instance": ..., "items": [...]}`` from the browser), validated.

    The browser is not trusted: an item whose type, ids or values are malformed is dropped, strings
    are cut to the database's sizes, seconds outside 0..24 h become None. Items come back in sequence
    order, at most MAX_ACTIONS of them, each sequence number once.
    """
    items = raw.get("items") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        return []
    out: dict[int, Action] = {}
    for item in items[:MAX_ACTIONS]:
        if not isinstance(item, dict):
            continue
        seq, kind, round_id = _int(item.get("seq")), item.get("type"), _int(item.get("round_id"))
        thread_id = _int(item.get("thread_id"))
        if seq is None or kind not in ACTION_TYPES or round_id is None:
            continue
        if thread_id is None and (kind != "undo" or item.get("thread_id") is not None):
            continue
        category = item.get("category")
        if category is not None and not isinstance(category, str):
            continue
        if kind in ("label", "decide") and not category:
            continue
        note = item.get("note") if isinstance(item.get("note"), str) else ""
        seconds = item.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
                or not 0 <= seconds <= MAX_SECONDS:
            seconds = None
        out.setdefault(seq, Action(seq=seq, type=kind, round_id=round_id, thread_id=thread_id,
                                   category=category[:200] if category else None, unsure=item.get("unsure") is True,
                                   note=note[:5000], seconds=round(float(seconds), 1) if seconds is not None else None))
    return [out[k] for k in sorted(out)]


def instance_of(raw: Any) -> str:
    """The browser tab's widget instance id of an outbox (a short printable string, or '')."""
    value = raw.get("instance") if isinstance(raw, dict) else None
    return value[:64] if isinstance(value, str) and value.isprintable() else ""


@dataclass
class Outcome:
    """What became of one action: a message for the reviewer and, for labels, what was stored."""

    action: Action
    ok: bool
    kind: str  # ok | info | error
    message: str
    result: str | None = None  # created | changed | unchanged | undone | skipped | recorded
    reveal_next: bool = False  # a new blind label in a round with the reveal step: reveal the model's label now


def apply_action(session: Session, action: Action, *, reviewer_id: int, actor: str) -> Outcome:
    """Carry out one widget action for this reviewer with the services above (one transaction).

    Every check of those services applies unchanged (assignment, open round, valid category,
    duplicate submits, the reveal lock); a refused action becomes an error outcome, not an exception.
    'back' and 'decide' are not labeling actions: the page handles them.
    """
    try:
        if action.type == "label":
            label, result = submit_label(session, round_id=action.round_id, thread_id=action.thread_id,
                                         reviewer_id=reviewer_id, category=action.category, note=action.note,
                                         unsure=action.unsure, seconds_spent=action.seconds, actor=actor)
            text = {"created": "Saved", "changed": "Changed to", "unchanged": "Already saved"}[result]
            reveal = result == "created" and bool(session.get(Round, action.round_id).reveal_enabled)
            return Outcome(action, True, "ok", f"{text}: {label.category}{' (unsure)' if label.unsure else ''}", result,
                           reveal_next=reveal)
        if action.type == "skip":
            skip_thread(session, round_id=action.round_id, thread_id=action.thread_id, reviewer_id=reviewer_id,
                        actor=actor)
            return Outcome(action, True, "info", "Skipped: the thread moved to the end of your queue.", "skipped")
        if action.type == "undo":
            label = undo_label(session, round_id=action.round_id, reviewer_id=reviewer_id, actor=actor,
                               thread_id=action.thread_id)
            return Outcome(action, True, "info", f"Undone: your label '{label.category}' was taken back.", "undone")
        if action.type == "post_reveal":
            if action.category is None:
                return Outcome(action, True, "info", "Continued without a second label.", "recorded")
            record_post_reveal(session, round_id=action.round_id, thread_id=action.thread_id, reviewer_id=reviewer_id,
                               category=action.category, actor=actor)
            return Outcome(action, True, "ok", f"Second label: {action.category}", "recorded")
    except AnnotatorError as exc:
        session.rollback()
        return Outcome(action, False, "error", f"Not saved: {exc}")
    raise InvalidInput(f"the labeling page does not handle '{action.type}' actions here")
