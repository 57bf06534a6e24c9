"""The consensus read model on hand-made rounds (SQLite and PostgreSQL): every way a final label is
reached, every reason a thread is pending, renames and merges, a thread in two rounds, closed rounds,
the refusal that gates model and prevalence figures, and a round whose name holds a '/'."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest
from sqlalchemy import select
from sqlmodel import Session

from annotator.data.models import Account, ModelRun, Prediction, Round, Thread
from annotator.errors import NotFound, PendingThreads
from annotator.services import adjudication as adj
from annotator.services.accounts import create_account
from annotator.services.consensus import Consensus, read_consensus
from annotator.services.labeling import submit_label
from annotator.services.model_eval import compare_run
from annotator.services.refine import merge_categories
from annotator.services.rounds import set_round_status
from tests.factories import make_codebook, make_round, make_threads

ROUND = "2025/Q1"  # a name with a slash: the old 'round/thread' keys split it in two
REVIEWERS = ("alice", "bob", "carol")
PLAN = {  # thread index -> labels of alice, bob, carol (None: not labelled), and who is unsure
    0: (("A", "A", "A"), ()),  # unanimous
    1: (("A", "A", "B"), ()),  # disagreement, left pending
    2: (("A", "B", "C"), ()),  # a lead decides B
    3: (("B", "B", None), ()),  # carol has not labelled it
    4: (("C", "C", "C"), ("bob",)),  # agreement, but bob is unsure
    5: (("B", "C", "C"), ()),  # sent to a third reviewer
    6: (("A", "B", "A"), ()),  # on the meeting list
}


@dataclass
class Hand:
    session: Session
    round: Round
    ext: list[str]
    tid: dict[str, int]
    judge: Account

    def thread(self, i: int) -> int:
        return self.tid[self.ext[i]]


def label(session: Session, rnd: Round, thread_id: int, plan: tuple, unsure: tuple = ()) -> None:
    accounts = {a.username: a.id for a in session.execute(select(Account)).scalars()}
    for reviewer, cat in zip(REVIEWERS, plan):
        if cat is not None:
            submit_label(session, round_id=rnd.id, thread_id=thread_id, reviewer_id=accounts[reviewer], category=cat,
                         unsure=reviewer in unsure, actor=reviewer)


@pytest.fixture
def hand(session) -> Hand:
    make_codebook(session, ["A", "B", "C", "Other"])
    make_threads(session, 7, seed=3)
    rnd = make_round(session, name=ROUND, size=7, reviewers=REVIEWERS, per_thread=3, seed=1).round
    ext = sorted(session.execute(select(Thread.external_id)).scalars())
    tid = dict(session.execute(select(Thread.external_id, Thread.id)).all())
    for i, (cats, unsure) in PLAN.items():
        label(session, rnd, tid[ext[i]], cats, unsure)
    judge = create_account(session, username="judge", role="reviewer", is_adjudicator=True, actor="test")
    h = Hand(session, rnd, ext, tid, judge)
    adj.resolve(session, round_id=rnd.id, thread_id=h.thread(2), category="B", rationale="about B", actor="lead1")
    adj.send_to_third_reviewer(session, round_id=rnd.id, thread_id=h.thread(5), adjudicator="judge", actor="lead1")
    adj.mark_discuss(session, round_id=rnd.id, thread_id=h.thread(6), comment="A or B?", actor="lead1")
    return h


def rows_by_index(h: Hand, cons: Consensus) -> dict[int, object]:
    by_thread = {r.thread_id: r for r in cons.rows if r.round_id == h.round.id}
    return {i: by_thread[h.thread(i)] for i in PLAN}


def test_every_way_to_a_final_label_and_every_reason_to_wait(hand):
    cons = read_consensus(hand.session, [ROUND])
    rows = rows_by_index(hand, cons)
    got = {i: (r.status, r.category, r.method, r.decided_by, r.reasons) for i, r in rows.items()}
    assert got == {
        0: ("decided", "A", "unanimous", None, ()),
        1: ("pending", None, None, None, ("disagreement",)),
        2: ("decided", "B", "adjudicated", "lead1", ()),
        3: ("pending", None, None, None, ("missing",)),
        4: ("pending", None, None, None, ("unsure",)),
        5: ("pending", None, None, None, ("third_reviewer", "disagreement")),
        6: ("pending", None, None, None, ("discuss", "disagreement")),
    }
    assert rows[2].rationale == "about B" and rows[1].votes == (("A", 2), ("B", 1))
    assert all(isinstance(r.round_id, int) and isinstance(r.thread_id, int) for r in cons.rows)
    [c] = cons.completeness()
    assert (c.round_name, c.n_sampled, c.n_decided, c.n_pending) == (ROUND, 7, 2, 5)
    assert c.by_method == {"unanimous": 1, "adjudicated": 1}
    assert c.by_reason == {"third_reviewer": 1, "discuss": 1, "missing": 1, "disagreement": 1, "unsure": 1}
    assert c.sentence() == ("7 sampled threads: 2 decided (1 unanimous, 1 adjudicated by a lead), 5 pending (1 with a "
                            "third reviewer, 1 on the meeting list, 1 missing labels, 1 disagreement, 1 marked unsure).")


def test_third_reviewer_and_majority_rule_decide(hand):
    rid = hand.round.id
    adj.third_reviewer_decide(hand.session, round_id=rid, thread_id=hand.thread(5), adjudicator_id=hand.judge.id,
                              category="C", rationale="C", actor="judge")
    from annotator.services.rounds import set_round_options

    set_round_options(hand.session, name=ROUND, acceptance_rule="majority", actor="lead1")
    rows = rows_by_index(hand, read_consensus(hand.session, [ROUND]))
    assert (rows[5].category, rows[5].method, rows[5].decided_by) == ("C", "third_reviewer", "judge")
    assert (rows[1].category, rows[1].method) == ("A", "majority")  # two of three
    assert (rows[3].category, rows[3].method) == ("B", "majority")  # two of the three expected labels
    assert rows[4].reasons == ("unsure",)  # an unsure mark always waits for a lead
    assert (rows[6].category, rows[6].method) == (None, None)  # a majority, but on the meeting list
    assert rows[6].reasons == ("discuss",)


def test_renames_and_merges_apply_to_final_labels_and_ratings_not_to_what_was_recorded(hand):
    merge_categories(hand.session, sources=["A", "B"], into="AB", actor="lead1")
    cons = read_consensus(hand.session, [ROUND])
    rows = rows_by_index(hand, cons)
    assert (rows[0].category, rows[0].recorded) == ("AB", "A")
    assert (rows[2].category, rows[2].recorded) == ("AB", "B")
    # the round's own codebook still tells A from B: its disagreement waits for a lead
    assert rows[1].reasons == ("disagreement",)
    ratings = cons.ratings()
    assert set(ratings["category"]) == {"AB", "C"}
    frame = cons.frame().set_index("thread_id")
    assert (frame.at[hand.ext[0], "category"], frame.at[hand.ext[0], "reported_as"]) == ("A", "AB")


def test_a_thread_in_two_rounds_is_two_items_and_the_newest_decision_wins(hand):
    second = make_round(hand.session, name="r2", size=7, reviewers=REVIEWERS, per_thread=3, seed=2,
                        acceptance_rule="majority").round
    label(hand.session, second, hand.thread(0), ("B", "B", "A"))
    cons = read_consensus(hand.session)
    assert [r.name for r in cons.rounds] == [ROUND, "r2"]
    assert cons.labels()[(hand.round.id, hand.thread(0))] == "A"
    assert cons.labels()[(second.id, hand.thread(0))] == "B"
    assert cons.latest_labels()[hand.thread(0)] == "B"
    assert cons.latest_labels()[hand.thread(2)] == "B"  # decided only in the first round
    ratings = cons.ratings()
    both = ratings[ratings["thread_id"] == hand.thread(0)]
    assert both["item"].nunique() == 2 and set(both["round_id"]) == {hand.round.id, second.id}
    assert ratings["item"].dtype.kind == "i"
    assert len(cons.ratings(exclude_reviewers=["carol"])) == len(ratings) - (ratings["reviewer"] == "carol").sum()


def test_closed_only_keeps_closed_rounds(hand):
    make_round(hand.session, name="r2", size=3, reviewers=REVIEWERS, per_thread=3, seed=2)
    assert [r.name for r in read_consensus(hand.session, closed_only=True).rounds] == []
    set_round_status(hand.session, name=ROUND, status="closed", actor="lead1")
    closed = read_consensus(hand.session, closed_only=True)
    assert [r.name for r in closed.rounds] == [ROUND] and {r.thread_id for r in closed.decided()} == {
        hand.thread(0), hand.thread(2)}


def test_the_gate_names_the_round_the_count_the_threads_and_the_ways_out(hand):
    cons = read_consensus(hand.session, [ROUND])
    with pytest.raises(PendingThreads) as caught:
        cons.require_complete(what="the model report")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"round '{ROUND}': 5 of 7 sampled threads are pending (1 with a third reviewer, ")
    assert f"first: {hand.ext[1]}, {hand.ext[3]}, {hand.ext[4]})" in message
    assert f"'annotator import-decisions FILE --round {ROUND}'" in message and "Adjudicate page" in message
    assert "--allow-pending to use the 2 decided thread(s) of this round only (not a random sample)" in message
    assert caught.value.rounds == [(ROUND, 5, 7)]
    cons.require_complete(allow_pending=True)  # decided threads exist: allowed on request
    empty = make_round(hand.session, name="empty", size=2, reviewers=REVIEWERS, per_thread=3, seed=4).round
    with pytest.raises(PendingThreads, match="has a final label yet"):
        read_consensus(hand.session, ["empty"]).require_complete(allow_pending=True)
    assert empty.id
    with pytest.raises(NotFound, match="no round named 'nope'"):
        read_consensus(hand.session, ["nope"])


def test_a_round_named_with_a_slash_keeps_its_per_reviewer_comparison(hand):
    """The old model report split 'round/thread' keys on '/' and lost every reviewer for '2025/Q1'."""
    run = ModelRun(backend="openai", model="m", codebook_version_id=hand.round.codebook_version_id,
                   scope=f"round:{ROUND}", status="done")
    hand.session.add(run)
    hand.session.flush()
    for i in PLAN:
        hand.session.add(Prediction(run_id=run.id, thread_id=hand.thread(i), category="A", status="ok"))
    hand.session.commit()
    rep = compare_run(hand.session, run.id, n_boot=0, allow_pending=True)
    assert rep["round"] == ROUND and rep["n"] == 2 and rep["pending"] == 5
    assert [r["reviewer"] for r in rep["as_reviewer"]["reviewers"]] == list(REVIEWERS)
    assert all(r["n"] >= 5 for r in rep["as_reviewer"]["reviewers"])
    assert set(rep["reviewers_vs_others"]) == set(REVIEWERS)


def test_export_reads_back_and_the_frame_has_one_row_per_sampled_thread(hand):
    frame = read_consensus(hand.session, [ROUND]).frame()
    assert list(frame["thread_id"]) == hand.ext and set(frame["round"]) == {ROUND}
    assert list(frame["status"]) == ["decided", "pending", "decided", "pending", "pending", "pending", "pending"]
    assert frame["pending_reason"].tolist()[1] == "disagreement"
    assert pd.isna(frame["category"].tolist()[1])
