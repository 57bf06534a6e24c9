"""The Import threads page: upload a file through st.file_uploader (AppTest supports uploads), see the
summary and the skipped rows, map columns, strict mode; and the upload service on its own."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from sqlalchemy import select

from annotator.data.models import Thread
from annotator.errors import InvalidInput
from annotator.services import admin
from tests.factories import thread_frame
from tests.pages.conftest import open_page, submit_form


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


def _threads(db) -> list[str]:
    db.expire_all()
    return sorted(db.execute(select(Thread.external_id)).scalars())


@pytest.fixture
def page(app, world):
    return open_page(app(world.admin), "import_threads.py")


def test_upload_a_csv_shows_summary_and_skipped_rows(page, db):
    frame = thread_frame(4, seed=3)
    frame.loc[2, "text"] = ""  # a bad row: row 4 of the file (header is row 1)
    page.file_uploader(key="import.file").set_value(("export.csv", _csv(frame), "text/csv"))
    at = submit_form(page, "Import")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [s.value for s in at.success] == [
        "export.csv: 4 rows read, 3 threads imported, 0 already present, 1 skipped, 0 truncated"]
    skipped = at.dataframe[0].value
    assert list(skipped.columns) == ["row", "field", "reason"] and list(skipped["row"]) == [4]
    assert skipped.loc[0, "field"] == "text"
    assert at.download_button(key="import.skipped")
    assert set(frame.loc[[0, 1, 3], "thread_id"]) <= set(_threads(db))
    assert frame.loc[2, "thread_id"] not in _threads(db)


def test_importing_the_same_file_twice_adds_nothing(page, db):
    data = _csv(thread_frame(3, seed=4))
    page.file_uploader(key="import.file").set_value(("again.csv", data, "text/csv"))
    at = submit_form(page, "Import")
    before = _threads(db)
    at.file_uploader(key="import.file").set_value(("again.csv", data, "text/csv"))
    at = submit_form(at, "Import")
    assert at.success[0].value.endswith("0 threads imported, 3 already present, 0 skipped, 0 truncated")
    assert _threads(db) == before


def test_column_mapping_and_truncation(page, db):
    frame = thread_frame(2, seed=5).rename(columns={"thread_id": "id", "text": "prompt"})
    frame.loc[0, "prompt"] = "x" * 500
    page.file_uploader(key="import.file").set_value(("mapped.csv", _csv(frame), "text/csv")).run()  # a rerun, as a browser
    page.text_input(key="import.map.thread_id").input("id")
    page.text_input(key="import.map.text").input("prompt")
    page.number_input(key="import.truncate").set_value(100)
    at = submit_form(page, "Import")
    assert at.success[0].value.endswith("2 threads imported, 0 already present, 0 skipped, 1 truncated")
    db.expire_all()
    long = db.execute(select(Thread).where(Thread.external_id == frame.loc[0, "id"])).scalar_one()
    assert long.truncated and len(long.text) <= 100 and long.char_count == 500


def test_strict_imports_nothing_and_reports_one_line(page, db):
    frame = thread_frame(3, seed=6)
    frame.loc[1, "thread_id"] = ""
    page.file_uploader(key="import.file").set_value(("strict.csv", _csv(frame), "text/csv"))
    page.checkbox(key="import.strict").check()
    before = _threads(db)
    at = submit_form(page, "Import")
    assert len(at.error) == 1 and at.error[0].value.startswith("strict.csv, row 3, field 'thread_id'")
    assert "nothing was imported" in at.error[0].value
    assert _threads(db) == before


def test_a_file_of_the_wrong_kind_is_one_error_line(page, db):
    page.file_uploader(key="import.file").set_value(("notes.jsonl", b"{not json\n", "application/jsonl"))
    at = submit_form(page, "Import")
    assert len(at.error) == 1 and at.error[0].value.startswith("notes.jsonl")
    assert not at.exception


def test_submit_without_a_file_warns(page):
    at = submit_form(page, "Import")
    assert [w.value for w in at.warning] == ["Choose a file first."]


def test_upload_service_keeps_the_suffix_and_reports_progress(app_db, tmp_path):
    frame = thread_frame(5, seed=8)
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    seen: list[int] = []
    report = admin.import_threads_upload(app_db, "export.parquet", buf.getvalue(), actor="test",
                                         on_progress=seen.append)
    assert (report.rows_read, report.inserted) == (5, 5) and seen == [5]
    assert admin.problems_frame(report).empty
    with pytest.raises(InvalidInput, match="unsupported file type"):
        admin.import_threads_upload(app_db, "export.exe", b"x", actor="test")
