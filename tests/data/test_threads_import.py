"""Importing thread exports into the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import select

from annotator import importing
from annotator.data.models import AuditEvent, Thread
from annotator.errors import AnnotatorError, InvalidInput, RowErrors
from annotator.services.threads import import_threads
from tests.factories import count_rows, dump_tables, run_cli, thread_frame, write_threads_file


def stored(engine) -> dict[str, Thread]:
    with engine.connect() as conn:
        return {r.external_id: r for r in conn.execute(select(Thread)).all()}


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".xlsx", ".parquet"])
def test_every_format_imports_the_same_rows(engine, tmp_path, suffix):
    frame = thread_frame(12, seed=3, ward=[f"w{i % 3}" for i in range(12)])
    report = import_threads(engine, write_threads_file(tmp_path / f"threads{suffix}", frame))
    assert (report.rows_read, report.inserted, report.skipped, report.already_present) == (12, 12, 0, 0)
    rows = stored(engine)
    assert sorted(rows) == sorted(frame["thread_id"])
    for rec in frame.to_dict("records"):
        row = rows[rec["thread_id"]]
        assert (row.text, row.user_id, row.role, row.department) == (rec["text"], rec["user_id"], rec["role"], rec["department"])
        assert row.char_count == len(rec["text"]) and not row.truncated
        assert pd.Timestamp(row.created_at).tz_localize(None) == pd.Timestamp(rec["created_at"]).tz_localize(None)
        assert row.meta == {"ward": rec["ward"]}


def test_map_reads_differently_named_columns(engine, tmp_path):
    frame = thread_frame(5, seed=1).rename(columns={"thread_id": "id", "text": "prompt", "department": "dept"})
    path = write_threads_file(tmp_path / "renamed.csv", frame)
    report = import_threads(engine, path, mapping=importing.parse_mapping("thread_id=id, text=prompt,department=dept"))
    assert report.inserted == 5
    rows = stored(engine)
    assert {r.department for r in rows.values()} == set(frame["dept"])
    assert all(r.meta is None for r in rows.values())  # mapped columns are not metadata


def test_map_to_a_missing_column_is_one_clear_error(engine, tmp_path):
    path = write_threads_file(tmp_path / "t.csv", thread_frame(2, seed=1))
    with pytest.raises(InvalidInput, match="department is mapped to the column 'dept', but the file has no column 'dept'") \
            as caught:
        import_threads(engine, path, mapping={"department": "dept"})
    assert caught.value.cli_message() == "t.csv: --map department=dept, but the file has no column 'dept'"
    assert count_rows(engine, Thread) == 0


@pytest.mark.parametrize("limit", [32_000, 500])
def test_long_text_is_truncated_keeping_original_length(engine, tmp_path, limit):
    long_text = "x" * (limit + 17)
    frame = thread_frame(3, seed=2, text=["short one", "y" * limit, long_text])
    report = import_threads(engine, write_threads_file(tmp_path / "t.csv", frame), truncate_at=limit)
    assert report.truncated == 1
    rows = stored(engine)
    cut, exact = rows["t2-000002"], rows["t2-000001"]
    assert cut.truncated and cut.char_count == limit + 17 and len(cut.text) == limit
    assert not exact.truncated and exact.char_count == limit and len(exact.text) == limit


def test_bad_rows_are_reported_with_row_numbers_and_skipped(engine, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(
        b"thread_id,text,created_at\n"
        b"a,fine,2024-05-01T09:30:00Z\n"        # row 2
        b"b,,2024-05-01\n"                      # row 3: empty text
        b"a,again,2024-05-01\n"                 # row 4: duplicate id
        b"c,hello,yesterday-ish\n"              # row 5: unparseable date
        b"d,caf\xe9 latin-1,2024-05-01\n"       # row 6: not UTF-8
        b",no id,2024-05-01\n"                  # row 7: empty id
        b"e,\"multi\nline\",2024-05-02\n"       # rows 8-9 in an editor, record 7
    )
    report = import_threads(engine, path)
    problems = {(p.row, p.field): p.reason for p in report.problems}
    assert set(problems) == {(3, "text"), (4, "thread_id"), (5, "created_at"), (6, "text"), (7, "thread_id")}
    assert "first at row 2" in problems[(4, "thread_id")]
    assert "yesterday-ish" in problems[(5, "created_at")]
    assert "UTF-8" in problems[(6, "text")]
    assert (report.rows_read, report.inserted, report.skipped) == (7, 2, 5)
    assert sorted(stored(engine)) == ["a", "e"]
    assert stored(engine)["e"].text == "multi\nline"


def test_duplicate_ids_are_caught_across_chunk_boundaries(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(importing, "CHUNK_ROWS", 3)
    ids = ["a", "b", "c", "d", "a", "e", "f", "c"]  # "a" again in chunk 2, "c" in chunk 3
    report = import_threads(engine, write_threads_file(tmp_path / "t.csv", thread_frame(8, seed=1, thread_id=ids)))
    assert [(p.row, p.field) for p in report.problems] == [(6, "thread_id"), (9, "thread_id")]
    assert "first at row 2" in report.problems[0].reason and "first at row 4" in report.problems[1].reason
    assert report.inserted == 6


def test_strict_imports_nothing_and_names_file_row_and_field(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(importing, "CHUNK_ROWS", 4)  # the bad row is in a later chunk than good ones
    texts = ["ok"] * 9
    texts[6] = "   "
    path = write_threads_file(tmp_path / "strict.csv", thread_frame(9, seed=1, text=texts))
    before = dump_tables(engine)
    with pytest.raises(RowErrors) as err:
        import_threads(engine, path, strict=True)
    assert str(err.value).startswith("strict.csv, row 8, field 'text': empty text")
    assert dump_tables(engine) == before


def test_second_import_of_the_same_file_adds_nothing(engine, tmp_path):
    path = write_threads_file(tmp_path / "t.jsonl", thread_frame(20, seed=4))
    assert import_threads(engine, path).inserted == 20
    again = import_threads(engine, path)
    assert (again.inserted, again.already_present, again.skipped) == (0, 20, 0)
    assert count_rows(engine, Thread) == 20


def test_missing_required_column_is_one_line_and_changes_nothing(db_url, engine, tmp_path):
    path = write_threads_file(tmp_path / "no_text.csv", thread_frame(4, seed=1, text=None))
    before = dump_tables(engine)
    result = run_cli(["import-threads", path], db_url)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "no column 'text'" in result.stderr and "--map text=COLUMN" in result.stderr
    assert "Traceback" not in result.output
    assert dump_tables(engine) == before


def test_missing_file_is_a_clear_error(engine, tmp_path):
    with pytest.raises(InvalidInput, match="no such file"):
        import_threads(engine, tmp_path / "nope.csv")


@pytest.mark.parametrize("suffix, kind", [(".parquet", "Parquet"), (".xlsx", "XLSX")])
def test_garbage_binary_file_is_a_clear_error(engine, tmp_path, suffix, kind):
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(bytes(range(256)) * 8)
    before = dump_tables(engine)
    with pytest.raises(InvalidInput, match=f"not a readable {kind}"):
        import_threads(engine, path)
    assert dump_tables(engine) == before


def test_extra_columns_are_kept_as_metadata(engine, tmp_path):
    frame = thread_frame(2, seed=1, model=["gpt-4o", "gpt-4o-mini"], tokens=["120", ""])
    import_threads(engine, write_threads_file(tmp_path / "t.csv", frame))
    metas = {k: r.meta for k, r in stored(engine).items()}
    assert metas == {"t1-000000": {"model": "gpt-4o", "tokens": "120"}, "t1-000001": {"model": "gpt-4o-mini", "tokens": ""}}


def test_role_group_is_derived_from_role(engine, tmp_path):
    frame = thread_frame(4, seed=1, role=["Attending Physician", "Registered Nurse", "", "CRNA"])
    import_threads(engine, write_threads_file(tmp_path / "t.csv", frame))
    rows = stored(engine)
    assert [(rows[f"t1-00000{i}"].role, rows[f"t1-00000{i}"].role_group) for i in range(4)] == [
        ("Attending Physician", "clinician"), ("Registered Nurse", "non-clinician"), (None, None), ("CRNA", "clinician")]


def test_import_is_audited_without_thread_text(engine, tmp_path):
    import_threads(engine, write_threads_file(tmp_path / "t.csv", thread_frame(3, seed=1, text="secret words here")))
    with engine.connect() as conn:
        events = conn.execute(select(AuditEvent).where(AuditEvent.action == "import_threads")).all()
    assert len(events) == 1 and events[0].detail["inserted"] == 3
    assert "secret" not in json.dumps(events[0].detail)


def test_values_a_database_cannot_store_are_reported_not_crashed_on(engine, tmp_path):
    """A NUL character (PostgreSQL text cannot hold it) or an id over 200 characters is a bad row on both backends."""
    frame = thread_frame(4, seed=1, thread_id=["ok", "x" * 201, "nul", "bad-meta"], text=["fine", "fine", "a\x00b", "fine"],
                         extra=["", "", "", "z"])
    path = tmp_path / "t.csv"
    path.write_bytes(frame.to_csv(index=False).encode().replace(b",z\n", b",\xff\n"))
    report = import_threads(engine, path)
    assert [(p.row, p.field) for p in report.problems] == [(3, "thread_id"), (4, "text"), (5, "extra")]
    assert sorted(stored(engine)) == ["ok"]


def test_user_errors_are_annotator_errors(engine, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(AnnotatorError, match="empty"):
        import_threads(engine, path)
