"""Disagreement queue, lead decisions and third-reviewer decisions of a round (the consensus they make
is read through annotator.services.consensus).

Un-blinded: only leads and admins reach these functions through the app (the pages check the
role); a third reviewer sees competing labels without reviewer names, in random order.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from annotator.adjudication import Assessment, pair_label
from annotator.data.models import Account, Assignment, Decision, Label, Round, Thread, utcnow
from annotator.errors import Conflict, InvalidInput, NotAllowed, NotFound, RowErrors
from annotator.services import audit
from annotator.services.codebook import category_names
from annotator.services.consensus import assessments, decisions_of
from annotator.services.rounds import require_round
from annotator.services.tables import read_small_csv


@dataclass
class QueueItem:
    thread_id: int
    external_id: str
    assessment: Assessment
    decision: Decision | None

    @property
    def pair(self) -> str:
        return pair_label(self.assessment.pair)

    @property
    def state(self) -> str:
        if self.decision is None:
            return "open"
        if self.decision.status == "resolved":
            return "resolved"
        return self.decision.status


def disagreement_queue(session: Session, round_name: str, *, pair: str | None = None,
                       include_resolved: bool = False) -> list[QueueItem]:
    """Threads that need a lead: differing, missing or unsure labels. Most split first; filter by pair."""
    rnd = require_round(session, round_name)
    assessed = assessments(session, rnd.id)
    decisions = {tid: d for (_, tid), d in decisions_of(session, [rnd.id]).items()}
    # a decision that only carries a definition-problem tag (status "open") does not put an
    # auto-accepted thread back in the queue
    # while a round is open, a thread nobody has labeled yet is work in progress, not a disagreement
    need = {tid: a for tid, a in assessed.items()
            if (a.reasons and (a.counts or rnd.status != "open"))
            or (tid in decisions and decisions[tid].status != "open")}
    ext = dict(session.execute(select(Thread.id, Thread.external_id).where(Thread.id.in_(list(need) or [-1]))).all())
    items = [QueueItem(tid, ext[tid], a, decisions.get(tid)) for tid, a in need.items()]
    if not include_resolved:
        items = [i for i in items if i.state != "resolved"]
    if pair:
        items = [i for i in items if i.pair == pair]
    items.sort(key=lambda i: (-i.assessment.split, i.pair, i.external_id))
    return items


def default_round_name(session: Session) -> str | None:
    """The newest round that has labels (the one a lead most likely wants to adjudicate)."""
    from sqlalchemy import func

    row = session.execute(select(Round.name).join(Label, Label.round_id == Round.id).group_by(Round.id, Round.name)
                          .having(func.count(Label.id) > 0).order_by(Round.id.desc()).limit(1)).first()
    return row[0] if row else None


def pair_counts(items: list[QueueItem]) -> list[tuple[str, int]]:
    counts: dict[str, int] = defaultdict(int)
    for i in items:
        counts[i.pair] += 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass
class ReviewerVote:
    reviewer: str
    category: str
    note: str
    unsure: bool
    seconds_spent: float | None


def thread_votes(session: Session, round_id: int, thread_id: int) -> list[ReviewerVote]:
    """Every independent label of the thread with its reviewer (leads only)."""
    rows = session.execute(
        select(Account.username, Label.category, Label.note, Label.unsure, Label.seconds_spent)
        .join(Account, Account.id == Label.reviewer_id)
        .where(Label.round_id == round_id, Label.thread_id == thread_id).order_by(Account.username)).all()
    return [ReviewerVote(*r) for r in rows]


def get_decision(session: Session, round_id: int, thread_id: int) -> Decision | None:
    return session.execute(select(Decision).where(Decision.round_id == round_id, Decision.thread_id == thread_id)) \
        .scalars().first()


def _upsert(session: Session, round_id: int, thread_id: int, *, actor: str, action: str, commit: bool = True,
            source: str | None = None, **values) -> Decision:
    if session.execute(select(Assignment.id).where(Assignment.round_id == round_id,
                                                   Assignment.thread_id == thread_id).limit(1)).first() is None:
        raise NotFound("this thread is not part of the round")
    decision = get_decision(session, round_id, thread_id)
    before = None
    if decision is None:
        decision = Decision(round_id=round_id, thread_id=thread_id, status=values.get("status", "resolved"))
    else:
        before = {"status": decision.status, "category": decision.category, "provenance": decision.provenance}
    for k, v in values.items():
        setattr(decision, k, v)
    decision.updated_at = utcnow()
    session.add(decision)
    detail = {"before": before, "after": {k: v for k, v in values.items() if k != "rationale"}}
    if source:
        detail["source"] = source
    audit.record(session, actor=actor, action=action, entity="decision", entity_id=f"{round_id}/{thread_id}",
                 detail=detail)
    if commit:
        session.commit()
    return decision


def _check_category(session: Session, round_id: int, category: str) -> None:
    rnd = session.get(Round, round_id)
    if category not in category_names(session, rnd.codebook_version_id):
        raise InvalidInput(f"'{category}' is not a category of this round's codebook")


def resolve(session: Session, *, round_id: int, thread_id: int, category: str, rationale: str, actor: str) -> Decision:
    """A lead records the final label (a revision of an earlier decision is audited as such)."""
    _check_category(session, round_id, category)
    if not (rationale or "").strip():
        raise InvalidInput("write a short rationale for the decision")
    return _upsert(session, round_id, thread_id, actor=actor, action="adjudicate", status="resolved",
                   category=category, provenance="adjudicated", rationale=rationale.strip(), decided_by=actor,
                   third_reviewer_id=None)


def send_to_third_reviewer(session: Session, *, round_id: int, thread_id: int, adjudicator: str, actor: str) -> Decision:
    acc = session.execute(select(Account).where(Account.username == adjudicator)).scalars().first()
    if acc is None or not acc.is_adjudicator or not acc.active:
        raise InvalidInput(f"'{adjudicator}' is not an active adjudicator account")
    labeled = session.execute(select(Assignment.id).where(Assignment.round_id == round_id,
                                                          Assignment.reviewer_id == acc.id).limit(1)).first()
    if labeled is not None:
        raise Conflict(f"'{adjudicator}' labels in this round and cannot be its third reviewer")
    return _upsert(session, round_id, thread_id, actor=actor, action="send_to_third_reviewer", status="third_reviewer",
                   category=None, provenance=None, third_reviewer_id=acc.id, decided_by=None)


def mark_discuss(session: Session, *, round_id: int, thread_id: int, comment: str, actor: str) -> Decision:
    return _upsert(session, round_id, thread_id, actor=actor, action="discuss_at_meeting", status="discuss",
                   category=None, provenance=None, rationale=(comment or "").strip())


def tag_definition_problem(session: Session, *, round_id: int, thread_id: int, flag: bool, comment: str,
                           actor: str) -> Decision:
    decision = get_decision(session, round_id, thread_id)
    status = decision.status if decision else "open"
    return _upsert(session, round_id, thread_id, actor=actor, action="tag_definition_problem", status=status,
                   definition_problem=flag, definition_comment=(comment or "").strip())


def third_review_queue(session: Session, adjudicator_id: int) -> list[tuple[Round, Decision, str]]:
    rows = session.execute(
        select(Round, Decision, Thread.external_id).join(Decision, Decision.round_id == Round.id)
        .join(Thread, Thread.id == Decision.thread_id)
        .where(Decision.status == "third_reviewer", Decision.third_reviewer_id == adjudicator_id)
        .order_by(Decision.updated_at)).all()
    return [(r, d, e) for r, d, e in rows]


def anonymous_options(session: Session, round_id: int, thread_id: int, *, seed: int) -> list[str]:
    """The competing categories for a third reviewer: no names, no counts, shuffled."""
    cats = sorted({v.category for v in thread_votes(session, round_id, thread_id)})
    random.Random(seed).shuffle(cats)
    return cats


def third_reviewer_decide(session: Session, *, round_id: int, thread_id: int, adjudicator_id: int, category: str,
                          rationale: str, actor: str) -> Decision:
    decision = get_decision(session, round_id, thread_id)
    if decision is None or decision.third_reviewer_id != adjudicator_id:
        raise NotAllowed("this thread was not sent to you")
    if decision.status != "third_reviewer":
        raise Conflict("this thread is no longer waiting for your decision")
    _check_category(session, round_id, category)
    return _upsert(session, round_id, thread_id, actor=actor, action="third_reviewer_decision", status="resolved",
                   category=category, provenance="third_reviewer", rationale=(rationale or "").strip(), decided_by=actor)


def discussion_list(session: Session, round_name: str) -> list[QueueItem]:
    return [i for i in disagreement_queue(session, round_name) if i.state == "discuss"]


@dataclass
class DecisionImport:
    round: str
    recorded: int
    unchanged: int
    blank: int
    still_pending: int


MAX_DECISIONS_BYTES = 5_000_000


def import_decisions_upload(session: Session, data: bytes, *, filename: str, round_name: str,
                            actor: str) -> DecisionImport:
    """:func:`import_decisions` for a file uploaded in the app (size checked before anything is parsed)."""
    import tempfile

    if len(data) > MAX_DECISIONS_BYTES:
        raise InvalidInput(f"{filename}: the file is larger than {MAX_DECISIONS_BYTES // 1_000_000} MB; a decisions "
                           "sheet has one short row per thread")
    name = Path(filename).name or "decisions.csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        return import_decisions(session, path, round_name=round_name, actor=actor)


def import_decisions(session: Session, path: Path | str, *, round_name: str, actor: str = "cli") -> DecisionImport:
    """Record lead decisions from a CSV ``thread_id,category[,rationale,decided_by]`` (e.g. a consensus
    meeting's spreadsheet, or the file ``export consensus`` wrote, with the pending rows filled in).

    A row with an empty category is left as it is (the thread stays pending). Categories are those of
    the round's codebook, matched ignoring case. A thread outside the round, an unknown category, a
    thread listed twice, a thread already decided as another category, or a row of another round (a
    ``round`` column) stops the import with every bad row listed; nothing is written. A row that repeats
    a thread's current decision changes nothing, so importing the same file again changes nothing.
    Each decision is audited (action ``adjudicate``, with the file name) in the same transaction.
    """
    from annotator.services.consensus import METHOD_WORDS, read_consensus

    path = Path(path)
    if path.exists() and path.stat().st_size > MAX_DECISIONS_BYTES:
        raise InvalidInput(f"{path.name}: the file is larger than {MAX_DECISIONS_BYTES // 1_000_000} MB; a decisions "
                           "sheet has one short row per thread")
    rnd = require_round(session, round_name)
    df = read_small_csv(path, required=("thread_id", "category"))
    names = category_names(session, rnd.codebook_version_id)
    lookup = {n.casefold(): n for n in names}
    rows_by_ext = {r.external_id: r for r in read_consensus(session, [round_name]).rows}
    problems: list[tuple[int, str | None, str]] = []
    seen: dict[str, int] = {}
    todo = []
    unchanged = blank = 0
    for i, rec in enumerate(df.to_dict("records"), start=2):
        ext, cat = str(rec.get("thread_id") or ""), str(rec.get("category") or "")
        rationale = " ".join(str(rec.get("rationale") or "").split())
        by = " ".join(str(rec.get("decided_by") or "").split())
        other_round = str(rec.get("round") or "")
        if other_round and other_round != round_name:
            problems.append((i, "round", f"this row is for round '{other_round[:60]}', not '{round_name[:60]}'"))
            continue
        if not ext:
            problems.append((i, "thread_id", "empty thread_id"))
            continue
        if ext in seen:
            problems.append((i, "thread_id", f"thread '{ext[:60]}' is listed twice (first at row {seen[ext]})"))
            continue
        seen[ext] = i
        row = rows_by_ext.get(ext)
        if row is None:
            problems.append((i, "thread_id", f"thread '{ext[:60]}' is not a sampled thread of round '{round_name[:60]}'"))
            continue
        if not cat:
            blank += 1
            continue
        if cat.casefold() not in lookup:
            problems.append((i, "category", f"unknown category '{cat[:60]}'; the round's codebook has: {', '.join(names)}"))
            continue
        cat = lookup[cat.casefold()]
        if len(by) > 100:
            problems.append((i, "decided_by", "at most 100 characters"))
            continue
        if row.decided:
            if row.recorded == cat:
                unchanged += 1
            else:
                problems.append((i, "category", f"thread '{ext[:60]}' is already decided as '{row.recorded}' "
                                 f"({METHOD_WORDS.get(row.method, row.method)}); change it on the Adjudicate page"))
            continue
        todo.append((row, cat, rationale, by))
    if problems:
        problems.sort()
        raise RowErrors(path.name, problems)
    for row, cat, rationale, by in todo:
        _upsert(session, rnd.id, row.thread_id, actor=actor, action="adjudicate", commit=False, source=path.name,
                status="resolved", category=cat, provenance="adjudicated",
                rationale=rationale or f"decided at a consensus meeting (imported from {path.name})",
                decided_by=by or actor, third_reviewer_id=None)
    still = sum(1 for r in rows_by_ext.values() if not r.decided) - len(todo)
    audit.record(session, actor=actor, action="import_decisions", entity="round", entity_id=round_name,
                 detail={"file": path.name, "recorded": len(todo), "unchanged": unchanged, "blank": blank})
    session.commit()
    return DecisionImport(round_name, len(todo), unchanged, blank, still)


def definition_problems(session: Session, category: str | None = None) -> list[dict]:
    """Adjudication cases tagged 'definition problem', for codebook refinement."""
    rows = session.execute(
        select(Round.name, Thread.external_id, Decision.category, Decision.definition_comment, Decision.decided_by,
               Decision.updated_at)
        .join(Round, Round.id == Decision.round_id).join(Thread, Thread.id == Decision.thread_id)
        .where(Decision.definition_problem == True).order_by(Decision.updated_at.desc())).all()  # noqa: E712
    out = [dict(zip(("round", "thread_id", "category", "comment", "decided_by", "at"), r)) for r in rows]
    return [o for o in out if category is None or o["category"] == category]
