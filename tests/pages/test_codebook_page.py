"""The Codebook page's load/export part: current categories, upload a YAML/JSON codebook as a new
version, export, and one-line errors for bad files."""

from __future__ import annotations

import json

import yaml
from sqlalchemy import select

from annotator.data.models import CodebookVersion
from annotator.services import admin
from annotator.services.codebook import export_codebook, list_categories
from tests.pages.conftest import open_page, page_text, submit_form

NEW = {"name": "v2 book", "categories": [{"name": "Writing", "definition": "Drafting text."},
                                         {"name": "Other", "definition": "Anything else."}]}


def load_tab(at):
    """Open the Load / export tab (the tabs keep their state; only the open tab runs)."""
    at.session_state["codebook.tab"] = "Load / export"
    return at.run()


def _versions(db) -> list[int]:
    db.expire_all()
    return list(db.execute(select(CodebookVersion.version).order_by(CodebookVersion.version)).scalars())


def test_shows_the_current_categories(app, db, world):
    at = open_page(app(world.lead), "codebook.py")
    assert at.subheader[0].value.startswith("Version 1")
    assert [e.proto.label for e in at.expander][:2] == ["Categories (5)", "All versions (1)"]
    table = next(h.proto.body for h in at.get("html") if "cbtable" in h.proto.body)
    assert "<td><b>Clinical documentation</b>" in table and "<kbd>1</kbd>" in table


def test_load_a_yaml_codebook_as_a_new_version(app, db, world):
    at = load_tab(open_page(app(world.lead), "codebook.py"))
    at.file_uploader(key="codebook.file").set_value(("book.yaml", yaml.safe_dump(NEW).encode(), "application/yaml"))
    at = submit_form(at, "Load as a new version")
    assert not at.error, [e.value for e in at.error]
    assert [s.value for s in at.success] == ["Codebook version 2 created."]
    assert _versions(db) == [1, 2]
    assert "Writing" in page_text(at) and at.subheader[0].value == "Version 2: v2 book"
    v2 = db.execute(select(CodebookVersion).where(CodebookVersion.version == 2)).scalar_one()
    assert [c.name for c in list_categories(db, v2.id)] == ["Writing", "Other"]


def test_loading_the_same_codebook_again_changes_nothing(app, db, world):
    same = export_codebook(db, fmt="json").encode()
    at = load_tab(open_page(app(world.lead), "codebook.py"))
    at.file_uploader(key="codebook.file").set_value(("same.json", same, "application/json"))
    at = submit_form(at, "Load as a new version")
    assert [i.value for i in at.info] == ["Unchanged: the file equals the newest version (1)."]
    assert _versions(db) == [1]


def test_a_bad_codebook_is_one_error_line(app, db, world):
    at = load_tab(open_page(app(world.lead), "codebook.py"))
    bad = {"categories": [{"name": "A"}, {"name": "a"}]}
    at.file_uploader(key="codebook.file").set_value(("bad.json", json.dumps(bad).encode(), "application/json"))
    at = submit_form(at, "Load as a new version")
    assert [e.value for e in at.error] == ["bad.json, row 2, field 'name': duplicate category 'a'"]
    assert _versions(db) == [1]


def test_export_buttons_and_round_trip(app, db, world):
    at = load_tab(open_page(app(world.lead), "codebook.py"))
    assert [d.key for d in at.download_button] == ["codebook.export.yaml", "codebook.export.json"]
    exported = export_codebook(db, fmt="yaml")
    version, created = admin.load_codebook_upload(db, "again.yml", exported.encode(), actor="test")
    assert (version.version, created) == (1, False)


def test_a_reviewer_cannot_load_a_codebook(app, db, world):
    at = open_page(app(world.reviewer), "codebook.py")
    assert not at.file_uploader and at.error[0].value.startswith("Not allowed")
