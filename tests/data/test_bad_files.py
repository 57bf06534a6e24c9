"""A corpus of hostile and broken input files for every importer (threads, message logs, conversation
files, labels, codebooks, roster, role mapping).

Each file, on the CLI and on SQLite and PostgreSQL: exit status 1, exactly one line on stderr that
names the file (and the row and field where there is one) and says what is wrong, no traceback, and
every table exactly as before. The upload pages show the same line calmly (tests/pages/test_bad_uploads.py).
Limits that would need large files are lowered with monkeypatch so the bombs stay small.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from annotator.importing import sources
from tests.factories import dump_tables, make_codebook, make_threads, run_cli

MSG_MAP = ["--messages", "--map", "thread_id=conversation_id,text=content,position=message_index"]


@dataclass(frozen=True)
class Case:
    name: str  # the file name (its suffix decides the format)
    data: bytes | Callable[[], bytes]
    importer: str  # threads | messages | labels | codebook | roster | mapping
    expect: tuple[str, ...]  # fragments of the one error line

    def content(self) -> bytes:
        return self.data() if callable(self.data) else self.data


def _xlsx(sheets: dict[str, pd.DataFrame], formula: str | None = None) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for title, frame in sheets.items():
        ws = wb.create_sheet(title)
        ws.append(list(frame.columns))
        for rec in frame.itertuples(index=False):
            ws.append(list(rec))
        if formula:
            ws["B2"] = formula
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _gz(data: bytes) -> bytes:
    return gzip.compress(data)


def _zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"<a>" + b"0" * (8 * 1024 * 1024) + b"</a>")
    return buf.getvalue()


def _alias_bomb() -> bytes:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for n in "bcdefghi":
        lines.append(f"{n}: &{n} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = n
    lines.append(f"categories: [{{name: x, examples: *{prev}}}]")
    return ("\n".join(lines) + "\n").encode()


_frame = pd.DataFrame({"thread_id": ["t1"], "text": ["hello"]})
CASES = [
    # --- thread exports -------------------------------------------------------------------------
    Case("empty.csv", b"", "threads", ("empty",)),
    Case("header_only.csv", b"thread_id,text\n", "threads", ("nothing to import",)),
    Case("no_text_column.csv", b"thread_id,body\nt1,hello\n", "threads", ("no column 'text'",)),
    Case("twice_text.csv", b"thread_id,text,text\nt1,a,b\n", "threads", ("'text' appears twice",)),
    Case("twice_id.csv", b"thread_id,thread_id,text\nt1,t2,a\n", "threads", ("'thread_id' appears twice",)),
    Case("unclosed_quote.csv", b'thread_id,text\nt1,"hello there\n', "threads", ("unbalanced double quotes",)),
    Case("text_after_quote.csv", b'thread_id,text\nt1,"hello" world\n', "threads", ("line 2", "closing quote")),
    Case("stray_quote.csv", b'thread_id,text\nt1,he said "hi there\n', "threads", ("line 2", "double quote")),
    Case("nul_text.csv", b"thread_id,text\nt1,a\x00b\n", "threads", ("row 2", "field 'text'", "NUL")),
    Case("nul_id.csv", b"thread_id,text\nt\x001,hello\n", "threads", ("row 2", "field 'thread_id'", "NUL")),
    Case("nul_metadata.csv", b"thread_id,text,ward\nt1,hello,w\x001\n", "threads", ("row 2", "field 'ward'", "NUL")),
    Case("latin1.csv", b"thread_id,text\nt1,caf\xe9\n", "threads", ("row 2", "field 'text'", "UTF-8")),
    Case("latin1_header.csv", b"thread_id,t\xe9xt\nt1,a\n", "threads", ("header row is not UTF-8",)),
    Case("blank_text.csv", b"thread_id,text\nt1,   \n", "threads", ("row 2", "field 'text'", "empty text")),
    Case("blank_id.csv", b"thread_id,text\n,hello\n", "threads", ("row 2", "empty thread_id")),
    Case("long_id.csv", b"thread_id,text\n" + b"x" * 300 + b",hello\n", "threads", ("row 2", "longer than 200")),
    Case("bad_date.csv", b"thread_id,text,created_at\nt1,hello,yesterday-ish\n", "threads",
         ("row 2", "field 'created_at'", "unparseable date")),
    Case("cut_short.csv.gz", _gz(b"thread_id,text\n" + b"".join(b"t%d,hello\n" % i for i in range(2000)))[:2000],
         "threads", ("cut short",)),
    Case("not_gzip.csv.gz", b"thread_id,text\nt1,plain text\n", "threads", ("damaged",)),
    Case("bomb.csv.gz", lambda: _gz(b"thread_id,text\n" + b"t1," + b"a" * 60 + b"\n" * 1 + b"t2,b\n" * 400_000),
         "threads", ("compression bomb",)),
    Case("long_line.csv", b"thread_id,text\nt1," + b"a" * 300_000 + b"\n", "threads", ("line 2", "longer than")),
    Case("notes.txt", b"thread_id,text\nt1,hello\n", "threads", ("cannot tell the format",)),
    Case("broken.jsonl", b'{"thread_id": "t1", "text": "a"\n', "threads", ("row 1", "not valid JSON")),
    Case("array_line.jsonl", b"[1, 2]\n", "threads", ("row 1", "not an object")),
    Case("twice_key.jsonl", b'{"thread_id": "t1", "text": "a", "text": "b"}\n', "threads", ("row 1", "appears twice")),
    Case("text_list.jsonl", b'{"thread_id": "t1", "text": ["a"]}\n', "threads", ("row 1", "field 'text'", "not text")),
    Case("nul.jsonl", b'{"thread_id": "t1", "text": "a\\u0000b"}\n', "threads", ("row 1", "NUL")),
    Case("latin1.jsonl", b'{"thread_id": "t1", "text": "caf\xe9"}\n', "threads", ("row 1", "UTF-8")),
    Case("empty.jsonl", b"\n\n", "threads", ("nothing to import",)),
    Case("binary.parquet", lambda: _parquet(pa.table({"thread_id": ["t1"], "text": pa.array([b"\xff\xfe"], pa.binary())})),
         "threads", ("'text' holds binary values",)),
    Case("twice.parquet", lambda: _parquet(pa.Table.from_arrays([pa.array(["t1"]), pa.array(["a"]), pa.array(["b"])],
                                                                names=["thread_id", "text", "text"])),
         "threads", ("'text' appears twice",)),
    Case("garbage.parquet", bytes(range(256)) * 8, "threads", ("not a readable Parquet",)),
    Case("no_rows.parquet", lambda: _parquet(pa.table({"thread_id": pa.array([], pa.string()),
                                                      "text": pa.array([], pa.string())})),
         "threads", ("nothing to import",)),
    Case("nul.parquet", lambda: _parquet(pa.table({"thread_id": ["t1"], "text": ["a\x00b"]})), "threads",
         ("row 1", "NUL")),
    Case("garbage.xlsx", bytes(range(255, -1, -1)) * 8, "threads", ("not a readable XLSX",)),
    Case("formula.xlsx", lambda: _xlsx({"Threads": _frame}, formula="=HYPERLINK(\"http://x\",\"y\")"), "threads",
         ("row 2", "field 'text'", "formula")),
    Case("header_only.xlsx", lambda: _xlsx({"Threads": _frame.iloc[:0]}), "threads", ("nothing to import",)),
    Case("twice.xlsx", lambda: _xlsx({"T": pd.DataFrame([["t1", "a", "b"]], columns=["thread_id", "text", "x"])
                                      .rename(columns={"x": "text"})}), "threads", ("'text' appears twice",)),
    Case("many_sheets.xlsx", lambda: _xlsx({f"S{i}": _frame for i in range(5)}), "threads", ("sheets is over",)),
    Case("zip_bomb.xlsx", _zip_bomb, "threads", ("zip bomb",)),
    Case("wide.xlsx", lambda: _xlsx({"T": pd.DataFrame([range(12)], columns=["thread_id", "text"] +
                                                       [f"c{i}" for i in range(10)])}), "threads", ("columns is over",)),
    # --- message logs -----------------------------------------------------------------------------
    Case("no_sender.csv", b"conversation_id,message_index,content\nc1,1,hi\n", "messages", ("no column 'sender'",)),
    Case("robot.csv", b"conversation_id,message_index,sender,content\nc1,1,robot,hi\n", "messages",
         ("row 2", "field 'sender'", "unknown sender 'robot'", "--user-senders")),
    Case("bot_only.csv", b"conversation_id,message_index,sender,content\nc1,1,assistant,hi\n", "messages",
         ("row 2", "field 'sender'", "no user message")),
    Case("two_users.csv", b"conversation_id,message_index,sender,content,user_id\nc1,1,user,a,u1\nc1,2,user,b,u2\n",
         "messages", ("row 3", "field 'user_id'", "two" if False else "user ids")),
    Case("bad_position.csv", b"conversation_id,message_index,sender,content\nc1,first,user,hi\n", "messages",
         ("row 2", "field 'position'", "unparseable position")),
    Case("nul_message.csv", b"conversation_id,message_index,sender,content\nc1,1,user,a\x00b\n", "messages",
         ("row 2", "field 'text'", "NUL")),
    Case("messages_header_only.csv", b"conversation_id,message_index,sender,content\n", "messages",
         ("nothing to import",)),
    Case("unclosed_quote_messages.csv", b'conversation_id,message_index,sender,content\nc1,1,user,"hi\n', "messages",
         ("unbalanced double quotes",)),
    # --- conversation files -----------------------------------------------------------------------
    Case("broken.json", b'[{"messages": [', "threads", ("not valid JSON at line",)),
    Case("string.json", b'"hello"', "threads", ("expected a list of conversations",)),
    Case("wizard.jsonl", b'{"id": "c1", "messages": [{"role": "wizard", "content": "x"}]}\n', "threads",
         ("row 1", "field 'sender'", "unknown sender 'wizard'")),
    Case("bot_only.json", b'[{"id": "c1", "messages": [{"role": "assistant", "content": "x"}]}]', "threads",
         ("row 1", "no user message")),
    Case("number_content.json", b'[{"id": "c1", "messages": [{"role": "user", "content": 5}]}]', "threads",
         ("row 1", "field 'text'", "no text content")),
    Case("nul_sharegpt.jsonl", b'{"id": "c1", "conversations": [{"from": "human", "value": "a\\u0000b"}]}\n', "threads",
         ("row 1", "NUL")),
    Case("twice_key.json", b'[{"id": "c1", "id": "c2", "messages": []}]', "threads", ("appears twice",)),
    # --- labels -----------------------------------------------------------------------------------
    Case("unsure_maybe.csv", b"thread_id,reviewer,category,unsure\nt0-000000,rev,Coding,maybe\n", "labels",
         ("row 2", "field 'unsure'", "not true or false")),
    Case("unknown_category.csv", b"thread_id,reviewer,category\nt0-000000,rev,Astrology\n", "labels",
         ("row 2", "field 'category'", "unknown category")),
    Case("unknown_thread.csv", b"thread_id,reviewer,category\nnope,rev,Coding\n", "labels",
         ("row 2", "field 'thread_id'", "unknown thread")),
    Case("nul_note.csv", b"thread_id,reviewer,category,note\nt0-000000,rev,Coding,a\x00b\n", "labels",
         ("row 2", "field 'note'", "NUL")),
    Case("labels_missing.csv", b"thread_id,category\nt0-000000,Coding\n", "labels", ("missing column", "reviewer")),
    Case("labels_header_only.csv", b"thread_id,reviewer,category\n", "labels", ("nothing to import",)),
    Case("labels_twice.csv", b"thread_id,reviewer,category,category\nt0-000000,rev,Coding,Other\n", "labels",
         ("'category' appears twice",)),
    Case("labels_quote.csv", b'thread_id,reviewer,category\nt0-000000,rev,"Coding\n', "labels",
         ("unbalanced double quotes",)),
    # --- codebooks --------------------------------------------------------------------------------
    Case("name_number.json", b'{"categories": [{"name": 5}]}', "codebook", ("row 1", "field 'name'", "must be text")),
    Case("alias_bomb.yaml", _alias_bomb, "codebook", ("YAML aliases",)),
    Case("not_yaml.yaml", b"categories: [\n", "codebook", ("not valid YAML",)),
    Case("examples_mapping.yaml", b"categories:\n- name: A\n  examples: {a: 1}\n", "codebook",
         ("row 1", "field 'examples'")),
    Case("active_maybe.yaml", b"categories:\n- name: A\n  active: maybe\n", "codebook",
         ("row 1", "field 'active'", "true or false")),
    Case("unknown_field.yaml", b"categories:\n- name: A\n  colour: red\n", "codebook", ("field 'colour'", "unknown field")),
    Case("nul.json", b'{"categories": [{"name": "A", "definition": "x\\u0000y"}]}', "codebook", ("NUL",)),
    Case("huge.yaml", b"categories:\n- name: A\n  definition: " + b"x" * 5000 + b"\n", "codebook", ("limit",)),
    Case("empty.yaml", b"# nothing here\n", "codebook", ("expected a mapping",)),
    # --- roster -----------------------------------------------------------------------------------
    Case("roster_twice.csv", b"user_id,job_title\nu1,Nurse\nu1,Physician\n", "roster",
         ("row 3", "field 'user_id'", "listed twice")),
    Case("roster_date.csv", b"user_id,job_title,start_date\nu1,Nurse,soon\n", "roster",
         ("row 2", "field 'start_date'", "unparseable date")),
    Case("roster_backwards.csv", b"user_id,job_title,start_date,end_date\nu1,Nurse,2024-05-01,2024-01-01\n", "roster",
         ("row 2", "field 'end_date'", "before it starts")),
    Case("roster_no_user.csv", b"employee,job_title\nu1,Nurse\n", "roster", ("no column 'user_id'",)),
    Case("roster_nul.csv", b"user_id,job_title\nu1,Nu\x00rse\n", "roster", ("row 2", "field 'job_title'", "NUL")),
    Case("roster_header_only.csv", b"user_id,job_title\n", "roster", ("nothing to import",)),
    # --- role mapping -----------------------------------------------------------------------------
    Case("map_group.csv", b"title,role_group,soc_group\nNurse,doctorish,29-0000\n", "mapping",
         ("row 2", "field 'role_group'", "unknown role group")),
    Case("map_soc.csv", b"title,role_group,soc_group\nNurse,clinician,99-0000\n", "mapping",
         ("row 2", "field 'soc_group'", "not a 2018 SOC major group")),
    Case("map_twice.csv", b"title,role_group\nNurse,clinician\n nurse ,non-clinician\n", "mapping",
         ("row 3", "field 'title'", "listed twice")),
    Case("map_no_title.csv", b"role_group\nclinician\n", "mapping", ("no column 'title'",)),
    Case("map_empty_title.csv", b"title,role_group\n ,clinician\n", "mapping", ("row 2", "empty job title")),
]


def args_for(case: Case, path: Path) -> list[str]:
    return {"threads": ["import-threads", str(path)], "messages": ["import-threads", str(path), *MSG_MAP],
            "labels": ["import-labels", str(path), "--round", "r1"], "codebook": ["import-codebook", str(path)],
            "roster": ["import-roster", str(path)], "mapping": ["import-role-mapping", str(path)]}[case.importer]


@pytest.fixture
def small_limits(monkeypatch):
    """Limits small enough that the bombs in the corpus stay a few kilobytes."""
    monkeypatch.setattr(sources, "MIN_EXPANDED", 1024 * 1024)
    monkeypatch.setattr(sources, "MAX_LINE", 100_000)
    monkeypatch.setattr(sources, "MAX_XLSX_SHEETS", 3)
    monkeypatch.setattr(sources, "MAX_COLUMNS", 10)
    monkeypatch.setattr(sources, "MAX_CODEBOOK_BYTES", 4000)


def test_the_corpus_is_large_and_distinct():
    assert len(CASES) >= 54
    assert len({c.name for c in CASES}) == len(CASES)
    assert len({c.content() for c in CASES}) == len(CASES)
    assert {c.importer for c in CASES} == {"threads", "messages", "labels", "codebook", "roster", "mapping"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_file_is_one_clear_line_and_changes_nothing(db_url, engine, session, tmp_path, small_limits, case):
    make_codebook(session)
    make_threads(session, 2, seed=0)
    path = tmp_path / case.name
    path.write_bytes(case.content())
    before = dump_tables(engine)

    result = run_cli(args_for(case, path), db_url)

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "Aborted" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and case.name in lines[0], lines[0]
    for fragment in case.expect:
        assert fragment in lines[0], (fragment, lines[0])
    assert dump_tables(engine) == before
