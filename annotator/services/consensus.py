"""The gold standard: one read model of every sampled thread's final label.

For every sampled thread of one or more rounds (the threads with assignments in the round), this is
the one place that says:

- its **final label** (``category``: under today's category names, the codebook's renames and merges
  applied; ``recorded``: as recorded under the round's own codebook version),
- **how it was reached** (``method``): ``unanimous`` or ``majority`` (the round's acceptance rule
  applied to the independent labels, :func:`annotator.adjudication.assess`), ``adjudicated`` (a lead's
  decision, on the Adjudicate page or with ``annotator import-decisions``) or ``third_reviewer``,
- **who decided** (``decided_by``: the lead or third reviewer; None when the labels decided by rule),
- its **status**: ``decided``, or ``pending`` with why (``reasons``): ``missing`` labels,
  ``disagreement``, ``unsure``, sent to a ``third_reviewer`` (waiting for them), or on the meeting
  list (``discuss``).

The consensus is reached under the round's own codebook: a disagreement between two categories that a
later version merged is still a disagreement of that round; only the final label is renamed.

Everything is keyed by integer ids, ``(round_id, thread_id)``; a thread sampled in two rounds has a row
in each. Callers never rebuild any of this from raw labels: agreement, the model report and the reveal
measure, error analysis, the dashboard, prevalence, codebook refinement, local-model training and
``export consensus`` all read it. :meth:`Consensus.require_complete` is the gate the model and
prevalence figures pass through: a decided subset is not a random sample.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import pandas as pd
from sqlalchemy import func, select
from sqlmodel import Session

from annotator.adjudication import Assessment, Vote, assess
from annotator.data.models import Account, Assignment, Decision, Label, Round, RoundStatus, Thread
from annotator.errors import PendingThreads
from annotator.services.codebook import codebook_renames
from annotator.services.rounds import list_rounds, require_round

METHODS = ("unanimous", "majority", "adjudicated", "third_reviewer")
PENDING_REASONS = ("third_reviewer", "discuss", "missing", "disagreement", "unsure")  # most specific first
METHOD_WORDS = {"unanimous": "unanimous", "majority": "accepted by majority", "adjudicated": "adjudicated by a lead",
                "third_reviewer": "decided by a third reviewer"}
REASON_WORDS = {"missing": "missing labels", "disagreement": "disagreement", "unsure": "marked unsure",
                "third_reviewer": "with a third reviewer", "discuss": "on the meeting list"}
EXPORT_COLUMNS = ["round", "thread_id", "category", "rationale", "decided_by", "method", "status", "pending_reason",
                  "reported_as", "votes"]
_CHUNK = 5000


@dataclass(frozen=True)
class RoundRef:
    """What the read model needs of a round."""

    id: int
    name: str
    status: str
    codebook_version_id: int
    acceptance_rule: str
    per_thread: int
    sampling_spec: Mapping[str, Any] | None

    @property
    def closed(self) -> bool:
        return self.status == RoundStatus.closed.value


class ConsensusRow(NamedTuple):
    """One sampled thread of one round (a named tuple: tens of thousands are made per read)."""

    round_id: int
    thread_id: int
    external_id: str
    category: str | None  # final label under today's names (None while pending)
    recorded: str | None  # final label as recorded under the round's codebook
    method: str | None  # unanimous | majority | adjudicated | third_reviewer
    decided_by: str | None  # the lead or third reviewer; None when the labels decided by rule
    rationale: str
    reasons: tuple[str, ...]  # why it is pending, most specific first; () when decided
    votes: tuple[tuple[str, int], ...]  # recorded category -> number of independent labels

    @property
    def decided(self) -> bool:
        return self.category is not None

    @property
    def status(self) -> str:
        return "decided" if self.decided else "pending"

    @property
    def pending_reason(self) -> str | None:
        return self.reasons[0] if self.reasons else None


@dataclass(frozen=True)
class Completeness:
    """How far one round's gold standard is: sampled, decided and pending threads, and why."""

    round_id: int
    round_name: str
    n_sampled: int
    n_decided: int
    by_method: dict[str, int]
    by_reason: dict[str, int]  # primary reason of each pending thread
    first_pending: tuple[str, ...]  # external ids of a few pending threads

    @property
    def n_pending(self) -> int:
        return self.n_sampled - self.n_decided

    def sentence(self) -> str:
        """'120 sampled threads: 68 decided (60 unanimous, 8 adjudicated by a lead), 52 pending (30
        disagreement, 22 marked unsure).'"""
        methods = ", ".join(f"{n} {METHOD_WORDS.get(m, m)}" for m, n in self.by_method.items())
        text = f"{self.n_sampled} sampled threads: {self.n_decided} decided" + (f" ({methods})" if methods else "")
        if self.n_pending:
            text += f", {self.n_pending} pending ({reason_text(self.by_reason)})"
        return text + "."

    def as_dict(self) -> dict[str, Any]:
        return {"round": self.round_name, "n_sampled": self.n_sampled, "n_decided": self.n_decided,
                "n_pending": self.n_pending, "by_method": dict(self.by_method), "pending_by_reason": dict(self.by_reason)}


def reason_text(by_reason: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {REASON_WORDS.get(r, r)}" for r, n in by_reason.items())


@dataclass(frozen=True)
class Consensus:
    """The gold standard of some rounds (see the module docstring). Rows are ordered by round (oldest
    first), then by external thread id."""

    rounds: tuple[RoundRef, ...]
    rows: tuple[ConsensusRow, ...]
    votes: pd.DataFrame  # round_id, thread_id, reviewer, category (today's name), recorded, unsure
    renames: Mapping[str, str] = field(default_factory=dict)

    # -- selections ---------------------------------------------------------------------------------
    def decided(self) -> list[ConsensusRow]:
        return [r for r in self.rows if r.decided]

    def pending(self) -> list[ConsensusRow]:
        return [r for r in self.rows if not r.decided]

    @property
    def n_decided(self) -> int:
        return sum(r.decided for r in self.rows)

    @property
    def n_pending(self) -> int:
        return len(self.rows) - self.n_decided

    def round(self, round_id: int) -> RoundRef:
        return next(r for r in self.rounds if r.id == round_id)

    def labels(self) -> dict[tuple[int, int], str]:
        """(round_id, thread_id) -> final label (today's names), decided threads only."""
        return {(r.round_id, r.thread_id): r.category for r in self.rows if r.decided}  # type: ignore[misc]

    def latest(self) -> dict[int, ConsensusRow]:
        """thread_id -> its decided row; a thread decided in several rounds takes the newest round's."""
        out: dict[int, ConsensusRow] = {}
        for r in self.rows:  # oldest round first, so a newer decision overwrites
            if r.decided:
                out[r.thread_id] = r
        return out

    def latest_labels(self) -> dict[int, str]:
        """thread_id -> final label (today's names), newest round wins."""
        return {t: r.category for t, r in self.latest().items()}  # type: ignore[misc]

    # -- completeness -------------------------------------------------------------------------------
    def completeness(self) -> list[Completeness]:
        by_round: dict[int, list[ConsensusRow]] = defaultdict(list)
        for r in self.rows:
            by_round[r.round_id].append(r)
        out = []
        for rnd in self.rounds:
            mine = by_round[rnd.id]
            methods = Counter(r.method for r in mine if r.decided)
            reasons = Counter(r.pending_reason for r in mine if not r.decided)
            out.append(Completeness(
                round_id=rnd.id, round_name=rnd.name, n_sampled=len(mine), n_decided=sum(methods.values()),
                by_method={m: methods[m] for m in METHODS if methods[m]},
                by_reason={k: reasons[k] for k in PENDING_REASONS if reasons[k]},
                first_pending=tuple(r.external_id for r in mine if not r.decided)[:3]))
        return out

    def completeness_text(self) -> str:
        """One sentence per round: 'Round 'pilot': 150 sampled threads: 150 decided (...).'"""
        return " ".join(f"Round '{c.round_name}': {c.sentence()}" for c in self.completeness())

    def check_pending(self, *, allow_pending: bool = False, what: str = "this report") -> None:
        """Refuse (``PendingThreads``, one line) while any sampled thread is pending, unless ``allow_pending``."""
        parts = [c for c in self.completeness() if c.n_pending]
        if parts and not allow_pending:
            raise PendingThreads(pending_message(parts, what=what), [(c.round_name, c.n_pending, c.n_sampled)
                                                                     for c in parts])

    def require_complete(self, *, allow_pending: bool = False, what: str = "this report") -> None:
        """:meth:`check_pending`, and refuse in any case when no thread is decided (nothing to compute on)."""
        self.check_pending(allow_pending=allow_pending, what=what)
        if not self.n_decided:
            names = ", ".join(f"'{r.name}'" for r in self.rounds) or "(none)"
            raise PendingThreads(f"no sampled thread of round(s) {names} has a final label yet, so {what} has "
                                 "nothing to work on: adjudicate on the Adjudicate page or with "
                                 "'annotator import-decisions FILE --round NAME'",
                                 [(c.round_name, c.n_pending, c.n_sampled) for c in self.completeness()])

    # -- tables -------------------------------------------------------------------------------------
    def ratings(self, *, exclude_reviewers: Iterable[str] = ()) -> pd.DataFrame:
        """The independent labels as a long table ``item, round_id, thread_id, reviewer, category``
        (today's names). ``item`` is an integer, one per (round, thread), so a thread labelled in two
        rounds is two items."""
        excluded = set(exclude_reviewers)
        votes = self.votes[~self.votes["reviewer"].isin(excluded)] if excluded else self.votes
        keys = pd.MultiIndex.from_arrays([votes["round_id"], votes["thread_id"]])
        item_of = pd.MultiIndex.from_tuples([(r.round_id, r.thread_id) for r in self.rows],
                                            names=["round_id", "thread_id"]) if self.rows else None
        items = item_of.get_indexer(keys) if item_of is not None else []
        out = pd.DataFrame({"item": pd.Series(items, dtype="int64"), "round_id": votes["round_id"].to_numpy(),
                            "thread_id": votes["thread_id"].to_numpy(), "reviewer": votes["reviewer"].to_numpy(),
                            "category": votes["category"].to_numpy()})
        return out[out["item"] >= 0].reset_index(drop=True)

    def frame(self) -> pd.DataFrame:
        """One row per sampled thread for ``export consensus``: the columns ``import-decisions`` reads
        back (thread_id, category as recorded under the round's codebook, rationale, decided_by) and the
        method, status, pending reason, today's name and the vote counts."""
        names = {r.id: r.name for r in self.rounds}
        rows = []
        for r in self.rows:
            rows.append({
                "round": names[r.round_id], "thread_id": r.external_id, "category": r.recorded,
                "rationale": r.rationale or None, "decided_by": r.decided_by, "method": r.method,
                "status": r.status, "pending_reason": ", ".join(REASON_WORDS[x] for x in r.reasons) or None,
                "reported_as": r.category if r.category != r.recorded else None,
                "votes": "; ".join(f"{c}={n}" for c, n in r.votes)})
        return pd.DataFrame(rows, columns=EXPORT_COLUMNS, dtype=object)


def pending_message(parts: Sequence[Completeness], *, what: str) -> str:
    """One line: which rounds have how many pending threads, how to finish them, how to override."""
    def one(c: Completeness) -> str:
        first = ", ".join(" ".join(e.split())[:40] for e in c.first_pending)
        return (f"round '{c.round_name}': {c.n_pending} of {c.n_sampled} sampled threads are pending "
                f"({reason_text(c.by_reason)}; first: {first})")

    rounds = "; ".join(one(c) for c in parts)
    target = parts[0].round_name if len(parts) == 1 else "NAME"
    decided = sum(c.n_decided for c in parts)
    return (f"{rounds}. {what[:1].upper() + what[1:]} needs every sampled thread decided: finish them on the "
            f"Adjudicate page or with 'annotator import-decisions FILE --round {target}', or pass --allow-pending "
            f"to use the {decided} decided thread(s) of {'this round' if len(parts) == 1 else 'these rounds'} "
            "only (not a random sample)")


# --------------------------------------------------------------------------- #
# Derivation
# --------------------------------------------------------------------------- #
def _round_ref(rnd: Round) -> RoundRef:
    return RoundRef(rnd.id, rnd.name, rnd.status, rnd.codebook_version_id, rnd.acceptance_rule or "unanimous",
                    rnd.per_thread or 0, rnd.sampling_spec)


def _vote_rows(session: Session, round_ids: list[int]) -> list[tuple[int, int, str, str, bool]]:
    rows = session.execute(
        select(Label.round_id, Label.thread_id, Account.username, Label.category, Label.unsure)
        .join(Account, Account.id == Label.reviewer_id).where(Label.round_id.in_(round_ids or [-1]))
        .order_by(Label.round_id, Label.thread_id, Account.username)).all()
    return rows


def _votes_frame(rows: list[tuple[int, int, str, str, bool]], renames: Mapping[str, str]) -> pd.DataFrame:
    cols = list(zip(*rows)) if rows else [(), (), (), (), ()]
    recorded = pd.Series(cols[3], dtype=object)
    return pd.DataFrame({
        "round_id": pd.Series(cols[0], dtype="int64"), "thread_id": pd.Series(cols[1], dtype="int64"),
        "reviewer": pd.Series(cols[2], dtype=object), "recorded": recorded,
        "unsure": pd.Series([bool(u) for u in cols[4]], dtype=bool),
        "category": recorded.map(lambda c: renames.get(c, c)) if renames else recorded})


def _expected(session: Session, round_ids: list[int]) -> dict[tuple[int, int], int]:
    rows = session.execute(select(Assignment.round_id, Assignment.thread_id, func.count())
                           .where(Assignment.round_id.in_(round_ids or [-1]))
                           .group_by(Assignment.round_id, Assignment.thread_id)).all()
    return {(r, t): int(n) for r, t, n in rows}


def decisions_of(session: Session, round_ids: Iterable[int]) -> dict[tuple[int, int], Decision]:
    """(round_id, thread_id) -> the thread's Decision row (resolved, third_reviewer, discuss or a bare tag)."""
    stmt = select(Decision).where(Decision.round_id.in_(list(round_ids) or [-1]))
    return {(d.round_id, d.thread_id): d for d in session.execute(stmt).scalars()}


def _assess_all(rounds: Sequence[RoundRef], votes: list[tuple[int, int, str, str, bool]],
                expected: Mapping[tuple[int, int], int]) -> dict[tuple[int, int], Assessment]:
    by_key: dict[tuple[int, int], list[Vote]] = defaultdict(list)
    for rid, tid, reviewer, cat, unsure in votes:
        by_key[(rid, tid)].append(Vote(reviewer, cat, bool(unsure)))
    refs = {r.id: r for r in rounds}
    # K is the round's reviewers per thread: an imported round has assignments only where labels are,
    # so a thread labeled by one of three must still count as missing, not as unanimous.
    return {key: assess(by_key.get(key, []), max(n, refs[key[0]].per_thread), refs[key[0]].acceptance_rule)
            for key, n in expected.items()}


def assessments(session: Session, round_id: int) -> dict[int, Assessment]:
    """thread_id -> the acceptance rule applied to the thread's independent labels, for one round
    (the disagreement queue's view; :func:`read_consensus` adds decisions and renames)."""
    rnd = _round_ref(session.get(Round, round_id))
    assessed = _assess_all([rnd], _vote_rows(session, [rnd.id]), _expected(session, [rnd.id]))
    return {tid: a for (_, tid), a in assessed.items()}


@dataclass(frozen=True)
class _Decided:
    """The columns of a Decision row the read model needs."""

    status: str
    category: str | None
    provenance: str | None
    decided_by: str | None
    rationale: str


def _decision_rows(session: Session, round_ids: list[int]) -> dict[tuple[int, int], _Decided]:
    rows = session.execute(select(Decision.round_id, Decision.thread_id, Decision.status, Decision.category,
                                  Decision.provenance, Decision.decided_by, Decision.rationale)
                           .where(Decision.round_id.in_(round_ids or [-1]))).all()
    return {(r, t): _Decided(st, c, p, by, rat or "") for r, t, st, c, p, by, rat in rows}


def _external_ids(session: Session, thread_ids: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for start in range(0, len(thread_ids), _CHUNK):
        chunk = thread_ids[start:start + _CHUNK]
        out.update(session.execute(select(Thread.id, Thread.external_id).where(Thread.id.in_(chunk))).all())
    return out


def _row(key: tuple[int, int], ext: str, a: Assessment, d: _Decided | None,
         renames: Mapping[str, str]) -> ConsensusRow:
    rid, tid = key
    if d is not None and d.status == "resolved" and d.category:
        recorded, method, by, rationale, reasons = d.category, d.provenance or "adjudicated", d.decided_by, \
            d.rationale or "", ()
    elif a.accepted and not (d is not None and d.status in ("third_reviewer", "discuss")):
        recorded, method, by, rationale, reasons = a.accepted, a.provenance, None, "", ()
    else:  # a lead's "third reviewer" or "meeting" outranks a later automatic acceptance
        waiting = (d.status,) if d is not None and d.status in ("third_reviewer", "discuss") else ()
        found = set(waiting) | set(a.reasons) or {"missing"}
        recorded = method = by = None
        rationale, reasons = "", tuple(r for r in PENDING_REASONS if r in found)
    category = None if recorded is None else renames.get(recorded, recorded)
    return ConsensusRow(rid, tid, ext, category, recorded, method, by, rationale, reasons, a.counts)


def read_consensus(session: Session, round_names: Sequence[str] | None = None, *, round_ids: Sequence[int] | None = None,
                   closed_only: bool = False) -> Consensus:
    """The gold standard of the named rounds (or the rounds with these ids; default: every round).

    ``closed_only`` keeps the closed rounds only (their labels can no longer change). A read: one
    query each for rounds, labels, assignments, decisions and thread ids, whatever the number of rounds.
    Unknown round names raise ``NotFound``.
    """
    if round_names is not None:
        rounds = [require_round(session, n) for n in dict.fromkeys(round_names)]
    elif round_ids is not None:
        wanted = set(round_ids)
        rounds = [r for r in list_rounds(session) if r.id in wanted]
    else:
        rounds = list_rounds(session)
    selected = sorted((r for r in rounds if not closed_only or r.status == RoundStatus.closed.value),
                      key=lambda r: (r.created_at, r.id))
    ordered = [_round_ref(r) for r in selected]
    ids = [r.id for r in ordered]
    renames = codebook_renames(session)
    vote_rows = _vote_rows(session, ids)
    expected = _expected(session, ids)
    assessed = _assess_all(ordered, vote_rows, expected)
    decisions = _decision_rows(session, ids)
    ext = _external_ids(session, sorted({t for _, t in expected}))
    position = {rid: i for i, rid in enumerate(ids)}
    keys = sorted(assessed, key=lambda k: (position[k[0]], ext.get(k[1], ""), k[1]))
    rows = tuple(_row(k, ext.get(k[1], str(k[1])), assessed[k], decisions.get(k), renames) for k in keys)
    return Consensus(rounds=tuple(ordered), rows=rows, votes=_votes_frame(vote_rows, renames), renames=dict(renames))
