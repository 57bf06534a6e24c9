"""Batch classification at any size, against the loopback server: input files split by bytes as well as by
count, a lost connection / lost answer / 5xx gives one clear line, and a rerun resumes with no thread asked
twice."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from annotator.llm.batch import BATCH_BYTE_MARGIN
from tests.data.test_classify import classify, corpus, predictions, runs
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.usefixtures("llm_env")
ANSWERS = ["Coding", "Research", "Other", "Patient communication"] * 3  # 12 threads


def _uploads(fake: FakeOpenAI) -> list[list[str]]:
    """custom_ids of every batch input file the server received, in upload order."""
    files = [(int(fid.split("-")[1]), data) for fid, (data, purpose, _) in fake._files.items() if purpose == "batch"]
    return [[json.loads(line)["custom_id"] for line in data.splitlines()] for _, data in sorted(files)]


@pytest.fixture
def small_files(monkeypatch, fake):
    """The server accepts input files of at most 8,000 bytes; annotator is told the same (a few requests each)."""
    fake.max_upload_bytes = 8_000
    monkeypatch.setenv("ANNOTATOR_BATCH_MAX_BYTES", "8000")
    return fake


def test_a_corpus_over_the_byte_limit_is_split_and_completes(db_url, engine, session, small_files):
    fake = small_files
    corpus(session, ANSWERS)

    res = classify(db_url, fake, "--all", "--batch", "--poll-seconds", "0.05")

    assert res.exit_code == 0, res.output
    uploads = _uploads(fake)
    assert len(uploads) >= 3  # one file could not hold 12 requests of the default prompt
    assert all(len(data) <= 8_000 * BATCH_BYTE_MARGIN for data, purpose, _ in fake._files.values() if purpose == "batch")
    asked = Counter(cid for part in uploads for cid in part)
    assert len(asked) == 12 and set(asked.values()) == {1}
    preds = predictions(engine)
    assert {p.status for p in preds.values()} == {"ok"} and len(preds) == 12
    (run,) = runs(engine)
    assert run.status == "done" and len(run.params["batches"]) == len(uploads)


def test_a_lost_connection_is_one_line_and_the_rerun_asks_no_thread_twice(db_url, engine, session, small_files,
                                                                           monkeypatch):
    fake = small_files
    monkeypatch.setenv("ANNOTATOR_LLM_MAX_RETRIES", "0")
    corpus(session, ANSWERS)
    fake.queue_api_faults(["", "", "drop"])  # part 1 uploaded and created; the upload of part 2 loses the connection

    first = classify(db_url, fake, "--all", "--batch", "--poll-seconds", "0.05")

    assert first.exit_code == 1
    assert "Traceback" not in first.output and first.stderr.count("\n") == 1
    line = first.stderr.strip()
    assert fake.base_url in line and "uploading a batch file" in line and "lost the connection" in line
    assert "run the same command again to resume run 1" in line
    assert predictions(engine) == {}

    second = classify(db_url, fake, "--all", "--batch", "--poll-seconds", "0.05")

    assert second.exit_code == 0, second.output
    asked = Counter(cid for part in _uploads(fake) for cid in part)
    assert len(asked) == 12 and set(asked.values()) == {1}  # part 1 was polled, not sent again
    assert len(predictions(engine)) == 12 and [r.status for r in runs(engine)] == ["done"]


def test_a_lost_answer_to_batch_create_finds_the_batch_instead_of_paying_twice(db_url, engine, session, small_files,
                                                                               monkeypatch):
    fake = small_files
    monkeypatch.setenv("ANNOTATOR_LLM_MAX_RETRIES", "0")
    corpus(session, ANSWERS)
    fake.queue_api_faults(["", "drop_after"])  # the batch of part 1 is created, but its answer never arrives

    res = classify(db_url, fake, "--all", "--batch", "--poll-seconds", "0.05")

    assert res.exit_code == 0, res.output
    creates = [r for r in fake.requests if r.attrs.get("action") == "create"]
    assert len(creates) == len(_uploads(fake))  # no second batch for part 1
    assert len(predictions(engine)) == 12


@pytest.mark.parametrize("fault, reason", [("500", "HTTP 500"), ("drop", "lost the connection")])
def test_a_failing_poll_is_one_line_and_the_rerun_finishes(db_url, engine, session, fake, monkeypatch, fault, reason):
    monkeypatch.setenv("ANNOTATOR_LLM_MAX_RETRIES", "0")
    corpus(session, ANSWERS[:3])
    fake.queue_api_faults(["", "", fault])  # upload, create, then the first poll fails

    first = classify(db_url, fake, "--all", "--batch", "--poll-seconds", "0.05")

    assert first.exit_code == 1 and "Traceback" not in first.output
    assert f"checking batch batch-" in first.stderr and reason in first.stderr and "resume run 1" in first.stderr
    second = classify(db_url, fake, "--all", "--batch", "--poll-seconds", "0.05")
    assert second.exit_code == 0, second.output
    assert len(_uploads(fake)) == 1 and len(predictions(engine)) == 3


def test_an_endpoint_that_goes_down_mid_run_is_one_line_and_the_run_resumes(db_url, engine, session, fake, monkeypatch):
    """The direct (non-batch) path: after answers stop coming, the run stops with one line; the rerun asks only
    the threads that were never answered."""
    monkeypatch.setenv("ANNOTATOR_LLM_MAX_RETRIES", "0")
    corpus(session, ANSWERS)
    fake.queue_faults([""] * 4 + ["500"] * 20)  # four answers, then the server fails every request

    first = classify(db_url, fake, "--all", "--concurrency", "1")

    assert first.exit_code == 1 and "Traceback" not in first.output
    line = first.stderr.strip().splitlines()[-1]
    assert fake.base_url in line and "classifying threads failed" in line and "resume run 1" in line
    answered = set(predictions(engine))
    assert len(answered) == 4
    fake.queue_faults([])
    fake._faults.clear()
    second = classify(db_url, fake, "--all", "--concurrency", "1")
    assert second.exit_code == 0, second.output
    assert len(predictions(engine)) == 12 and {p.status for p in predictions(engine).values()} == {"ok"}
    asked_again = [r for r in fake.chat_requests() if r.attrs.get("status") == 200]
    assert len(asked_again) == 12  # 4 answered first, 8 on resume: none twice
