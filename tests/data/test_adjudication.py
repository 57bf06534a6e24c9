"""The adjudication flow on SQLite and PostgreSQL: the disagreement queue, lead decisions and their
revisions, the third reviewer, the meeting list, definition problems, the majority rule, and the
consensus export."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import pytest
from sqlalchemy import select
from sqlmodel import Session

from annotator.data.models import Account, AuditEvent, Round, Thread
from annotator.errors import Conflict, InvalidInput, NotAllowed, NotFound
from annotator.services import adjudication as adj
from annotator.services.accounts import create_account, update_account
from annotator.services.labeling import submit_label
from annotator.services.consensus import read_consensus
from annotator.services.rounds import import_labels, set_round_options
from tests.factories import make_codebook, make_round, make_threads, run_cli

REVIEWERS = ("alice", "bob", "carol")
# Thread index -> each reviewer's label (None: not labeled) and who marked it unsure.
PLAN: dict[int, tuple[tuple[str | None, ...], tuple[str, ...]]] = {
    0: (("A", "A", "A"), ()),          # unanimous
    1: (("A", "A", "B"), ()),          # two to one: A vs B
    2: (("A", "B", "C"), ()),          # all differ: A vs B, most split
    3: (("B", "B", None), ()),         # carol has not labeled it
    4: (("C", "C", "C"), ("bob",)),    # agreement, but bob is unsure
    5: (("B", "C", "C"), ()),          # two to one: B vs C
}


@dataclass
class Flow:
    session: Session
    round: Round
    ext: list[str]  # external ids by plan index
    tid: dict[str, int]  # external id -> row id
    judge: Account

    def item(self, i: int) -> tuple[int, int]:
        return self.round.id, self.tid[self.ext[i]]


@pytest.fixture
def flow(session) -> Flow:
    """A round of six threads, three reviewers each, labeled as in PLAN, plus an adjudicator account."""
    make_codebook(session, ["A", "B", "C", "Other"])
    make_threads(session, 6, seed=4)
    rnd = make_round(session, name="r1", size=6, reviewers=REVIEWERS, per_thread=3, seed=2).round
    ext = sorted(session.execute(select(Thread.external_id)).scalars())
    tid = dict(session.execute(select(Thread.external_id, Thread.id)).all())
    accounts = {a.username: a for a in session.execute(select(Account)).scalars()}
    for i, (cats, unsure) in PLAN.items():
        for reviewer, cat in zip(REVIEWERS, cats):
            if cat is not None:
                submit_label(session, round_id=rnd.id, thread_id=tid[ext[i]], reviewer_id=accounts[reviewer].id,
                             category=cat, unsure=reviewer in unsure, actor=reviewer)
    judge = create_account(session, username="judge", role="reviewer", is_adjudicator=True, actor="test")
    return Flow(session, rnd, ext, tid, judge)


def queue_ids(flow: Flow, **kwargs) -> list[str]:
    return [i.external_id for i in adj.disagreement_queue(flow.session, "r1", **kwargs)]


def blank(value):
    """A frame's missing cell (None, NaN or an empty CSV cell) as None."""
    return None if value is None or value == "" or (not isinstance(value, str) and pd.isna(value)) else value


def records(df: pd.DataFrame) -> dict[str, dict]:
    """Rows by thread id, missing cells as None."""
    return {row["thread_id"]: {k: blank(v) for k, v in row.items()} for row in df.to_dict("records")}


def consensus(flow: Flow) -> dict[str, dict]:
    return records(read_consensus(flow.session, ["r1"]).frame())


def audit_rows(flow: Flow, action: str) -> list[AuditEvent]:
    return list(flow.session.execute(select(AuditEvent).where(AuditEvent.action == action)
                                     .order_by(AuditEvent.id)).scalars())


# --------------------------------------------------------------------------- #
# Queue
# --------------------------------------------------------------------------- #
def test_queue_lists_disagreement_missing_and_unsure_most_split_first(flow):
    items = adj.disagreement_queue(flow.session, "r1")
    e = flow.ext
    assert [i.external_id for i in items] == [e[2], e[1], e[5], e[3], e[4]]
    by_ext = {i.external_id: i for i in items}
    assert by_ext[e[2]].assessment.reasons == ("disagreement",)
    assert by_ext[e[3]].assessment.reasons == ("missing",)
    assert by_ext[e[4]].assessment.reasons == ("unsure",)
    assert {i.state for i in items} == {"open"}
    assert e[0] not in by_ext  # unanimous threads need nobody


def test_queue_is_grouped_by_pair_with_counts_and_filters_by_pair(flow):
    items = adj.disagreement_queue(flow.session, "r1")
    assert adj.pair_counts(items) == [("(no competing category)", 2), ("A vs B", 2), ("B vs C", 1)]
    assert queue_ids(flow, pair="A vs B") == [flow.ext[2], flow.ext[1]]
    assert queue_ids(flow, pair="B vs C") == [flow.ext[5]]
    assert queue_ids(flow, pair="A vs C") == []


def test_thread_votes_name_every_reviewer_for_the_lead(flow):
    votes = adj.thread_votes(flow.session, *flow.item(4))
    assert [(v.reviewer, v.category, v.unsure) for v in votes] == [
        ("alice", "C", False), ("bob", "C", True), ("carol", "C", False)]


def test_unknown_round_is_a_clear_error(flow):
    with pytest.raises(NotFound, match="no round named 'nope'"):
        adj.disagreement_queue(flow.session, "nope")


# --------------------------------------------------------------------------- #
# Lead decisions
# --------------------------------------------------------------------------- #
def test_resolve_makes_an_adjudicated_consensus_label_and_leaves_the_queue(flow):
    adj.resolve(flow.session, round_id=flow.round.id, thread_id=flow.item(2)[1], category="B",
                rationale="  the request is about B  ", actor="lead1")
    row = consensus(flow)[flow.ext[2]]
    assert (row["category"], row["method"], row["decided_by"], row["status"]) == ("B", "adjudicated", "lead1", "decided")
    assert row["rationale"] == "the request is about B"
    assert row["votes"] == "A=1; B=1; C=1"
    assert flow.ext[2] not in queue_ids(flow)
    resolved = [i for i in adj.disagreement_queue(flow.session, "r1", include_resolved=True) if i.state == "resolved"]
    assert [i.external_id for i in resolved] == [flow.ext[2]]
    assert resolved[0].decision.rationale == "the request is about B"
    [event] = audit_rows(flow, "adjudicate")
    assert event.actor == "lead1" and event.entity == "decision"
    assert event.entity_id == f"{flow.round.id}/{flow.item(2)[1]}"
    assert event.detail["before"] is None and event.detail["after"]["category"] == "B"
    assert "rationale" not in event.detail["after"]


def test_revising_a_decision_keeps_both_in_the_audit_log(flow):
    rid, tid = flow.item(1)
    adj.resolve(flow.session, round_id=rid, thread_id=tid, category="A", rationale="first look", actor="lead1")
    adj.resolve(flow.session, round_id=rid, thread_id=tid, category="B", rationale="on reflection", actor="lead2")
    row = consensus(flow)[flow.ext[1]]
    assert (row["category"], row["method"], row["decided_by"]) == ("B", "adjudicated", "lead2")
    first, second = audit_rows(flow, "adjudicate")
    assert first.detail["after"]["category"] == "A" and first.actor == "lead1"
    assert second.detail["before"] == {"status": "resolved", "category": "A", "provenance": "adjudicated"}
    assert second.detail["after"]["category"] == "B" and second.actor == "lead2"
    assert adj.get_decision(flow.session, rid, tid).rationale == "on reflection"


@pytest.mark.parametrize("category, rationale, error, message", [
    ("Nope", "why", InvalidInput, "'Nope' is not a category of this round's codebook"),
    ("A", "   ", InvalidInput, "write a short rationale"),
])
def test_resolve_refuses_bad_input_and_writes_nothing(flow, category, rationale, error, message):
    with pytest.raises(error, match=message):
        adj.resolve(flow.session, round_id=flow.round.id, thread_id=flow.item(2)[1], category=category,
                    rationale=rationale, actor="lead1")
    assert adj.get_decision(flow.session, *flow.item(2)) is None
    assert audit_rows(flow, "adjudicate") == []


def test_resolve_refuses_a_thread_outside_the_round(flow):
    [outside] = make_threads(flow.session, 1, seed=99)
    with pytest.raises(NotFound, match="not part of the round"):
        adj.resolve(flow.session, round_id=flow.round.id, thread_id=outside.id, category="A", rationale="x",
                    actor="lead1")


# --------------------------------------------------------------------------- #
# Third reviewer
# --------------------------------------------------------------------------- #
def test_third_reviewer_sees_anonymous_options_and_decides_finally(flow):
    rid, tid = flow.item(2)
    adj.send_to_third_reviewer(flow.session, round_id=rid, thread_id=tid, adjudicator="judge", actor="lead1")
    assert (consensus(flow)[flow.ext[2]]["status"], consensus(flow)[flow.ext[2]]["pending_reason"]) == (
        "pending", "with a third reviewer, disagreement")
    [(rnd, decision, ext)] = adj.third_review_queue(flow.session, flow.judge.id)
    assert (rnd.name, decision.thread_id, ext) == ("r1", tid, flow.ext[2])
    [item] = [i for i in adj.disagreement_queue(flow.session, "r1") if i.external_id == flow.ext[2]]
    assert item.state == "third_reviewer"

    options = adj.anonymous_options(flow.session, rid, tid, seed=decision.id)
    assert sorted(options) == ["A", "B", "C"]
    assert not any(name in " ".join(options) for name in REVIEWERS)
    assert options == adj.anonymous_options(flow.session, rid, tid, seed=decision.id)  # stable for one decision
    orders = {tuple(adj.anonymous_options(flow.session, rid, tid, seed=s)) for s in range(30)}
    assert len(orders) > 1  # shuffled, not in a fixed (e.g. vote) order

    adj.third_reviewer_decide(flow.session, round_id=rid, thread_id=tid, adjudicator_id=flow.judge.id, category="C",
                              rationale="C fits the definition", actor="judge")
    row = consensus(flow)[flow.ext[2]]
    assert (row["category"], row["method"], row["decided_by"], row["status"]) == (
        "C", "third_reviewer", "judge", "decided")
    assert adj.third_review_queue(flow.session, flow.judge.id) == []
    assert flow.ext[2] not in queue_ids(flow)
    assert [e.actor for e in audit_rows(flow, "send_to_third_reviewer")] == ["lead1"]
    assert [e.actor for e in audit_rows(flow, "third_reviewer_decision")] == ["judge"]


def test_someone_else_cannot_decide_for_the_third_reviewer(flow):
    rid, tid = flow.item(2)
    other = create_account(flow.session, username="judge2", is_adjudicator=True, actor="test")
    adj.send_to_third_reviewer(flow.session, round_id=rid, thread_id=tid, adjudicator="judge", actor="lead1")
    with pytest.raises(NotAllowed, match="not sent to you"):
        adj.third_reviewer_decide(flow.session, round_id=rid, thread_id=tid, adjudicator_id=other.id, category="A",
                                  rationale="", actor="judge2")
    with pytest.raises(NotAllowed, match="not sent to you"):  # never sent at all
        adj.third_reviewer_decide(flow.session, round_id=rid, thread_id=flow.item(1)[1], adjudicator_id=flow.judge.id,
                                  category="A", rationale="", actor="judge")
    assert consensus(flow)[flow.ext[2]]["pending_reason"].startswith("with a third reviewer")


def test_a_reviewer_of_the_round_cannot_be_its_third_reviewer(flow):
    update_account(flow.session, username="alice", is_adjudicator=True, actor="admin")
    rid, tid = flow.item(2)
    with pytest.raises(Conflict, match="'alice' labels in this round and cannot be its third reviewer"):
        adj.send_to_third_reviewer(flow.session, round_id=rid, thread_id=tid, adjudicator="alice", actor="lead1")
    assert adj.get_decision(flow.session, rid, tid) is None


@pytest.mark.parametrize("who", ["bob", "nobody"])
def test_only_an_adjudicator_account_can_be_sent_a_thread(flow, who):
    with pytest.raises(InvalidInput, match=f"'{who}' is not an active adjudicator account"):
        adj.send_to_third_reviewer(flow.session, round_id=flow.round.id, thread_id=flow.item(2)[1], adjudicator=who,
                                   actor="lead1")


def test_an_inactive_adjudicator_cannot_be_sent_a_thread(flow):
    update_account(flow.session, username="judge", active=False, actor="admin")
    with pytest.raises(InvalidInput, match="not an active adjudicator"):
        adj.send_to_third_reviewer(flow.session, round_id=flow.round.id, thread_id=flow.item(2)[1],
                                   adjudicator="judge", actor="lead1")


# --------------------------------------------------------------------------- #
# Meeting list, definition problems
# --------------------------------------------------------------------------- #
def test_mark_discuss_puts_the_thread_on_the_meeting_list(flow):
    rid, tid = flow.item(5)
    adj.mark_discuss(flow.session, round_id=rid, thread_id=tid, comment=" B or C? ", actor="lead1")
    [item] = adj.discussion_list(flow.session, "r1")
    assert (item.external_id, item.state, item.decision.rationale) == (flow.ext[5], "discuss", "B or C?")
    assert consensus(flow)[flow.ext[5]]["pending_reason"] == "on the meeting list, disagreement"
    adj.resolve(flow.session, round_id=rid, thread_id=tid, category="C", rationale="agreed at the meeting",
                actor="lead1")
    assert adj.discussion_list(flow.session, "r1") == []


def test_definition_problem_tag_is_listed_for_codebook_refinement(flow):
    rid, tid = flow.item(4)
    adj.tag_definition_problem(flow.session, round_id=rid, thread_id=tid, flag=True, comment="C overlaps Other",
                               actor="lead1")
    [problem] = adj.definition_problems(flow.session)
    assert (problem["round"], problem["thread_id"], problem["comment"], problem["category"]) == (
        "r1", flow.ext[4], "C overlaps Other", None)
    # the tag alone decides nothing: the thread is still open and its consensus pending
    assert [i.state for i in adj.disagreement_queue(flow.session, "r1") if i.external_id == flow.ext[4]] == ["open"]
    assert (consensus(flow)[flow.ext[4]]["status"], consensus(flow)[flow.ext[4]]["pending_reason"]) == (
        "pending", "marked unsure")

    adj.resolve(flow.session, round_id=rid, thread_id=tid, category="C", rationale="C after all", actor="lead1")
    assert [p["thread_id"] for p in adj.definition_problems(flow.session, "C")] == [flow.ext[4]]
    assert adj.definition_problems(flow.session, "A") == []
    adj.tag_definition_problem(flow.session, round_id=rid, thread_id=tid, flag=False, comment="", actor="lead1")
    assert adj.definition_problems(flow.session) == []
    assert consensus(flow)[flow.ext[4]]["category"] == "C"  # untagging keeps the decision


# --------------------------------------------------------------------------- #
# Acceptance rule and consensus
# --------------------------------------------------------------------------- #
def test_consensus_before_any_decision(flow):
    rows = consensus(flow)
    assert list(rows) == flow.ext  # one row per thread, sorted
    assert (rows[flow.ext[0]]["category"], rows[flow.ext[0]]["method"], rows[flow.ext[0]]["status"]) == (
        "A", "unanimous", "decided")
    assert {e: rows[e]["status"] for e in flow.ext[1:]} == dict.fromkeys(flow.ext[1:], "pending")
    assert {e: rows[e]["pending_reason"] for e in flow.ext[1:]} == {
        flow.ext[1]: "disagreement", flow.ext[2]: "disagreement", flow.ext[3]: "missing labels",
        flow.ext[4]: "marked unsure", flow.ext[5]: "disagreement"}
    assert read_consensus(flow.session, ["r1"]).labels() == {flow.item(0): "A"}


def test_majority_rule_accepts_two_of_three_automatically(flow):
    set_round_options(flow.session, name="r1", acceptance_rule="majority", actor="lead1")
    rows = consensus(flow)
    assert {e: (rows[e]["category"], rows[e]["method"]) for e in (flow.ext[1], flow.ext[3], flow.ext[5])} == {
        flow.ext[1]: ("A", "majority"), flow.ext[3]: ("B", "majority"), flow.ext[5]: ("C", "majority")}
    assert queue_ids(flow) == [flow.ext[2], flow.ext[4]]  # all-differ and unsure still need a lead
    assert read_consensus(flow.session, ["r1"]).labels() == {flow.item(0): "A", flow.item(1): "A", flow.item(3): "B",
                                                             flow.item(5): "C"}


def test_a_thread_labeled_by_one_of_three_is_missing_not_unanimous(session, tmp_path):
    """Imported rounds have no sampled assignments: K comes from the round, not from the labels present."""
    make_codebook(session, ["A", "B"])
    threads = make_threads(session, 2, seed=8)
    path = tmp_path / "labels.csv"
    pd.DataFrame([(threads[0].external_id, r, "A") for r in REVIEWERS] + [(threads[1].external_id, "alice", "B")],
                 columns=["thread_id", "reviewer", "category"]).to_csv(path, index=False)
    import_labels(session, path, round_name="imported")
    rows = records(read_consensus(session, ["imported"]).frame())
    assert (rows[threads[0].external_id]["method"], rows[threads[0].external_id]["status"]) == ("unanimous", "decided")
    assert (rows[threads[1].external_id]["category"], rows[threads[1].external_id]["status"]) == (None, "pending")
    [item] = adj.disagreement_queue(session, "imported")
    assert (item.external_id, item.assessment.reasons) == (threads[1].external_id, ("missing",))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_consensus_has_one_row_per_thread_with_provenance(flow, db_url, tmp_path, fmt):
    rid = flow.round.id
    adj.resolve(flow.session, round_id=rid, thread_id=flow.item(1)[1], category="A", rationale="r", actor="lead1")
    adj.send_to_third_reviewer(flow.session, round_id=rid, thread_id=flow.item(2)[1], adjudicator="judge",
                               actor="lead1")
    adj.third_reviewer_decide(flow.session, round_id=rid, thread_id=flow.item(2)[1], adjudicator_id=flow.judge.id,
                              category="B", rationale="", actor="judge")
    out = tmp_path / f"consensus.{fmt}"
    res = run_cli(["export", "consensus", "--round", "r1", "--format", fmt, "--out", out], db_url)
    assert res.exit_code == 0, res.output + res.stderr
    assert res.stdout.strip() == f"wrote 6 threads to {out} (3 decided, 3 pending)"
    if fmt == "csv":
        df = pd.read_csv(out, dtype=str, keep_default_na=False)
    elif fmt == "jsonl":
        df = pd.DataFrame([json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()])
    else:
        df = pd.read_parquet(out)
    assert list(df.columns) == ["round", "thread_id", "category", "rationale", "decided_by", "method", "status",
                                "pending_reason", "reported_as", "votes"]
    assert sorted(df["thread_id"]) == flow.ext and df["thread_id"].is_unique
    got = {t: (r["category"], r["method"], r["decided_by"], r["status"], r["pending_reason"])
           for t, r in records(df).items()}
    e = flow.ext
    assert got == {
        e[0]: ("A", "unanimous", None, "decided", None),
        e[1]: ("A", "adjudicated", "lead1", "decided", None),
        e[2]: ("B", "third_reviewer", "judge", "decided", None),
        e[3]: (None, None, None, "pending", "missing labels"),
        e[4]: (None, None, None, "pending", "marked unsure"),
        e[5]: (None, None, None, "pending", "disagreement"),
    }
    assert set(df["round"]) == {"r1"}
