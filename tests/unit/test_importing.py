"""The file reader (pure of the database) and a hypothesis fuzz of the whole import on malformed CSV."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from annotator import importing
from annotator.data.engine import ensure_schema, make_engine
from annotator.data.models import AuditEvent, Thread
from annotator.errors import AnnotatorError, InvalidInput
from annotator.importing import ReadState, detect_format, iter_clean_chunks, parse_mapping
from annotator.services.threads import import_threads
from tests.factories import thread_frame, write_threads_file


def read_all(path: Path, **kwargs) -> tuple[list[str], ReadState]:
    state = ReadState()
    ids = [i for chunk in iter_clean_chunks(path, state=state, **kwargs) for i in chunk.external_id]
    return ids, state


def test_parse_mapping_reads_pairs_and_ignores_blanks():
    assert parse_mapping(" text = prompt ,, thread_id=id ") == {"text": "prompt", "thread_id": "id"}
    assert parse_mapping(None) == {}


@pytest.mark.parametrize("spec, message", [
    ("text", "'text' is not FIELD=COLUMN"),
    ("body=prompt", "unknown field 'body'"),
    ("text=", "field 'text' has no column name"),
])
def test_parse_mapping_rejects_bad_specs(spec, message):
    with pytest.raises(InvalidInput, match=message):
        parse_mapping(spec)


@pytest.mark.parametrize("name, fmt", [("a.csv", "csv"), ("a.TSV", "csv"), ("a.csv.gz", "csv"), ("a.ndjson", "jsonl"),
                                       ("a.xlsx", "xlsx"), ("a.parquet", "parquet")])
def test_format_is_detected_from_the_name(name, fmt):
    assert detect_format(Path(name)) == fmt


def test_unknown_format_is_a_clear_error():
    with pytest.raises(InvalidInput, match="cannot tell the format"):
        detect_format(Path("threads.txt"))
    with pytest.raises(InvalidInput, match="unknown format 'xml'"):
        detect_format(Path("threads.csv"), "xml")


@pytest.mark.parametrize("suffix, first_row", [(".csv", 2), (".jsonl", 1), (".xlsx", 2), (".parquet", 1)])
def test_row_numbers_are_what_a_person_sees(tmp_path, suffix, first_row):
    frame = thread_frame(5, seed=1, text=["a", "b", "", "d", "e"])
    _, state = read_all(write_threads_file(tmp_path / f"t{suffix}", frame))
    assert [(p.row, p.field) for p in state.problems] == [(first_row + 2, "text")]


def test_gzipped_csv_is_read(tmp_path):
    path = tmp_path / "t.csv.gz"
    thread_frame(4, seed=2).to_csv(path, index=False)
    ids, state = read_all(path)
    assert len(ids) == 4 and not state.problems


def test_chunks_are_bounded_and_rows_counted(tmp_path, monkeypatch):
    monkeypatch.setattr(importing, "CHUNK_ROWS", 4)
    state = ReadState()
    sizes = [len(c) for c in iter_clean_chunks(write_threads_file(tmp_path / "t.csv", thread_frame(10, seed=1)), state=state)]
    assert sizes == [4, 4, 2] and state.rows_read == 10


def test_dates_with_offsets_are_stored_in_utc(tmp_path):
    frame = thread_frame(2, seed=1, created_at=["2024-05-01T09:30:00+02:00", "2024-05-01 07:30"])
    state = ReadState()
    (chunk,) = iter_clean_chunks(write_threads_file(tmp_path / "t.csv", frame), state=state)
    assert [d.isoformat() for d in chunk.created_at] == ["2024-05-01T07:30:00+00:00"] * 2


def test_header_that_is_not_utf8_is_one_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"thread_id,text,caf\xe9\na,b,c\n")
    with pytest.raises(InvalidInput, match="header row is not UTF-8"):
        read_all(path)


# ---------------------------------------------------------------- fuzzing the import with malformed CSV

_TRICKY = ['"', '""', ",", "\n", "\r\n", "\r", "\x00", " ", "\t", 'a"b', "2024-05-01", "31/02/2024", "x" * 250, "é", "\ufeff"]
_cell = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12).map(str.encode),
    st.sampled_from(_TRICKY).map(str.encode),
    st.binary(max_size=6),
)


@st.composite
def _quoted(draw) -> bytes:
    value = draw(_cell)
    style = draw(st.sampled_from(["plain", "quoted", "half"]))
    if style == "quoted":
        return b'"' + value.replace(b'"', b'""') + b'"'
    return b'"' + value if style == "half" else value


_HEADERS = [b"thread_id,text", b"thread_id,text,created_at,role", b"text,thread_id,extra", b"thread_id;text", b""]


@st.composite
def malformed_csv(draw) -> bytes:
    header = draw(st.one_of(st.sampled_from(_HEADERS), st.lists(_quoted(), max_size=4).map(b",".join)))
    width = draw(st.integers(1, 5))
    rows = draw(st.lists(st.lists(_quoted(), min_size=1, max_size=width), max_size=8))
    sep = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    body = sep.join([header, *(draw(st.sampled_from([b",", b";", b",,"])).join(r) for r in rows)])
    return body if draw(st.booleans()) else body + sep


@pytest.fixture(scope="module")
def fuzz_engine(tmp_path_factory):
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.sqlite3'}")
    ensure_schema(eng)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(importing, "CHUNK_ROWS", 3)  # exercise chunk boundaries with tiny files
        yield eng
    eng.dispose()


def _counts(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (Thread, AuditEvent))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(malformed_csv(), st.binary(max_size=200)), strict=st.booleans())
def test_malformed_csv_gives_a_clean_report_or_a_user_error(fuzz_engine, data, strict):
    """Never another exception; never a partial write on error or under --strict; the report adds up."""
    threads_before, audits_before = _counts(fuzz_engine)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.csv"
        path.write_bytes(data)
        try:
            report = import_threads(fuzz_engine, path, strict=strict)
        except AnnotatorError as exc:
            assert str(exc).strip() and "\n" not in str(exc)
            assert _counts(fuzz_engine) == (threads_before, audits_before)
            return
    threads_after, audits_after = _counts(fuzz_engine)
    assert report.inserted >= 0 and report.already_present >= 0
    assert report.inserted + report.already_present + report.skipped == report.rows_read
    assert (threads_after - threads_before, audits_after - audits_before) == (report.inserted, 1)
    assert all(p.row >= 2 for p in report.problems)
    if strict:
        assert report.skipped == 0


def test_other_sheets_of_a_workbook_are_named_in_a_note(tmp_path):
    import pandas as pd

    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        thread_frame(3, seed=1).to_excel(writer, sheet_name="Threads", index=False)
        thread_frame(2, seed=2).to_excel(writer, sheet_name="Old", index=False)
    ids, state = read_all(path)
    assert len(ids) == 3
    assert state.info.notes == ["only the first sheet 'Threads' was read; 1 other sheet ignored ('Old')"]
