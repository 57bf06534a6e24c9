"""Rounds: draw a seeded sample with K reviewers per thread, import labels from a spreadsheet,
export labels, close and reopen, progress per reviewer; and managing a round once it exists:
delete one that has no labels, archive a closed one, set a due date, move unlabeled work from one
reviewer to others (replace a reviewer, or rebalance)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
from sqlalchemy import delete, func, insert, select, text, update
from sqlmodel import Session

from annotator.data.models import Account, Assignment, Decision, Label, Round, RoundStatus, Thread, utcnow
from annotator.errors import Conflict, InvalidInput, NotFound, RowErrors
from annotator.sampling import assign_reviewers, draw_sample
from annotator.services import audit
from annotator.services.accounts import ensure_reviewers
from annotator.services.codebook import category_names, require_version
from annotator.services.tables import read_small_csv

STRATIFY_COLUMNS = ("department", "role", "role_group")
ACCEPTANCE_RULES = ("unanimous", "majority")


def get_round(session: Session, name: str) -> Round | None:
    return session.execute(select(Round).where(Round.name == name)).scalars().first()


def require_round(session: Session, name: str) -> Round:
    found = get_round(session, name)
    if found is None:
        names = [r.name for r in list_rounds(session)]
        hint = f" (rounds: {', '.join(names[:10])})" if names else " (no rounds yet)"
        raise NotFound(f"no round named '{name}'{hint}",
                       cli=None if names else f"no round named '{name}' (no rounds yet: create one with 'annotator sample')")
    return found


def list_rounds(session: Session, *, status: str | None = None) -> list[Round]:
    stmt = select(Round).order_by(Round.created_at, Round.id)
    if status:
        stmt = stmt.where(Round.status == status)
    return list(session.execute(stmt).scalars())


@dataclass
class SampleResult:
    round: Round
    n_threads: int
    n_assignments: int
    per_reviewer: dict[str, int]


def check_new_round(session: Session, *, name: str, reviewers: list[str], size: int,
                    per_thread: int) -> tuple[str, list[str]]:
    """Validate a new round's name, reviewers, size and K; returns the cleaned name and reviewers."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("a round needs a name", option="round")
    if get_round(session, name):
        raise Conflict(f"round '{name}' already exists; choose another name")
    reviewers = [r.strip() for r in reviewers if r.strip()]
    if len(set(reviewers)) != len(reviewers):
        raise InvalidInput("a reviewer is listed twice", option="reviewers")
    if size < 1:
        raise InvalidInput("the sample size must be at least 1", option="size")
    if not 1 <= per_thread <= len(reviewers):
        raise InvalidInput(f"reviewers per thread must be between 1 and the number of reviewers ({len(reviewers)})",
                           option="per_thread")
    return name, reviewers


def store_round(session: Session, rnd: Round, pairs: list[tuple[int, str]], accounts: dict, *, n_threads: int,
                actor: str, detail: dict) -> SampleResult:
    """Insert the round, its assignments (each reviewer's queue in sample order) and the audit row; commit."""
    session.add(rnd)
    session.flush()
    positions: dict[str, int] = {}
    rows = []
    for tid, reviewer in pairs:
        pos = positions.get(reviewer, 0)
        positions[reviewer] = pos + 1
        rows.append({"round_id": rnd.id, "thread_id": tid, "reviewer_id": accounts[reviewer].id, "position": pos})
    if rows:
        session.execute(insert(Assignment), rows)
    audit.record(session, actor=actor, action="create_round", entity="round", entity_id=rnd.name, detail=detail)
    session.commit()
    return SampleResult(round=rnd, n_threads=n_threads, n_assignments=len(rows), per_reviewer=positions)


def create_sampled_round(
    session: Session, *, name: str, size: int, reviewers: list[str], per_thread: int = 3, seed: int,
    stratify: str | None = None, frequent_users_only: bool = False, min_user_threads: int = 6,
    exclude_sampled: bool = False, codebook_version: int | None = None, acceptance_rule: str = "unanimous",
    reveal_enabled: bool = False, actor: str = "cli",
) -> SampleResult:
    """Create a round: a seeded random sample of `size` threads, each assigned to `per_thread` reviewers.

    Frequent users are those with at least `min_user_threads` threads (more than five, as in the study).
    One transaction: the round, its assignments and the audit row, or nothing.
    """
    name, reviewers = check_new_round(session, name=name, reviewers=reviewers, size=size, per_thread=per_thread)
    if stratify and stratify not in STRATIFY_COLUMNS:
        raise InvalidInput(f"unknown column '{stratify}' to stratify by; use one of {', '.join(STRATIFY_COLUMNS)}",
                           option="stratify")
    if acceptance_rule not in ACCEPTANCE_RULES:
        raise InvalidInput(f"acceptance rule must be one of {', '.join(ACCEPTANCE_RULES)}")
    version = require_version(session, codebook_version)
    accounts = ensure_reviewers(session, reviewers, actor=actor)

    cols = [Thread.id] + ([getattr(Thread, stratify)] if stratify else [])
    stmt = select(*cols)
    if frequent_users_only:
        frequent = select(Thread.user_id).where(Thread.user_id.is_not(None)).group_by(Thread.user_id) \
            .having(func.count() >= min_user_threads)
        stmt = stmt.where(Thread.user_id.in_(frequent))
    if exclude_sampled:
        stmt = stmt.where(Thread.id.not_in(select(Assignment.thread_id).distinct()))
    candidates = pd.DataFrame(session.execute(stmt).all(), columns=["id"] + ([stratify] if stratify else []))
    if candidates.empty:
        raise InvalidInput("no threads match the sampling criteria: import threads first or relax the filters")
    if size > len(candidates):
        raise InvalidInput(f"asked for {size:,} threads, but only {len(candidates):,} match the sampling criteria; "
                           f"ask for {len(candidates):,} or fewer, or relax the filters", option="size")
    picked = draw_sample(candidates, size, seed=seed, stratify=stratify)
    pairs = assign_reviewers(picked, reviewers, per_thread, seed=seed)

    spec = {"size": size, "drawn": len(picked), "candidates": len(candidates), "reviewers": reviewers,
            "per_thread": per_thread, "stratify": stratify, "frequent_users_only": frequent_users_only,
            "min_user_threads": min_user_threads, "exclude_sampled": exclude_sampled}
    rnd = Round(name=name, codebook_version_id=version.id, seed=seed, per_thread=per_thread, sampling_spec=spec,
                acceptance_rule=acceptance_rule, reveal_enabled=reveal_enabled, created_by=actor)
    return store_round(session, rnd, pairs, accounts, n_threads=len(picked), actor=actor, detail=spec | {"seed": seed})


def set_round_status(session: Session, *, name: str, status: str, actor: str) -> Round:
    """Close or reopen a round (reopening an archived round also brings it back from the archive)."""
    if status not in (RoundStatus.open.value, RoundStatus.closed.value):
        raise InvalidInput("status must be open or closed")
    rnd = require_round(session, name)
    if rnd.status != status:
        unarchived = status == RoundStatus.open.value and rnd.archived_at is not None
        rnd.status = status
        if unarchived:
            rnd.archived_at = None
        session.add(rnd)
        audit.record(session, actor=actor, action=f"round_{status}", entity="round", entity_id=name,
                     detail={"unarchived": True} if unarchived else None)
        session.commit()
    return rnd


# --- managing a round -------------------------------------------------------------------------------

def count_round_labels(session: Session, round_id: int) -> int:
    return int(session.execute(select(func.count()).select_from(Label).where(Label.round_id == round_id)).scalar_one())


def delete_round(session: Session, *, name: str, actor: str) -> int:
    """Delete a round that has no labels yet (e.g. drawn with the wrong size), with its assignments.

    Returns the number of assignments removed. A round with labels or decisions is kept: close and
    archive it instead. Audited with the round's sampling specification and seed.
    """
    rnd = require_round(session, name)
    n_labels = count_round_labels(session, rnd.id)
    if n_labels:
        raise Conflict(f"round '{name}' has {n_labels:,} label(s) and cannot be deleted; close and archive it instead")
    if session.execute(select(Decision.id).where(Decision.round_id == rnd.id).limit(1)).first() is not None:
        raise Conflict(f"round '{name}' has decisions and cannot be deleted; close and archive it instead")
    n = session.execute(delete(Assignment).where(Assignment.round_id == rnd.id)).rowcount or 0
    audit.record(session, actor=actor, action="round_deleted", entity="round", entity_id=name,
                 detail={"assignments": int(n), "seed": rnd.seed, "sampling_spec": rnd.sampling_spec})
    session.delete(rnd)
    session.commit()
    return int(n)


def archive_round(session: Session, *, name: str, actor: str, archived: bool = True) -> Round:
    """Archive a closed round (hidden from reviewers' lists; reports and exports keep it), or restore it."""
    rnd = require_round(session, name)
    if archived and rnd.status != RoundStatus.closed.value:
        raise Conflict(f"round '{name}' is open: close it before archiving it")
    if (rnd.archived_at is not None) == archived:
        return rnd
    rnd.archived_at = utcnow() if archived else None
    session.add(rnd)
    audit.record(session, actor=actor, action="round_archived" if archived else "round_unarchived", entity="round",
                 entity_id=name)
    session.commit()
    return rnd


def set_due_date(session: Session, *, name: str, due_on: date | None, actor: str) -> Round:
    """Set (or with None clear) the date by which a round's labels are due; reviewers see it."""
    rnd = require_round(session, name)
    if due_on is not None and not isinstance(due_on, date):
        raise InvalidInput("the due date must be a date (YYYY-MM-DD)", option="due")
    if rnd.due_on != due_on:
        rnd.due_on = due_on
        session.add(rnd)
        audit.record(session, actor=actor, action="round_due_date", entity="round", entity_id=name,
                     detail={"due_on": due_on.isoformat() if due_on else None})
        session.commit()
    return rnd


@dataclass
class Reassignment:
    moved: dict[str, int] = field(default_factory=dict)  # target reviewer -> threads moved to them
    kept: int = 0  # unlabeled threads that stayed: every target already had them

    @property
    def n_moved(self) -> int:
        return sum(self.moved.values())


def plan_reassignment(threads: list[int], loads: dict[str, int], already: dict[str, set[int]],
                      targets: list[str]) -> tuple[list[tuple[int, str]], list[int]]:
    """Give each thread (in order) to the eligible target with the fewest unlabeled threads so far.

    A target is eligible when it does not already have the thread in the round (a reviewer never
    labels a thread twice); ties go to the target listed first. Returns (thread, target) pairs and
    the threads no target could take. Pure and deterministic.
    """
    loads = dict(loads)
    pairs, left = [], []
    for tid in threads:
        eligible = [t for t in targets if tid not in already.get(t, set())]
        if not eligible:
            left.append(tid)
            continue
        best = min(eligible, key=lambda t: (loads.get(t, 0), targets.index(t)))
        pairs.append((tid, best))
        loads[best] = loads.get(best, 0) + 1
        already.setdefault(best, set()).add(tid)
    return pairs, left


def reassign_unlabeled(session: Session, *, name: str, from_reviewer: str, to_reviewers: list[str],
                       count: int | None = None, actor: str) -> Reassignment:
    """Move a reviewer's unlabeled threads in an open round to other reviewers, balanced.

    Without `count` every unlabeled thread moves (replacing the reviewer: their labels stay theirs);
    with it, that many from the end of their queue (what they would reach last). Each thread goes
    to the target with the fewest unlabeled threads in the round who does not already have it, and
    joins the end of that reviewer's queue. Targets must be active accounts. One transaction, audited.
    """
    rnd = require_round(session, name)
    if rnd.status != RoundStatus.open.value:
        raise Conflict(f"round '{name}' is closed: reopen it before moving work")
    targets = [t.strip() for t in to_reviewers if t and t.strip()]
    if not targets:
        raise InvalidInput("choose at least one reviewer to take the threads", option="to")
    if len(set(targets)) != len(targets):
        raise InvalidInput("a reviewer is listed twice", option="to")
    if from_reviewer in targets:
        raise InvalidInput(f"'{from_reviewer}' cannot take their own threads", option="to")
    if count is not None and count < 1:
        raise InvalidInput("the number of threads to move must be at least 1", option="count")
    accounts = {a.username: a for a in session.execute(
        select(Account).where(Account.username.in_([from_reviewer, *targets]))).scalars()}
    if from_reviewer not in accounts:
        raise NotFound(f"no account '{from_reviewer}'")
    for t in targets:
        if t not in accounts:
            raise NotFound(f"no account '{t}'")
        if not accounts[t].active:
            raise InvalidInput(f"account '{t}' is not active", option="to")
    source = accounts[from_reviewer].id
    labeled = select(Label.thread_id).where(Label.round_id == rnd.id, Label.reviewer_id == source)
    open_rows = session.execute(
        select(Assignment.thread_id).where(Assignment.round_id == rnd.id, Assignment.reviewer_id == source,
                                           Assignment.thread_id.not_in(labeled))
        .order_by(Assignment.position)).scalars().all()
    if not open_rows:
        raise Conflict(f"'{from_reviewer}' has no unlabeled threads in round '{name}'")
    threads = list(open_rows) if count is None else list(open_rows)[-count:]
    target_ids = {t: accounts[t].id for t in targets}
    already: dict[str, set[int]] = {t: set() for t in targets}
    by_id = {v: k for k, v in target_ids.items()}
    for tid, rid in session.execute(select(Assignment.thread_id, Assignment.reviewer_id).where(
            Assignment.round_id == rnd.id, Assignment.reviewer_id.in_(target_ids.values()))).all():
        already[by_id[rid]].add(tid)
    done = dict(session.execute(select(Label.reviewer_id, func.count()).where(
        Label.round_id == rnd.id, Label.reviewer_id.in_(target_ids.values())).group_by(Label.reviewer_id)).all())
    loads = {t: len(already[t]) - int(done.get(target_ids[t], 0)) for t in targets}
    pairs, left = plan_reassignment(threads, loads, already, targets)
    next_pos = dict(session.execute(select(Assignment.reviewer_id, func.max(Assignment.position) + 1).where(
        Assignment.round_id == rnd.id, Assignment.reviewer_id.in_(target_ids.values()))
        .group_by(Assignment.reviewer_id)).all())
    result = Reassignment(kept=len(left))
    for tid, target in pairs:
        rid = target_ids[target]
        pos = int(next_pos.get(rid) or 0)
        next_pos[rid] = pos + 1
        session.execute(update(Assignment).where(
            Assignment.round_id == rnd.id, Assignment.thread_id == tid, Assignment.reviewer_id == source)
            .values(reviewer_id=rid, position=pos))
        result.moved[target] = result.moved.get(target, 0) + 1
    if not pairs:
        raise Conflict(f"every reviewer chosen already has these threads in round '{name}'; choose someone else")
    audit.record(session, actor=actor, action="assignments_reassigned", entity="round", entity_id=name,
                 detail={"from": from_reviewer, "to": result.moved, "kept": result.kept,
                         "all_unlabeled": count is None})
    session.commit()
    return result


def set_round_options(session: Session, *, name: str, actor: str, acceptance_rule: str | None = None,
                      reveal_enabled: bool | None = None) -> Round:
    rnd = require_round(session, name)
    if acceptance_rule is not None:
        if acceptance_rule not in ACCEPTANCE_RULES:
            raise InvalidInput(f"acceptance rule must be one of {', '.join(ACCEPTANCE_RULES)}")
        rnd.acceptance_rule = acceptance_rule
    if reveal_enabled is not None:
        rnd.reveal_enabled = reveal_enabled
    session.add(rnd)
    audit.record(session, actor=actor, action="round_options", entity="round", entity_id=name,
                 detail={"acceptance_rule": acceptance_rule, "reveal_enabled": reveal_enabled})
    session.commit()
    return rnd


def thread_ids_by_external(session: Session, external_ids: list[str]) -> dict[str, int]:
    """Map external thread ids to row ids, in batches (unknown ids are absent)."""
    found: dict[str, int] = {}
    unique = list(dict.fromkeys(external_ids))
    for i in range(0, len(unique), 5000):
        batch = unique[i : i + 5000]
        found.update(dict(session.execute(select(Thread.external_id, Thread.id).where(Thread.external_id.in_(batch))).all()))
    return found


@dataclass
class LabelImport:
    round: Round
    created_round: bool
    inserted: int
    updated: int
    unchanged: int
    new_reviewers: list[str]


def import_labels(session: Session, path: Path | str, *, round_name: str, actor: str = "cli") -> LabelImport:
    """Import a long CSV `thread_id,reviewer,category[,note,unsure,seconds_spent]` into a round.

    The round is created (newest codebook) if absent; its assignments follow from the labels.
    Any unknown thread id or category, empty field or duplicate (thread, reviewer) stops the import
    with every bad row listed; nothing is written. Re-importing the same file changes nothing.
    """
    path = Path(path)
    df = read_small_csv(path, required=("thread_id", "reviewer", "category"))
    rnd = get_round(session, round_name)
    version = require_version(session) if rnd is None else None
    version_id = rnd.codebook_version_id if rnd else version.id
    if rnd is not None and rnd.status == RoundStatus.closed.value:
        raise Conflict(f"round '{round_name}' is closed; reopen it before importing labels")
    names = category_names(session, version_id)
    lookup = {n.casefold(): n for n in names}
    ids = thread_ids_by_external(session, df["thread_id"].tolist())
    problems: list[tuple[int, str | None, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for i, rec in enumerate(df.itertuples(index=False), start=2):
        tid, reviewer, cat = rec.thread_id, rec.reviewer, rec.category
        if not tid:
            problems.append((i, "thread_id", "empty thread_id"))
        elif tid not in ids:
            problems.append((i, "thread_id", f"unknown thread id '{tid[:60]}'; import the threads first"))
        if not reviewer:
            problems.append((i, "reviewer", "empty reviewer"))
        elif any(c.isspace() for c in reviewer) or "," in reviewer:
            problems.append((i, "reviewer", f"reviewer '{reviewer[:60]}' has spaces or commas"))
        if not cat:
            problems.append((i, "category", "empty category"))
        elif cat.casefold() not in lookup:
            problems.append((i, "category", f"unknown category '{cat[:60]}'; the codebook has: {', '.join(names)}"))
        key = (tid, reviewer)
        if tid and reviewer:
            if key in seen:
                problems.append((i, "thread_id", f"thread '{tid[:60]}' labeled twice by '{reviewer}' (first at row {seen[key]})"))
            else:
                seen[key] = i
    for col in df.columns:  # PostgreSQL text cannot hold NUL; SQLite would store it silently
        for i in df.index[df[col].map(lambda v: isinstance(v, str) and "\x00" in v)]:
            problems.append((int(i) + 2, col, "contains a NUL character (0x00), which cannot be stored"))
    unsure = pd.Series(False, index=df.index)
    if "unsure" in df.columns:
        parsed = df["unsure"].map(_boolean)
        for i in df.index[parsed.isna()]:
            problems.append((int(i) + 2, "unsure", f"'{str(df.at[i, 'unsure'])[:20]}' is not true or false; use "
                                                   "true/false, yes/no, 1/0 or leave it empty"))
        unsure = parsed.fillna(False).astype(bool)
    seconds = None
    if "seconds_spent" in df.columns:
        seconds = pd.to_numeric(df["seconds_spent"].replace("", None), errors="coerce")
        for i in df.index[(df["seconds_spent"] != "") & seconds.isna()]:
            problems.append((int(i) + 2, "seconds_spent", "not a number"))
    if problems:
        problems.sort()
        raise RowErrors(path.name, problems)

    created = rnd is None
    if created:
        rnd = Round(name=round_name, codebook_version_id=version_id, per_thread=0,
                    sampling_spec={"imported_from": path.name}, created_by=actor)
        session.add(rnd)
        session.flush()
    reviewers = sorted(set(df["reviewer"]))
    existing_accounts = {a for a in session.execute(select(Account.username).where(Account.username.in_(reviewers))).scalars()}
    accounts = ensure_reviewers(session, reviewers, actor=actor)
    assigned = {(t, r) for t, r in session.execute(
        select(Assignment.thread_id, Assignment.reviewer_id).where(Assignment.round_id == rnd.id)).all()}
    labels = {(lab.thread_id, lab.reviewer_id): lab for lab in session.execute(
        select(Label).where(Label.round_id == rnd.id)).scalars()}
    next_pos = dict(session.execute(select(Assignment.reviewer_id, func.max(Assignment.position) + 1)
                                    .where(Assignment.round_id == rnd.id).group_by(Assignment.reviewer_id)).all())
    new_assign, new_labels = [], []
    inserted = updated = unchanged = 0
    now = utcnow()
    for idx, rec in enumerate(df.itertuples(index=False)):
        tid, rid = ids[rec.thread_id], accounts[rec.reviewer].id
        cat = lookup[rec.category.casefold()]
        note = getattr(rec, "note", "") or ""
        uns = bool(unsure.iloc[idx])
        sec = None if seconds is None or pd.isna(seconds.iloc[idx]) else float(seconds.iloc[idx])
        if (tid, rid) not in assigned:
            pos = next_pos.get(rid, 0)
            next_pos[rid] = pos + 1
            new_assign.append({"round_id": rnd.id, "thread_id": tid, "reviewer_id": rid, "position": pos})
            assigned.add((tid, rid))
        lab = labels.get((tid, rid))
        if lab is None:
            new_labels.append({"round_id": rnd.id, "thread_id": tid, "reviewer_id": rid, "category": cat,
                               "codebook_version_id": version_id, "note": note, "unsure": uns, "seconds_spent": sec,
                               "created_at": now, "updated_at": now})
            inserted += 1
        elif (lab.category, lab.note, lab.unsure) != (cat, note, uns):
            audit.record(session, actor=actor, action="label_changed", entity="label", entity_id=lab.id,
                         detail={"from": lab.category, "to": cat, "source": path.name})
            lab.category, lab.note, lab.unsure, lab.updated_at = cat, note, uns, now
            session.add(lab)
            updated += 1
        else:
            unchanged += 1
    if new_assign:
        session.execute(insert(Assignment), new_assign)
    if new_labels:
        session.execute(insert(Label), new_labels)
    per_thread = session.execute(text(
        "SELECT max(c) FROM (SELECT count(*) AS c FROM assignment WHERE round_id = :r GROUP BY thread_id) AS t"),
        {"r": rnd.id}).scalar() or 0
    rnd.per_thread = max(rnd.per_thread or 0, int(per_thread))
    session.add(rnd)
    audit.record(session, actor=actor, action="import_labels", entity="round", entity_id=round_name,
                 detail={"file": path.name, "inserted": inserted, "updated": updated, "created_round": created})
    session.commit()
    return LabelImport(round=rnd, created_round=created, inserted=inserted, updated=updated, unchanged=unchanged,
                       new_reviewers=[r for r in reviewers if r not in existing_accounts])


def _truthy(value: object) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "y", "x"}


def labels_frame(session: Session, round_name: str) -> pd.DataFrame:
    """All labels of a round with thread and reviewer names (for export and statistics)."""
    rnd = require_round(session, round_name)
    stmt = (select(Thread.external_id.label("thread_id"), Account.username.label("reviewer"), Label.category,
                   Label.unsure, Label.note, Label.seconds_spent, Label.post_reveal_category,
                   Label.codebook_version_id, Label.created_at, Label.updated_at)
            .join(Thread, Thread.id == Label.thread_id).join(Account, Account.id == Label.reviewer_id)
            .where(Label.round_id == rnd.id).order_by(Thread.external_id, Account.username))
    rows = session.execute(stmt).all()
    df = pd.DataFrame(rows, columns=["thread_id", "reviewer", "category", "unsure", "note", "seconds_spent",
                                     "post_reveal_category", "codebook_version_id", "created_at", "updated_at"])
    df.insert(0, "round", round_name)
    return df


@dataclass
class ReviewerProgress:
    reviewer: str
    assigned: int
    done: int


def round_progress(session: Session, round_name: str) -> list[ReviewerProgress]:
    rnd = require_round(session, round_name)
    assigned = dict(session.execute(select(Account.username, func.count()).select_from(Assignment).join(Account, Account.id == Assignment.reviewer_id)
                                    .where(Assignment.round_id == rnd.id).group_by(Account.username)).all())
    done = dict(session.execute(select(Account.username, func.count()).select_from(Label).join(Account, Account.id == Label.reviewer_id)
                                .where(Label.round_id == rnd.id).group_by(Account.username)).all())
    return [ReviewerProgress(r, int(assigned.get(r, 0)), int(done.get(r, 0))) for r in sorted(assigned)]


_TRUE = {"1", "true", "yes", "y", "t", "x", "unsure"}
_FALSE = {"", "0", "false", "no", "n", "f"}


def _boolean(value) -> bool | None:
    """True/False for the usual spellings of a spreadsheet boolean; None for anything else ('maybe')."""
    text = str(value or "").strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None
