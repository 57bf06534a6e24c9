"""Codebook versions: import YAML/JSON, export round trips, new versions on change, labels keep their version."""

from __future__ import annotations

import json

import pytest
import yaml
from sqlalchemy import select

from annotator.data.models import Assignment, Label
from annotator.errors import InvalidInput, InvalidRow, NotFound
from annotator.services.codebook import (
    category_names, export_codebook, import_codebook, list_versions, require_version,
)
from annotator.services.labeling import submit_label
from tests.factories import make_round

CODEBOOK = {
    "name": "Usage v1",
    "note": "first draft",
    "categories": [
        {"name": "Clinical documentation", "definition": "Notes and letters.", "examples": ["Draft a discharge summary"],
         "medhelm_category": "Clinical Note Generation", "medhelm_subcategory": "Documentation"},
        {"name": "Patient communication", "definition": "Messages to patients.", "examples": "Reply to a portal message"},
        {"name": "Other"},
    ],
}


def write(path, data, fmt):
    path.write_text(json.dumps(data) if fmt == "json" else yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_codebook_imports_from_yaml_and_json(session, tmp_path, fmt):
    version, created = import_codebook(session, write(tmp_path / f"cb.{fmt}", CODEBOOK, fmt))
    assert created and version.version == 1 and version.note == "first draft"
    assert category_names(session, version.id) == ["Clinical documentation", "Patient communication", "Other"]


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_then_import_is_the_same_version(session, tmp_path, fmt):
    first, _ = import_codebook(session, write(tmp_path / "cb.yaml", CODEBOOK, "yaml"))
    exported = tmp_path / f"export.{fmt}"
    exported.write_text(export_codebook(session, fmt=fmt), encoding="utf-8")
    again, created = import_codebook(session, exported)
    assert not created and again.id == first.id
    assert [v.version for v in list_versions(session)] == [1]


def test_a_changed_codebook_is_a_new_version(session, tmp_path):
    import_codebook(session, write(tmp_path / "cb.yaml", CODEBOOK, "yaml"))
    changed = json.loads(json.dumps(CODEBOOK))
    changed["categories"][2]["definition"] = "Anything else."
    second, created = import_codebook(session, write(tmp_path / "cb2.yaml", changed, "yaml"))
    assert created and second.version == 2
    assert require_version(session).version == 2 and require_version(session, 1).version == 1


def test_labels_keep_the_codebook_version_they_were_made_under(session, tmp_path):
    import_codebook(session, write(tmp_path / "cb.yaml", CODEBOOK, "yaml"))
    res = make_round(session, size=2, reviewers=["ana", "ben"], per_thread=1)
    a = session.execute(select(Assignment).where(Assignment.round_id == res.round.id)).scalars().first()
    submit_label(session, round_id=res.round.id, thread_id=a.thread_id, reviewer_id=a.reviewer_id, category="Other",
                 actor="test")
    changed = json.loads(json.dumps(CODEBOOK))
    changed["categories"].append({"name": "Research"})
    v2, created = import_codebook(session, write(tmp_path / "cb2.yaml", changed, "yaml"))
    label = session.execute(select(Label)).scalars().one()
    assert created and label.codebook_version_id == res.round.codebook_version_id != v2.id


@pytest.mark.parametrize("content, error, message", [
    ("categories: [name: a\n  - bad", InvalidInput, r"cb.yaml: not valid YAML at line \d+"),
    ("name: x\n", InvalidInput, "non-empty 'categories' list"),
    ("categories:\n  - name: Other\n  - name: other\n", InvalidRow, "cb.yaml, row 2, field 'name': duplicate category 'other'"),
    ("categories:\n  - definition: no name\n", InvalidRow, "cb.yaml, row 1, field 'name': category without a name"),
    ("categories:\n  - name: A\n    colour: red\n", InvalidRow, "field 'colour': unknown field"),
    ("categories:\n  - just a string\n", InvalidRow, "row 1: each category must be a mapping"),
])
def test_bad_codebook_files_give_one_clear_error(session, tmp_path, content, error, message):
    path = tmp_path / "cb.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(error, match=message):
        import_codebook(session, path)
    assert list_versions(session) == []


def test_bad_json_and_missing_files_are_clear_errors(session, tmp_path):
    (tmp_path / "cb.json").write_text('{"categories": [', encoding="utf-8")
    with pytest.raises(InvalidInput, match="cb.json: not valid JSON at line 1"):
        import_codebook(session, tmp_path / "cb.json")
    with pytest.raises(InvalidInput, match="no such file"):
        import_codebook(session, tmp_path / "missing.yaml")


def test_export_without_a_codebook_says_how_to_load_one(session):
    with pytest.raises(NotFound, match="load one on the Codebook page") as caught:  # the page's words
        export_codebook(session)
    assert "annotator import-codebook" in caught.value.cli_message()  # the command line's
