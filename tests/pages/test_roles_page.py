"""Roles and roster page (admins): unmapped titles first, map a title in the app, back to the suggestion,
mapping CSV out and in, roster upload; and the Import threads page's preview of a message log."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from annotator.data.models import Thread
from tests.factories import make_threads
from tests.pages.conftest import open_page, page_text


def _groups(db, ext: str):
    db.expire_all()
    t = db.execute(select(Thread).where(Thread.external_id == ext)).scalar_one()
    return t.role, t.role_group, t.soc_group


def test_an_admin_maps_a_title_and_threads_follow(app, world, db):
    make_threads(db, 4, seed=9, role=["Registered Nurse", "Registered Nurse", "Scheduler", "Scheduler"])
    at = open_page(app(world.admin), "role_mapping.py")
    assert not at.exception
    titles = at.dataframe[0].value
    assert set(titles["status"]) == {"suggested"}
    at.selectbox(key="roles.title").set_value("Registered Nurse").run()
    at.selectbox(key="roles.group").set_value("clinician")
    at.selectbox(key="roles.soc").set_value("29-0000")
    at = at.button(key="roles.save").click().run()
    assert not at.exception and any("Saved" in s.value for s in at.success)
    assert _groups(db, "t9-000000") == ("Registered Nurse", "clinician", "29-0000")
    shown = at.dataframe[0].value
    assert list(shown["status"]) == ["suggested"] * (len(shown) - 1) + ["mapped"]  # unmapped first
    at.selectbox(key="roles.title").set_value("Registered Nurse").run()
    at = at.button(key="roles.reset").click().run()
    assert _groups(db, "t9-000000")[1] == "non-clinician"  # the study's definition again


def test_mapping_and_roster_uploads(app, world, db):
    make_threads(db, 2, seed=3, user_id=["u1", "u2"], role=["Scheduler", "Scheduler"])
    at = open_page(app(world.admin), "role_mapping.py")
    at.file_uploader(key="roles.roster_file").set_value(
        ("roster.csv", b"user_id,job_title,department\nu1,Physician,Cardiology\n", "text/csv")).run()
    at = at.button(key="roles.import_roster").click().run()
    assert not at.exception and any("1 threads got a new role" in s.value for s in at.success)
    assert _groups(db, "t3-000000") == ("Physician", "clinician", "29-0000")
    at.file_uploader(key="roles.mapping_file").set_value(
        ("map.csv", b"title,role_group,soc_group\nScheduler,non-clinician,43-0000\n", "text/csv")).run()
    at = at.button(key="roles.import_mapping").click().run()
    assert not at.exception and any("1 job titles" in s.value for s in at.success)
    assert at.download_button(key="roles.download")


def test_the_page_is_for_admins_only(app, world):
    at = open_page(app(world.lead), "role_mapping.py")
    assert "Not allowed" in page_text(at)


def test_preview_of_a_message_log_shows_assembled_threads_and_writes_nothing(app, world, db):
    log = pd.DataFrame([("c1", 2, "user", "second", "u1"), ("c1", 1, "user", "first", "u1"),
                        ("c1", 3, "assistant", "reply", ""), ("c2", 1, "bot", "hi", "")],
                       columns=["conversation_id", "message_index", "sender", "content", "user_id"])
    at = open_page(app(world.admin), "import_threads.py")
    at.file_uploader(key="import.file").set_value(("log.csv", log.to_csv(index=False).encode(), "text/csv")).run()
    at.radio(key="import.kind").set_value("messages").run()
    at.text_input(key="import.map.thread_id").input("conversation_id")
    at.text_input(key="import.map.text").input("content")
    at.text_input(key="import.map.position").input("message_index")
    before = len(db.execute(select(Thread.id)).all())
    at = at.button(key="import.preview_button").click().run()
    assert not at.exception and not at.error
    sample = at.dataframe[0].value
    assert list(sample["thread_id"]) == ["c1"] and sample["text"][0] == "user: first\nuser: second"
    text = page_text(at)
    assert "no user message" in text and "would be imported" in text
    db.expire_all()
    assert len(db.execute(select(Thread.id)).all()) == before
    # a new file resets the mapping fields
    at.file_uploader(key="import.file").set_value(("other.csv", b"thread_id,text\nt1,x\n", "text/csv")).run()
    assert at.text_input(key="import.map.thread_id").value == ""
    at.radio(key="import.kind").set_value("threads").run()
    at = at.button(key="import.go").click().run()
    assert not at.exception and at.success


def test_the_dashboard_filters_and_breaks_down_by_soc_group(app, world, db):
    from tests.pages.conftest import page_text as text_of

    make_threads(db, 8, seed=4, role=["Physician", "Scheduler"] * 4)
    at = open_page(app(world.lead), "dashboard.py")
    assert not at.exception
    soc = at.multiselect(key="dash.soc_groups")
    assert "43-0000" in soc.options or any("43-0000" in o for o in soc.options)
    at = soc.select("43-0000").run()
    assert not at.exception
    shown = text_of(at)
    assert "SOC groups: 43-0000" in shown and "By SOC group" in shown
