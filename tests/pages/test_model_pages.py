"""The model and error-analysis pages (leads), and the label page's reveal step and blinding, driven with
AppTest against the loopback OpenAI-compatible server (configured through the environment, as in
production: ANNOTATOR_LLM_BASE_URL and OPENAI_API_KEY)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from annotator.data.models import Assignment, AuditEvent, ErrorTag, Label, ModelRun, Prediction, Round, Thread
from annotator.llm.client import LLMConfig
from annotator.services import labeling
from annotator.services.classify import classify_llm
from tests.factories import make_round
from tests.fake_openai import FakeOpenAI
from tests.pages.conftest import (click, current_thread, main_elements, open_page, page_text, send_actions,
                                  submit_form, widget_data, widget_thread)

RATIONALE = "Deterministic test answer."


@pytest.fixture
def fake(monkeypatch, app_db):
    with FakeOpenAI() as server:
        monkeypatch.setenv("ANNOTATOR_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        for name in ("ANNOTATOR_OPENAI_API_KEY", "ANNOTATOR_LLM_MODEL", "ANNOTATOR_LLM_PROVIDER"):
            monkeypatch.delenv(name, raising=False)
        yield server


def run_model(engine, fake: FakeOpenAI, answer: str, round_name: str) -> int:
    fake.answer = lambda user, names: answer
    res = classify_llm(engine, LLMConfig(base_url=fake.base_url, api_key="test", max_retries=0), round_name=round_name)
    assert res.ok == res.n_requested > 0
    return res.run_id


def label_everything(db, round_name: str, category: str) -> None:
    """Every assigned reviewer labels every thread of the round with `category` (a unanimous consensus)."""
    rnd = db.execute(select(Round).where(Round.name == round_name)).scalars().one()
    for thread_id, reviewer_id in db.execute(select(Assignment.thread_id, Assignment.reviewer_id)
                                             .where(Assignment.round_id == rnd.id)).all():
        labeling.submit_label(db, round_id=rnd.id, thread_id=thread_id, reviewer_id=reviewer_id, category=category,
                              actor="test")


def _refused(at) -> bool:
    shown = main_elements(at)
    return (not at.exception and len(shown) == 1 and shown[0].type == "error"
            and shown[0].value.startswith("Not allowed"))


# -- model page ----------------------------------------------------------------------------------------------


def test_model_page_dry_run_estimates_and_sends_nothing(app, world, fake, app_db):
    at = open_page(app(world.lead), "model.py")
    assert not at.exception, at.exception
    assert fake.base_url in page_text(at)  # the endpoint is shown; the key never is
    assert "test" not in [c.value for c in at.caption]
    assert at.checkbox[0].value is True  # dry run is the default

    at = submit_form(at, "Run")

    assert not at.exception, at.exception
    assert [i.value for i in at.info][0].startswith("6 threads · 0 cached · 6 requests · ~")
    assert "estimated cost $" in at.info[0].value
    assert fake.count() == 0
    with app_db.connect() as conn:
        assert conn.execute(select(ModelRun.id)).first() is None


def test_model_page_classifies_and_lists_the_run(app, world, fake, app_db):
    at = open_page(app(world.lead), "model.py")
    at.checkbox[0].uncheck()  # a form widget: its value is sent with the submit

    at = submit_form(at, "Run")

    assert not at.exception, at.exception
    (message,) = [s.value for s in at.success]
    assert message.startswith("Run 1: 6 ok, 0 failed, 0 from cache, 6 requests, cost ")
    assert fake.count("chat") == 6
    with app_db.connect() as conn:
        assert len(conn.execute(select(Prediction.id)).all()) == 6
        run = conn.execute(select(ModelRun)).one()
        finished = conn.execute(select(AuditEvent.actor).where(AuditEvent.action == "model_run_finished")).scalar_one()
    assert (run.status, run.n_requests) == ("done", 6)
    assert finished == world.lead.username
    at = at.run()
    table = at.dataframe[0].value
    assert list(table["run"]) == [1] and list(table["status"]) == ["done"]


def test_model_page_compares_a_run_with_the_consensus(app, world, fake, db, app_db):
    label_everything(db, world.round_name, "Research")
    run_model(app_db, fake, "Research", world.round_name)
    at = open_page(app(world.lead), "model.py")
    at = click(at, "model.compare")
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy"] == "1.000" and metrics["Compared / failed"] == "6 / 0"


def test_model_page_compares_two_runs(app, world, fake, app_db):
    run_model(app_db, fake, "Research", world.round_name)
    res = classify_llm(app_db, LLMConfig(base_url=fake.base_url, api_key="test", model="other-model", max_retries=0),
                       round_name=world.round_name)
    assert res.ok == 6
    at = open_page(app(world.lead), "model.py")
    at = click(at, "model.compare_runs")
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Threads in both"] == "6" and metrics["Agreement"] == "100.0%"


def test_model_prompt_tab_shows_the_exact_prompt(app, world, fake, db):
    thread = db.execute(select(Thread).order_by(Thread.id)).scalars().first()
    at = open_page(app(world.lead), "model.py")
    at.text_input(key="model.prompt_thread").input(thread.external_id)
    at = at.run()
    code = at.code[0].value
    assert code.startswith("=== SYSTEM ===") and "=== USER ===" in code and thread.text in code
    assert fake.count() == 0


# -- error analysis page -------------------------------------------------------------------------------------


def test_errors_page_lists_disagreements_and_saves_a_tag(app, world, fake, db, app_db):
    label_everything(db, world.round_name, "Research")
    run_id = run_model(app_db, fake, "Coding", world.round_name)
    at = open_page(app(world.lead), "errors.py")
    assert not at.exception, at.exception
    assert at.caption[0].value == "6 disagreements · 0 tagged"
    options = at.selectbox(key="errors.pick").options
    assert len(options) == 6 and all("consensus Research · model Coding" in o for o in options)
    assert RATIONALE in page_text(at)

    at.radio[0].set_value("ambiguous_definition")
    at.text_area[0].input("definitions overlap")
    at = submit_form(at, "Save")

    assert not at.exception, at.exception
    assert [s.value for s in at.success][:1] == ["Tag saved"]
    db.expire_all()
    (tag,) = db.execute(select(ErrorTag)).scalars().all()
    assert (tag.run_id, tag.tag, tag.comment, tag.category, tag.tagged_by) == \
        (run_id, "ambiguous_definition", "definitions overlap", "Research", world.lead.username)
    assert at.caption[0].value == "6 disagreements · 1 tagged"
    assert len(at.selectbox(key="errors.pick").options) == 5  # only untagged ones are left to tag


def test_errors_page_without_runs_says_what_to_do(app, world, fake):
    at = open_page(app(world.lead), "errors.py")
    assert not at.exception and [i.value for i in at.info] == ["Classify a round and adjudicate it first."]


@pytest.mark.parametrize("file", ["model.py", "errors.py"])
def test_a_reviewer_is_not_allowed_on_the_model_pages(app, world, fake, db, app_db, file):
    label_everything(db, world.round_name, "Research")
    run_model(app_db, fake, "Coding", world.round_name)
    at = open_page(app(world.reviewer), file)
    assert _refused(at), [(e.type, getattr(e, "value", "")) for e in main_elements(at)]
    assert RATIONALE not in page_text(at)


# -- label page: blinding and the reveal step ----------------------------------------------------------------


def test_label_page_of_a_round_without_reveal_shows_nothing_of_the_model(app, world, fake, db, app_db):
    run_model(app_db, fake, "Clinical documentation", world.round_name)
    at = open_page(app(world.reviewer), "label.py")
    cats = [c["name"] for c in widget_data(at)["categories"]]
    sent = []
    for n in range(1, 4):
        assert RATIONALE not in page_text(at)
        item = widget_data(at)["queue"][0]
        sent.append({"seq": n, "type": "label", "round_id": item["round_id"], "thread_id": item["id"],
                     "category": cats[2]})
        at = send_actions(at, "label.widget", sent)
        assert not at.exception, at.exception
        assert widget_data(at)["reveal"] is None
    assert RATIONALE not in page_text(at)
    db.expire_all()
    labels = db.execute(select(Label).where(Label.reviewer_id == world.reviewer.id)).scalars().all()
    assert len(labels) == 3 and all(lab.revealed_model_category is None for lab in labels)


def test_label_page_reveal_step_shows_the_model_label_and_records_a_second_label(app, world, fake, db, app_db):
    make_round(db, name="rv", size=6, reviewers=("rev1", *world.others), per_thread=3, seed=9, reveal_enabled=True)
    run_model(app_db, fake, "Coding", "rv")
    at = open_page(app(world.reviewer), "label.py")
    assert at.selectbox[0].value == "rv"
    data = widget_data(at)
    assert data["round"]["reveal"] and data["reveal"] is None and "Coding" not in str(data["queue"])
    shown = data["queue"][0]
    sent = [{"seq": 1, "type": "label", "round_id": shown["round_id"], "thread_id": shown["id"],
             "category": "Research"}]  # the blind label
    at = send_actions(at, "label.widget", sent)

    assert not at.exception, at.exception
    reveal = widget_data(at)["reveal"]
    assert (reveal["blind"], reveal["model"], reveal["thread"]["ext"]) == ("Research", "Coding", shown["ext"])
    assert reveal["thread"]["text"]  # the thread stays in view during the reveal step
    sent.append({"seq": 2, "type": "post_reveal", "round_id": shown["round_id"], "thread_id": shown["id"],
                 "category": "Coding"})
    at = send_actions(at, "label.widget", sent)

    assert not at.exception, at.exception
    db.expire_all()
    rid = db.execute(select(Round.id).where(Round.name == "rv")).scalar_one()
    (lab,) = db.execute(select(Label).where(Label.round_id == rid)).scalars().all()
    assert (lab.category, lab.revealed_model_category, lab.post_reveal_category) == ("Research", "Coding", "Coding")
    assert widget_data(at)["reveal"] is None and widget_thread(at) not in (None, shown["ext"])  # back to the queue
    # The next blind label with no second one: continue without a second label.
    nxt = widget_data(at)["queue"][0]
    sent += [{"seq": 3, "type": "label", "round_id": nxt["round_id"], "thread_id": nxt["id"], "category": "Other"},
             {"seq": 4, "type": "post_reveal", "round_id": nxt["round_id"], "thread_id": nxt["id"], "category": None}]
    at = send_actions(at, "label.widget", sent)
    db.expire_all()
    lab = db.execute(select(Label).where(Label.round_id == rid, Label.thread_id == nxt["id"])).scalar_one()
    assert (lab.revealed_model_category, lab.post_reveal_category) == ("Coding", None)
    assert widget_data(at)["reveal"] is None
