"""The dashboard page through the real app (AppTest): renders for a lead with data, refuses reviewers."""

from __future__ import annotations

from sqlalchemy import select

from annotator.data.models import ModelRun, Prediction, Thread
from annotator.services.alerts import create_rule
from annotator.services.codebook import get_version
from tests.pages.conftest import open_page, page_text


def _classify_all(db) -> int:
    cats = ["Clinical documentation", "Coding", "Other"]
    run = ModelRun(backend="local", model="page-test", codebook_version_id=get_version(db).id, scope="all",
                   status="done")
    db.add(run)
    db.flush()
    for i, (tid,) in enumerate(db.execute(select(Thread.id).order_by(Thread.id)).all()):
        db.add(Prediction(run_id=run.id, thread_id=tid, category=cats[i % len(cats)], status="ok"))
    db.commit()
    return run.id


def test_dashboard_renders_for_a_lead(app, db, world):
    run_id = _classify_all(db)
    create_rule(db, name="coding watch", category="Coding", actor="test")
    at = open_page(app(world.lead), "dashboard.py")
    assert not at.exception, at.exception
    text = page_text(at)
    assert "Usage dashboard" in text
    assert f"model run #{run_id}" in text and "consensus for 0 threads" in text
    assert "coding watch" in text
    assert any(b.label == "Create rule" for b in at.button)
    assert [d.label for d in at.get("download_button")] == ["Download CSV", "Download PNG", "Download HTML"]


def test_dashboard_filter_rerun(app, db, world):
    _classify_all(db)
    at = open_page(app(world.admin), "dashboard.py")
    at.checkbox(key="dash.frequent").check().run()
    assert not at.exception, at.exception
    assert "frequent users only" in page_text(at)


def test_reviewer_is_not_allowed(app, db, world):
    at = open_page(app(world.reviewer), "dashboard.py")
    assert not at.exception
    assert "Not allowed" in page_text(at)
    assert "Usage dashboard" not in page_text(at)
