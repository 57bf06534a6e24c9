"""The reveal step (rounds with reveal_enabled) and blinding everywhere else.

Reveal: after the reviewer's blind label is stored, reveal_model_label shows the newest model label and
locks the blind label; record_post_reveal stores a second label; compare_run's report["reveal"] counts
switches toward the consensus. Blinding: in a round without the reveal step, no labeling service hands a
reviewer any model label or rationale.
"""

from __future__ import annotations

import ast
import inspect

import pytest
from sqlalchemy import select
from sqlmodel import Session

from annotator.data.models import Account, Assignment, AuditEvent, Round
from annotator.errors import Conflict, InvalidInput, NotAllowed
from annotator.llm.client import LLMConfig
from annotator.services import labeling
from annotator.services.classify import classify_llm
from annotator.services.model_eval import compare_run
from tests.factories import dump_tables, make_round
from tests.fake_openai import FakeOpenAI

RATIONALE = "Deterministic test answer."


def run_model(engine, fake: FakeOpenAI, answer: str, *, round_name: str, model: str = "gpt-4o") -> int:
    """Classify the round with a model that answers `answer` for every thread; returns the run id."""
    fake.answer = lambda user, names: answer
    cfg = LLMConfig(base_url=fake.base_url, api_key="test", model=model, max_retries=0)
    res = classify_llm(engine, cfg, round_name=round_name, actor="lead1")
    assert res.ok == res.n_requested
    return res.run_id


def ids(session: Session, round_name: str) -> tuple[int, dict[str, int], list[int]]:
    """(round id, reviewer username -> id, the round's thread ids)."""
    rnd = session.execute(select(Round).where(Round.name == round_name)).scalars().one()
    reviewers = dict(session.execute(select(Account.username, Account.id)).all())
    threads = sorted(set(session.execute(select(Assignment.thread_id).where(Assignment.round_id == rnd.id)).scalars()))
    return rnd.id, reviewers, threads


@pytest.fixture
def reveal_round(session):
    make_round(session, name="rv", size=3, reviewers=("ana", "ben", "cy"), per_thread=3, seed=2, reveal_enabled=True,
               acceptance_rule="majority")
    return ids(session, "rv")


def label(session, round_id, thread_id, reviewer_id, category, actor="x"):
    return labeling.submit_label(session, round_id=round_id, thread_id=thread_id, reviewer_id=reviewer_id,
                                 category=category, actor=actor)


def test_reveal_shows_the_newest_model_label_and_locks_the_blind_label(engine, session, fake, reveal_round):
    rid, who, (t, *_) = reveal_round
    ana = who["ana"]
    label(session, rid, t, ana, "Research")

    assert labeling.reveal_model_label(session, round_id=rid, thread_id=t, reviewer_id=ana, actor="ana") is None
    assert label(session, rid, t, ana, "Coding")[1] == "changed"  # nothing revealed, nothing locked
    assert label(session, rid, t, ana, "Research")[1] == "changed"

    run_model(engine, fake, "Coding", round_name="rv")
    run_model(engine, fake, "Other", round_name="rv", model="gpt-4o-mini")  # the newer run

    shown = labeling.reveal_model_label(session, round_id=rid, thread_id=t, reviewer_id=ana, actor="ana")

    assert shown == "Other"
    session.expire_all()
    lab = labeling.own_label(session, rid, t, ana)
    assert (lab.category, lab.revealed_model_category, lab.post_reveal_category) == ("Research", "Other", None)
    events = session.execute(select(AuditEvent).where(AuditEvent.action == "model_label_revealed")).scalars().all()
    assert [(e.actor, e.entity_id) for e in events] == [("ana", f"{rid}/{t}/{ana}")]

    with pytest.raises(Conflict, match="revealed"):
        label(session, rid, t, ana, "Coding")
    assert label(session, rid, t, ana, "Research")[1] == "unchanged"  # resubmitting the same label is harmless
    session.expire_all()
    assert labeling.own_label(session, rid, t, ana).category == "Research"

    run_model(engine, fake, "Research", round_name="rv", model="third-model")
    again = labeling.reveal_model_label(session, round_id=rid, thread_id=t, reviewer_id=ana, actor="ana")
    assert again == "Other"  # what was shown stays what was shown

    stored = labeling.record_post_reveal(session, round_id=rid, thread_id=t, reviewer_id=ana, category="Other",
                                         actor="ana")
    session.expire_all()
    lab = labeling.own_label(session, rid, t, ana)
    assert stored.id == lab.id
    assert (lab.category, lab.post_reveal_category, lab.revealed_model_category) == ("Research", "Other", "Other")
    with pytest.raises(InvalidInput, match="not a category"):
        labeling.record_post_reveal(session, round_id=rid, thread_id=t, reviewer_id=ana, category="Astrology",
                                    actor="ana")


def test_reveal_needs_the_blind_label_first_and_post_reveal_needs_the_reveal(engine, session, fake, reveal_round):
    rid, who, (t, *_) = reveal_round
    run_model(engine, fake, "Coding", round_name="rv")
    with pytest.raises(Conflict, match="blind label first"):
        labeling.reveal_model_label(session, round_id=rid, thread_id=t, reviewer_id=who["ben"], actor="ben")
    label(session, rid, t, who["ben"], "Coding")
    with pytest.raises(Conflict, match="has not been revealed"):
        labeling.record_post_reveal(session, round_id=rid, thread_id=t, reviewer_id=who["ben"], category="Coding",
                                    actor="ben")
    session.expire_all()
    assert labeling.own_label(session, rid, t, who["ben"]).revealed_model_category is None


def test_reveal_refuses_a_thread_not_assigned_to_the_reviewer(engine, session, fake, reveal_round):
    rid, who, (t, *_) = reveal_round
    make_round(session, name="other", size=3, reviewers=("dan",), per_thread=1, seed=4)
    dan = session.execute(select(Account.id).where(Account.username == "dan")).scalar_one()
    run_model(engine, fake, "Coding", round_name="rv")
    with pytest.raises(NotAllowed):
        labeling.reveal_model_label(session, round_id=rid, thread_id=t, reviewer_id=dan, actor="dan")


def test_compare_run_counts_a_switch_toward_the_consensus(engine, session, fake, reveal_round):
    rid, who, (t, *rest) = reveal_round
    for name, cat in (("ana", "Coding"), ("ben", "Coding"), ("cy", "Research")):  # majority consensus: Coding
        label(session, rid, t, who[name], cat)
    for other in rest:  # the round's other threads: unanimous, so no thread is pending
        for name in ("ana", "ben", "cy"):
            label(session, rid, other, who[name], "Coding")
    run_id = run_model(engine, fake, "Coding", round_name="rv")
    for name, post in (("cy", "Coding"), ("ana", "Coding")):
        assert labeling.reveal_model_label(session, round_id=rid, thread_id=t, reviewer_id=who[name],
                                           actor=name) == "Coding"
        labeling.record_post_reveal(session, round_id=rid, thread_id=t, reviewer_id=who[name], category=post,
                                    actor=name)

    with Session(engine) as s:
        rep = compare_run(s, run_id, n_boot=0)

    reveal = rep["reveal"]
    assert (reveal["n_cases"], reveal["n_model_agreed"], reveal["n_model_differed"]) == (2, 1, 1)
    assert (reveal["n_switched_to_model"], reveal["n_toward_consensus"], reveal["n_away_from_consensus"]) == (1, 1, 0)
    assert reveal["switch_rate"] == 1.0 and reveal["n_changed_when_model_agreed"] == 0
    assert rep["n"] == 3 and rep["accuracy"] == 1.0


def test_compare_run_without_post_reveal_labels_has_no_reveal_section(engine, session, fake, reveal_round):
    rid, who, threads = reveal_round
    for t in threads:
        for name in ("ana", "ben", "cy"):
            label(session, rid, t, who[name], "Research")
    run_id = run_model(engine, fake, "Coding", round_name="rv")
    with Session(engine) as s:
        rep = compare_run(s, run_id, n_boot=0)
    assert rep["reveal"] is None and rep["n"] == 3 and rep["accuracy"] == 0.0


# -- blinding ------------------------------------------------------------------------------------------------


def test_a_round_without_reveal_never_hands_a_reviewer_a_model_label(engine, session, fake):
    make_round(session, name="blind", size=3, reviewers=("ana", "ben"), per_thread=2, seed=6)
    rid, who, threads = ids(session, "blind")
    ana = who["ana"]
    run_model(engine, fake, "Clinical documentation", round_name="blind")
    label(session, rid, threads[0], ana, "Research")
    before = dump_tables(engine)

    with pytest.raises(NotAllowed, match="no reveal step"):
        labeling.reveal_model_label(session, round_id=rid, thread_id=threads[0], reviewer_id=ana, actor="ana")
    with pytest.raises(Conflict, match="has not been revealed"):
        labeling.record_post_reveal(session, round_id=rid, thread_id=threads[0], reviewer_id=ana, category="Research",
                                    actor="ana")
    assert dump_tables(engine) == before

    session.expire_all()
    seen = [
        labeling.rounds_for_reviewer(session, ana, include_closed=True),
        labeling.progress(session, rid, ana),
        labeling.next_thread_id(session, rid, ana),
        [labeling.get_thread(session, t) for t in threads],
        [labeling.own_label(session, rid, t, ana) for t in threads],
        labeling.own_labels(session, rid, ana),
        labeling.round_version(session, rid),
    ]
    shown = repr(seen)
    assert "Clinical documentation" not in shown and RATIONALE not in shown
    lab = labeling.own_label(session, rid, threads[0], ana)
    assert lab.revealed_model_category is None and lab.post_reveal_category is None


def test_only_the_reveal_step_of_the_labeling_services_reads_model_tables():
    tree = ast.parse(inspect.getsource(labeling))
    readers = {fn.name for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef)
               and any(isinstance(n, ast.Name) and n.id in ("Prediction", "ModelRun") for n in ast.walk(fn))}
    assert readers == {"reveal_model_label"}
    top_imports = {alias.name for node in tree.body if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert not top_imports & {"Prediction", "ModelRun"}
