"""The Rounds page: create a round through the form, close and reopen it, export its labels."""

from __future__ import annotations

import io

import pandas as pd
from sqlalchemy import func, select

from annotator.data.models import Account, Assignment, AuditEvent, Label, Round
from annotator.services import admin
from annotator.services.rounds import get_round
from tests.pages.conftest import click, open_page, page_text, submit_form


def _rounds(db):
    db.expire_all()
    return {r.name: r for r in db.execute(select(Round)).scalars()}


def can_sign_in(db, *names: str) -> None:
    """Give accounts a password hash (the picker offers only accounts that can sign in); hashing a real
    password costs ~0.7 s, and only the presence of a hash matters here."""
    for acc in db.execute(select(Account).where(Account.username.in_(names))).scalars():
        acc.password_hash = "$argon2id$placeholder"
    db.commit()


def test_create_a_round_through_the_form(app, db, world):
    can_sign_in(db, "rev2", "rev3")
    at = open_page(app(world.lead), "rounds.py")
    seed = at.number_input(key="rounds.seed").value
    assert isinstance(seed, int) and seed >= 0  # a random default, shown and editable
    at.text_input(key="rounds.name").input("round-2")
    at.number_input(key="rounds.size").set_value(4)
    at.number_input(key="rounds.k").set_value(2)
    at.number_input(key="rounds.seed").set_value(1234)
    at.multiselect(key="rounds.reviewers").set_value(["rev2", "rev3"])
    at.selectbox(key="rounds.rule").set_value("majority")
    at.checkbox(key="rounds.exclude").uncheck()
    at.checkbox(key="rounds.reveal").check()
    at = submit_form(at, "Create round")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [s.value for s in at.success] == ["Round 'round-2': 4 threads, 8 assignments."]
    rnd = _rounds(db)["round-2"]
    assert (rnd.seed, rnd.per_thread, rnd.acceptance_rule, rnd.reveal_enabled, rnd.created_by) == \
        (1234, 2, "majority", True, world.lead.username)
    n = db.execute(select(func.count()).select_from(Assignment).where(Assignment.round_id == rnd.id)).scalar_one()
    assert n == 8
    assert at.number_input(key="rounds.seed").value != 1234  # a new random default for the next round (p = 2^-31)
    assert "round-2" in page_text(at)


def test_bad_round_input_is_one_error_line(app, db, world):
    at = open_page(app(world.lead), "rounds.py")
    at.text_input(key="rounds.name").input(world.round_name)  # already exists
    at.multiselect(key="rounds.reviewers").set_value(["rev2"])
    at.number_input(key="rounds.k").set_value(1)
    at = submit_form(at, "Create round")
    assert [e.value for e in at.error] == [f"round '{world.round_name}' already exists; choose another name"]
    assert set(_rounds(db)) == {world.round_name}


def test_close_and_reopen(app, db, world):
    at = open_page(app(world.lead), "rounds.py")
    at = click(at, "rounds.close")
    assert _rounds(db)[world.round_name].status == "closed"
    assert [s.value for s in at.success] == [f"Round '{world.round_name}' is closed."]
    at = click(at, "rounds.reopen")
    assert _rounds(db)[world.round_name].status == "open"
    assert at.button(key="rounds.close")


def test_progress_per_reviewer_is_shown(app, db, world):
    rnd = get_round(db, world.round_name)
    tid = db.execute(select(Assignment.thread_id).where(Assignment.reviewer_id == world.reviewer.id)).scalars().first()
    db.add(Label(round_id=rnd.id, thread_id=tid, reviewer_id=world.reviewer.id, category="Other",
                 codebook_version_id=rnd.codebook_version_id))
    db.commit()
    at = open_page(app(world.lead), "rounds.py")
    bars = [p.text for p in at.get("progress")]
    assert bars == ["1 / 18 labels", "rev1: 1 / 6", "rev2: 0 / 6", "rev3: 0 / 6"]
    table = at.dataframe[0].value
    assert table.loc[0, "labels"] == "1 / 18" and "rev1 1/6" in table.loc[0, "reviewers"]


def test_export_downloads_are_offered_and_hold_the_labels(app, db, world):
    rnd = get_round(db, world.round_name)
    tid = db.execute(select(Assignment.thread_id).where(Assignment.reviewer_id == world.reviewer.id)).scalars().first()
    db.add(Label(round_id=rnd.id, thread_id=tid, reviewer_id=world.reviewer.id, category="Research", note="n1",
                 codebook_version_id=rnd.codebook_version_id))
    db.commit()
    at = open_page(app(world.lead), "rounds.py")
    assert [d.key for d in at.download_button] == ["rounds.export.csv", "rounds.export.jsonl", "rounds.export.parquet"]
    # AppTest does not run a download's data callable; the callable calls this service function.
    csv = pd.read_csv(io.BytesIO(admin.export_labels_bytes(db, world.round_name, "csv")))
    parquet = pd.read_parquet(io.BytesIO(admin.export_labels_bytes(db, world.round_name, "parquet")))
    jsonl = pd.read_json(io.BytesIO(admin.export_labels_bytes(db, world.round_name, "jsonl")), lines=True)
    for df in (csv, parquet, jsonl):
        assert list(df[["round", "reviewer", "category"]].itertuples(index=False, name=None)) == \
            [(world.round_name, "rev1", "Research")]


def test_without_rounds_the_form_is_open(app, db):
    from tests.factories import make_codebook
    from tests.pages.conftest import make_user

    lead = make_user(db, "lead1", "lead")
    make_codebook(db)
    at = open_page(app(lead), "rounds.py")
    assert any(i.value.startswith("No rounds yet") for i in at.info)
    assert at.expander[0].proto.expanded


def test_the_reviewer_picker_offers_active_reviewers_who_can_sign_in(app, db, world):
    from tests.pages.conftest import make_user

    can_sign_in(db, "rev1", "rev2")
    make_user(db, "judge", adjudicator=True)
    can_sign_in(db, "judge")
    make_user(db, "gone")
    can_sign_in(db, "gone")
    from annotator.services.accounts import update_account
    update_account(db, username="gone", active=False, actor="t")
    at = open_page(app(world.lead), "rounds.py")
    # rev3 has no password (simulated, like the demo's pilot-*), judge is an adjudicator, gone is inactive
    assert at.multiselect(key="rounds.reviewers").options == ["rev1", "rev2"]


def test_asking_for_more_threads_than_exist_is_an_error_in_the_page_words(app, db, world):
    can_sign_in(db, "rev2", "rev3")
    at = open_page(app(world.lead), "rounds.py")
    at.text_input(key="rounds.name").input("huge")
    at.number_input(key="rounds.size").set_value(100_000)
    at.number_input(key="rounds.k").set_value(2)
    at.multiselect(key="rounds.reviewers").set_value(["rev2", "rev3"])
    at.checkbox(key="rounds.exclude").uncheck()
    at = submit_form(at, "Create round")
    assert [e.value for e in at.error] == ["Sample size: asked for 100,000 threads, but only 6 match the sampling "
                                           "criteria; ask for 6 or fewer, or relax the filters"]
    assert set(_rounds(db)) == {world.round_name}
    at.text_input(key="rounds.name").input("")
    at.number_input(key="rounds.size").set_value(2)
    at = submit_form(at, "Create round")
    assert [e.value for e in at.error] == ["Name: a round needs a name"]
    assert "--" not in page_text(at).replace("---", "")  # no command-line option anywhere


def test_due_date_set_and_cleared(app, db, world):
    import datetime as dt

    at = open_page(app(world.lead), "rounds.py")
    at.date_input(key=f"rounds.due.{world.round_name}").set_value(dt.date(2026, 12, 24))
    at = click(at, "rounds.due_set")
    assert [s.value for s in at.success] == [f"Round '{world.round_name}': due 2026-12-24."]
    assert _rounds(db)[world.round_name].due_on == dt.date(2026, 12, 24)
    assert "2026-12-24" in page_text(at)
    at = click(at, "rounds.due_clear")
    assert _rounds(db)[world.round_name].due_on is None


def test_archive_a_closed_round_and_restore_it(app, db, world):
    at = click(open_page(app(world.lead), "rounds.py"), "rounds.close")
    at = click(at, "rounds.archive")
    assert [s.value for s in at.success] == [f"Round '{world.round_name}' is archived: reviewers no longer see it."]
    assert _rounds(db)[world.round_name].archived_at is not None
    assert "closed (archived)" in page_text(at)
    at = click(at, "rounds.unarchive")
    assert _rounds(db)[world.round_name].archived_at is None


def test_delete_a_round_without_labels_needs_a_confirmation(app, db, world):
    at = open_page(app(world.lead), "rounds.py")
    at = click(at, "rounds.delete")
    assert [w.value for w in at.warning] == ["Tick the box to confirm the deletion first."]
    assert world.round_name in _rounds(db)
    at.checkbox(key=f"rounds.delete_ok.{world.round_name}").check()
    at = click(at, "rounds.delete")
    assert [s.value for s in at.success] == [f"Round '{world.round_name}' deleted (18 assignments)."]
    assert _rounds(db) == {}
    assert any(i.value.startswith("No rounds yet") for i in at.info)


def test_a_round_with_labels_offers_no_delete(app, db, world):
    rnd = get_round(db, world.round_name)
    tid = db.execute(select(Assignment.thread_id).where(Assignment.reviewer_id == world.reviewer.id)).scalars().first()
    db.add(Label(round_id=rnd.id, thread_id=tid, reviewer_id=world.reviewer.id, category="Other",
                 codebook_version_id=rnd.codebook_version_id))
    db.commit()
    at = open_page(app(world.lead), "rounds.py")
    assert not [b for b in at.button if b.key == "rounds.delete"]


def test_replace_a_reviewer_moves_their_unlabeled_threads(app, db, world):
    from tests.pages.conftest import make_user

    make_user(db, "rev4")
    can_sign_in(db, "rev4")
    rnd = get_round(db, world.round_name)
    tid = db.execute(select(Assignment.thread_id).where(Assignment.reviewer_id == world.reviewer.id)
                     .order_by(Assignment.position)).scalars().first()
    db.add(Label(round_id=rnd.id, thread_id=tid, reviewer_id=world.reviewer.id, category="Other",
                 codebook_version_id=rnd.codebook_version_id))
    db.commit()
    at = open_page(app(world.lead), "rounds.py")
    key = f"rounds.move.{world.round_name}"
    at.selectbox(key=f"{key}.from").set_value("rev1")
    at = at.run()
    at.multiselect(key=f"{key}.to").set_value(["rev4"])
    at = click(at, "rounds.move")
    assert [s.value for s in at.success] == ["Moved 5 unlabeled thread(s) from rev1: rev4 5."]
    assert [p.text for p in at.get("progress")][1:] == ["rev1: 1 / 1", "rev2: 0 / 6", "rev3: 0 / 6", "rev4: 0 / 5"]
    event = db.execute(select(AuditEvent).where(AuditEvent.action == "assignments_reassigned")).scalar_one()
    assert event.actor == world.lead.username and event.detail["to"] == {"rev4": 5}
    at.multiselect(key=f"{key}.to").set_value([])
    at = click(at, "rounds.move")
    assert [e.value for e in at.error] == ["To: choose at least one reviewer to take the threads"]
