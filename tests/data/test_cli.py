"""The command line end to end on both backends, and its error contract: exit 1, one line, no traceback."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from sqlalchemy import select

from annotator.data.engine import make_engine
from annotator.data.models import Account, Assignment, Thread
from tests.factories import CATEGORIES, dump_tables, run_cli, thread_frame, write_threads_csv, write_threads_file


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    # CliRunner also reports exit code 1 for an unhandled exception: only a deliberate sys.exit(1) counts here
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr.strip()


def test_import_sample_label_export_and_status(db_url, tmp_path):
    texts = ["x" * 33_000 if i in (3, 7) else f"thread number {i}" for i in range(30)]
    threads = write_threads_csv(tmp_path / "threads.csv", 30, seed=9, text=texts)
    assert "30 rows read, 30 threads imported, 0 already present, 0 skipped, 2 truncated" in ok(
        run_cli(["import-threads", threads], db_url))
    assert "0 threads imported, 30 already present" in ok(run_cli(["import-threads", threads], db_url))

    codebook = tmp_path / "codebook.yaml"
    codebook.write_text(yaml.safe_dump({"name": "v1", "categories": [{"name": c} for c in CATEGORIES]}), encoding="utf-8")
    assert ok(run_cli(["import-codebook", codebook], db_url)).strip() == "codebook version 1 created"
    exported = tmp_path / "exported.yaml"
    ok(run_cli(["export-codebook", "--out", exported], db_url))
    assert "unchanged" in ok(run_cli(["import-codebook", exported], db_url))

    out = ok(run_cli(["sample", "--round", "pilot", "--size", "10", "--reviewers", "ana,ben,cho", "--per-thread", "2",
                      "--seed", "3"], db_url))
    assert "round 'pilot': 10 threads, 20 assignments" in out

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assigned = conn.execute(select(Thread.external_id, Account.username)
                                    .join(Assignment, Assignment.thread_id == Thread.id)
                                    .join(Account, Account.id == Assignment.reviewer_id)).all()
    finally:
        engine.dispose()
    labels = pd.DataFrame([(t, r, CATEGORIES[i % 5]) for i, (t, r) in enumerate(sorted(assigned))],
                          columns=["thread_id", "reviewer", "category"])
    labels.to_csv(tmp_path / "labels.csv", index=False)
    assert "round 'pilot': 20 labels added, 0 changed, 0 unchanged" in ok(
        run_cli(["import-labels", tmp_path / "labels.csv", "--round", "pilot"], db_url))

    for fmt in ("csv", "jsonl", "parquet"):
        target = tmp_path / f"labels.{fmt}"
        assert f"wrote 20 labels to {target}" in ok(
            run_cli(["export", "labels", "--round", "pilot", "--format", fmt, "--out", target], db_url))
    back = pd.read_csv(tmp_path / "labels.csv")
    assert sorted(zip(back["thread_id"], back["reviewer"], back["category"])) == sorted(labels.itertuples(index=False, name=None))

    status = json.loads(ok(run_cli(["status", "--format", "json"], db_url)))
    assert {k: status[k] for k in ("threads", "truncated_threads", "rounds", "labels", "reviewers", "codebook_version")} == {
        "threads": 30, "truncated_threads": 2, "rounds": 1, "labels": 20, "reviewers": 3, "codebook_version": 1}


def test_strict_import_names_file_row_and_field_and_changes_nothing(db_url, tmp_path):
    path = write_threads_file(tmp_path / "strict.csv", thread_frame(5, seed=1, created_at=["2024-05-01"] * 3 + ["soon", "2024-05-02"]))
    ok(run_cli(["status"], db_url))  # create the schema, so the dump below sees every table
    engine = make_engine(db_url)
    try:
        before = dump_tables(engine)
        line = one_line_error(run_cli(["import-threads", path, "--strict"], db_url))
        assert line.startswith("error: strict.csv, row 5, field 'created_at': unparseable date 'soon'")
        assert dump_tables(engine) == before
    finally:
        engine.dispose()


def test_skipped_rows_are_listed_and_written_to_a_report(db_url, tmp_path):
    path = write_threads_file(tmp_path / "t.csv", thread_frame(4, seed=1, text=["a", "", "c", " "]))
    result = run_cli(["import-threads", path, "--report", tmp_path / "skipped.csv"], db_url)
    assert "2 threads imported" in ok(result) and "skipped row 3, field 'text': empty text" in result.stderr
    report = pd.read_csv(tmp_path / "skipped.csv")
    assert list(report["row"]) == [3, 5] and set(report["field"]) == {"text"}


@pytest.mark.parametrize("args, message", [
    (["import-threads", "{tmp}/missing.csv"], "missing.csv: no such file"),
    (["import-threads", "{tmp}/t.csv", "--map", "text"], "--map: 'text' is not FIELD=COLUMN"),
    (["import-threads", "{tmp}/t.csv", "--map", "text=body"], "no column 'body' for text"),
    (["import-codebook", "{tmp}/bad.yaml"], "bad.yaml: not valid YAML"),
    (["sample", "--round", "r", "--size", "3", "--reviewers", "a,b,c", "--seed", "1"], "no codebook loaded yet"),
    (["export", "labels", "--round", "nope", "--out", "{tmp}/x.csv"], "no round named 'nope'"),
    (["import-labels", "{tmp}/t.csv", "--round", "r"], "missing column(s) reviewer, category"),
])
def test_user_errors_exit_1_with_one_line(db_url, tmp_path, args, message):
    write_threads_csv(tmp_path / "t.csv", 3, seed=1)
    (tmp_path / "bad.yaml").write_text("categories: [oops\n", encoding="utf-8")
    line = one_line_error(run_cli([a.format(tmp=tmp_path) for a in args], db_url))
    assert message in line


@pytest.mark.parametrize("url, message", [
    ("postgresql://postgres@127.0.0.1:1/annotator", "connection"),
    ("sqlite:////proc/no-such-dir/annotator.sqlite3", "No such file or directory"),
])
def test_unusable_database_is_one_line(url, message):
    line = one_line_error(run_cli(["status"], url))
    assert message in line
