"""`annotator classify` end to end against the loopback OpenAI-compatible server (tests/fake_openai.py):
one stored prediction per thread, dry run, the answer cache, transport and answer faults, --retry-failed,
resuming a killed run, the Batch API path and the local scikit-learn backend.

A `[[category: NAME]]` marker in a thread's text makes the fake server answer NAME.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from annotator.data.engine import make_engine
from annotator.data.models import Assignment, ModelRun, Prediction, Round, Thread
from annotator.data.models import TrainingThread
from annotator.llm.local import LocalModel, train_local_model
from tests.factories import CATEGORIES, dump_tables, make_codebook, make_round, make_threads, run_cli
from tests.fake_openai import MALFORMED_TEXT, FakeOpenAI, default_category

THREAD_NO = re.compile(r"thread (\d+):")


pytestmark = pytest.mark.usefixtures("llm_env")


def corpus(session: Session, answers: list[str], *, seed: int = 0) -> list[Thread]:
    """The default test codebook and one thread per forced answer (thread i answers answers[i])."""
    make_codebook(session)
    texts = [f"thread {i}: please help with this [[category: {a}]]" for i, a in enumerate(answers)]
    return make_threads(session, len(answers), seed=seed, text=texts)


def classify(db_url: str, fake: FakeOpenAI, *args: str):
    return run_cli(["classify", *args, "--base-url", fake.base_url], db_url)


def predictions(engine, run_id: int | None = None) -> dict[str, Prediction]:
    """External thread id -> prediction of one run (default: the newest)."""
    with Session(engine) as s:
        run_id = run_id or s.execute(select(func.max(ModelRun.id))).scalar_one()
        rows = s.execute(select(Thread.external_id, Prediction).join(Thread, Thread.id == Prediction.thread_id)
                         .where(Prediction.run_id == run_id)).all()
        for _, p in rows:
            s.expunge(p)
    return dict(rows)


def all_threads(engine) -> list[Thread]:
    with Session(engine) as s:
        return list(s.execute(select(Thread).order_by(Thread.id)).scalars())


def runs(engine) -> list[ModelRun]:
    with Session(engine, expire_on_commit=False) as s:
        return list(s.execute(select(ModelRun).order_by(ModelRun.id)).scalars())


# -- one prediction per thread, dry run, cache ----------------------------------------------------------------


def test_classify_round_stores_one_prediction_per_thread(db_url, engine, session, fake):
    answers = ["Coding", "Research", "Other", "Patient communication", "Clinical documentation", "Coding", "Research",
               "Other"]
    threads = corpus(session, answers)
    make_round(session, name="r1", size=5, per_thread=2, seed=3)
    with Session(engine) as s:
        in_round = set(s.execute(select(Thread.external_id).join(Assignment, Assignment.thread_id == Thread.id)
                                 .join(Round, Round.id == Assignment.round_id).where(Round.name == "r1")).scalars())
    assert len(in_round) == 5

    res = classify(db_url, fake, "--round", "r1")

    assert res.exit_code == 0, res.output
    assert "5 threads, 0 from cache, 5 asked, 5 ok, 0 failed, 5 requests" in res.stdout
    assert fake.count("chat") == 5
    preds = predictions(engine)
    assert set(preds) == in_round
    expected = {t.external_id: answers[i] for i, t in enumerate(threads)}
    assert {t: (p.category, p.status, p.cached) for t, p in preds.items()} == \
        {t: (expected[t], "ok", False) for t in in_round}
    assert all(p.prompt_tokens > 0 and p.completion_tokens > 0 and len(p.cache_key) == 64 for p in preds.values())
    (run,) = runs(engine)
    assert (run.scope, run.status, run.n_requests, run.backend, run.model) == ("round:r1", "done", 5, "openai", "gpt-4o")
    assert run.prompt_tokens == sum(p.prompt_tokens for p in preds.values())
    assert run.cost_usd is not None and run.cost_usd > 0


def test_dry_run_sends_nothing_and_prints_requests_tokens_and_cost(db_url, engine, session, fake):
    corpus(session, ["Coding"] * 4)
    before = dump_tables(engine)

    res = classify(db_url, fake, "--all", "--dry-run")

    assert res.exit_code == 0, res.output
    assert fake.count() == 0
    m = re.search(r"dry run: 4 threads, 0 answered before \(cache\), 4 requests, ~([\d,]+) prompt \+ ~([\d,]+) "
                  r"completion tokens, estimated cost \$(\d+\.\d\d); nothing was sent", res.stdout)
    assert m, res.stdout
    assert int(m.group(1).replace(",", "")) > 4 * 100  # the codebook alone is hundreds of tokens per request
    assert dump_tables(engine) == before  # no run, no audit row


def test_dry_run_after_a_run_counts_cached_answers(db_url, engine, session, fake):
    corpus(session, ["Coding", "Research", "Other"])
    assert classify(db_url, fake, "--all").exit_code == 0
    res = classify(db_url, fake, "--all", "--dry-run")
    assert "3 threads, 3 answered before (cache), 0 requests, ~0 prompt" in res.stdout
    assert fake.count("chat") == 3


def test_second_identical_run_asks_nothing_and_marks_predictions_cached(db_url, engine, session, fake):
    corpus(session, ["Coding", "Research", "Other", "Coding"])
    first = classify(db_url, fake, "--all")
    assert first.exit_code == 0 and fake.count("chat") == 4

    second = classify(db_url, fake, "--all")

    assert second.exit_code == 0, second.output
    assert fake.count("chat") == 4  # nothing new was sent
    assert "4 threads, 4 from cache, 0 asked" in second.stdout
    run1, run2 = runs(engine)
    p1, p2 = predictions(engine, run1.id), predictions(engine, run2.id)
    assert {t: p.category for t, p in p2.items()} == {t: p.category for t, p in p1.items()}
    assert all(p.cached and p.prompt_tokens == 0 and p.completion_tokens == 0 for p in p2.values())
    assert not any(p.cached for p in p1.values())
    assert (run2.n_requests, run2.prompt_tokens, run2.status) == (0, 0, "done")


def test_a_new_codebook_version_or_another_model_asks_again(db_url, engine, session, fake):
    corpus(session, ["Coding", "Research", "Other"])
    assert classify(db_url, fake, "--all").exit_code == 0
    assert fake.count("chat") == 3

    make_codebook(session, CATEGORIES, note="v2")  # same categories and definitions: same prompt, cached
    assert classify(db_url, fake, "--all").exit_code == 0
    assert fake.count("chat") == 3

    make_codebook(session, ("Clinical documentation", "Research", "Coding", "Other"))  # a new version
    res = classify(db_url, fake, "--all")
    assert res.exit_code == 0 and "0 from cache, 3 asked" in res.stdout
    assert fake.count("chat") == 6
    assert runs(engine)[-1].codebook_version_id != runs(engine)[0].codebook_version_id

    res = classify(db_url, fake, "--all", "--model", "gpt-4o-mini")
    assert res.exit_code == 0 and "0 from cache, 3 asked" in res.stdout
    assert fake.count("chat") == 9
    assert [r.model for r in fake.chat_requests()[-3:]] == ["gpt-4o-mini"] * 3

    assert classify(db_url, fake, "--all", "--model", "gpt-4o-mini").exit_code == 0
    assert fake.count("chat") == 9  # and that model's answers are cached in turn


def test_an_old_codebook_version_is_still_served_from_the_cache(db_url, engine, session, fake):
    corpus(session, ["Coding", "Research"])
    assert classify(db_url, fake, "--all").exit_code == 0
    make_codebook(session, ("Coding", "Research", "Other", "Brainstorming"))
    assert classify(db_url, fake, "--all").exit_code == 0
    assert fake.count("chat") == 4
    res = classify(db_url, fake, "--all", "--codebook-version", "1")
    assert res.exit_code == 0 and "2 from cache, 0 asked" in res.stdout
    assert fake.count("chat") == 4


def test_no_api_key_is_one_line_and_exit_status_1(db_url, session, monkeypatch):
    corpus(session, ["Coding"])
    monkeypatch.delenv("OPENAI_API_KEY")
    res = run_cli(["classify", "--all"], db_url)
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines() == [
        "error: no API key: set OPENAI_API_KEY in the environment (or use --base-url for a local server)"]


def test_round_and_all_are_exclusive(db_url, session, fake):
    corpus(session, ["Coding"])
    res = classify(db_url, fake, "--all", "--round", "r1")
    assert res.exit_code == 2 and "exactly one of --round NAME or --all" in res.output
    assert fake.count() == 0


# -- faults --------------------------------------------------------------------------------------------------


def test_rate_limit_is_retried_after_the_retry_after_delay(db_url, engine, session, fake):
    corpus(session, ["Coding", "Research"])
    fake.queue_faults(["429:1"])
    started = time.perf_counter()

    res = classify(db_url, fake, "--all", "--concurrency", "1")

    assert res.exit_code == 0, res.output
    assert time.perf_counter() - started >= 0.95  # the client's own backoff would be <= 0.5 s
    reqs = fake.chat_requests()
    assert [(r.attrs["status"], r.attrs["retry_count"]) for r in reqs] == [(429, "0"), (200, "1"), (200, "0")]
    assert {p.status for p in predictions(engine).values()} == {"ok"}
    assert runs(engine)[0].n_requests == 3


def test_server_error_is_retried(db_url, engine, session, fake):
    corpus(session, ["Coding", "Research"])
    fake.queue_faults(["500"])
    res = classify(db_url, fake, "--all", "--concurrency", "1")
    assert res.exit_code == 0, res.output
    assert [r.attrs["status"] for r in fake.chat_requests()] == [500, 200, 200]
    assert {t: (p.category, p.status) for t, p in predictions(engine).items()} == \
        {"t0-000000": ("Coding", "ok"), "t0-000001": ("Research", "ok")}
    assert "2 ok, 0 failed, 3 requests" in res.stdout


def test_a_slow_answer_past_the_timeout_is_asked_again(db_url, engine, session, fake, monkeypatch):
    corpus(session, ["Coding", "Research"])
    monkeypatch.setenv("ANNOTATOR_LLM_TIMEOUT", "0.5")
    fake.slow_seconds = 6.0
    fake.queue_faults(["slow"])
    started = time.perf_counter()

    res = classify(db_url, fake, "--all", "--concurrency", "1")

    assert res.exit_code == 0, res.output
    assert time.perf_counter() - started < 5.0  # gave up on the slow answer instead of waiting for it
    assert [r.attrs["fault"] for r in fake.chat_requests()] == ["slow", None, None]
    assert {p.status for p in predictions(engine).values()} == {"ok"}


def test_malformed_answers_twice_are_stored_failed_with_the_raw_text(db_url, engine, session, fake):
    corpus(session, ["Coding", "Research", "Other"])
    fake.queue_faults(["malformed", "malformed"])  # concurrency 1: both hit the first thread

    res = classify(db_url, fake, "--all", "--concurrency", "1")

    assert res.exit_code == 0, res.output
    assert "2 ok, 1 failed, 4 requests" in res.stdout
    preds = predictions(engine)
    bad = preds["t0-000000"]
    assert (bad.status, bad.category, bad.raw, bad.error) == ("failed", None, MALFORMED_TEXT, "no JSON object in answer")
    assert bad.prompt_tokens > 0  # both answered requests are billed
    assert all(p.status == "ok" and p.raw is None for t, p in preds.items() if t != "t0-000000")


def test_an_unknown_category_once_is_asked_again_and_stored_ok(db_url, engine, session, fake):
    corpus(session, ["Coding", "Research"])
    fake.queue_faults(["unknown_category"])
    res = classify(db_url, fake, "--all", "--concurrency", "1")
    assert res.exit_code == 0, res.output
    assert "2 ok, 0 failed, 3 requests" in res.stdout
    assert {t: (p.category, p.status) for t, p in predictions(engine).items()} == \
        {"t0-000000": ("Coding", "ok"), "t0-000001": ("Research", "ok")}


def test_retry_failed_asks_again_only_for_the_failed_threads(db_url, engine, session, fake):
    corpus(session, ["Coding", "Research", "Other", "Coding"])
    fake.queue_faults(["malformed", "malformed"])
    assert classify(db_url, fake, "--all", "--concurrency", "1").exit_code == 0
    assert fake.count("chat") == 5

    plain = classify(db_url, fake, "--all")  # a failed answer is not paid for twice by default
    assert plain.exit_code == 0 and fake.count("chat") == 5
    assert predictions(engine)["t0-000000"].status == "failed"

    res = classify(db_url, fake, "--all", "--retry-failed")

    assert res.exit_code == 0, res.output
    assert "4 threads, 3 from cache, 1 asked, 1 ok" in res.stdout
    assert fake.count("chat") == 6
    preds = predictions(engine)
    assert {t: (p.category, p.status) for t, p in preds.items()} == {
        "t0-000000": ("Coding", "ok"), "t0-000001": ("Research", "ok"), "t0-000002": ("Other", "ok"),
        "t0-000003": ("Coding", "ok")}
    assert [t for t, p in preds.items() if not p.cached] == ["t0-000000"]

    assert classify(db_url, fake, "--all", "--retry-failed").exit_code == 0
    assert fake.count("chat") == 6  # nothing failed any more

    later = classify(db_url, fake, "--all")  # the cache serves the good answer, not the older failed one
    assert later.exit_code == 0 and "4 from cache, 0 asked" in later.stdout
    assert {p.status for p in predictions(engine).values()} == {"ok"}
    assert fake.count("chat") == 6


# -- a killed run resumes ------------------------------------------------------------------------------------


def _annotator_command() -> list[str]:
    script = Path(sys.executable).with_name("annotator")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from annotator.cli import main; main()"]


def test_a_killed_run_resumes_without_asking_any_thread_twice(sqlite_url, tmp_path):
    n, concurrency, latency = 60, 2, 0.1
    asked: list[int] = []

    def answer(user: str, names):
        asked.append(int(THREAD_NO.search(user).group(1)))
        return default_category(user, names)

    engine = make_engine(sqlite_url)
    with Session(engine) as s:
        corpus(s, ["Coding", "Research", "Other"] * (n // 3))

    def stored() -> set[int]:
        with engine.connect() as conn:
            return set(conn.execute(select(Prediction.thread_id)).scalars())

    with FakeOpenAI(latency=latency, answer=answer) as fake:
        env = dict(os.environ, OPENAI_API_KEY="test")
        proc = subprocess.Popen(
            [*_annotator_command(), "--db", sqlite_url, "classify", "--all", "--base-url", fake.base_url,
             "--concurrency", str(concurrency)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while len(stored()) < n // 2:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the run did not get half way in 60 s"
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(timeout=10)
        time.sleep(3 * latency)  # requests in flight at the kill reach the server's answer step
        stored_first = stored()
        requests_first = fake.count("chat")
        asked_first = list(asked)
        assert n // 2 <= len(stored_first) < n
        (run,) = runs(engine)
        assert run.status == "running"

        res = run_cli(["classify", "--all", "--base-url", fake.base_url, "--concurrency", str(concurrency)],
                      sqlite_url)

        assert res.exit_code == 0, res.output
        asked_second = asked[len(asked_first):]
    ids = {t.id: i for i, t in enumerate(all_threads(engine))}  # row id -> the i in 'thread i:'
    (resumed,) = runs(engine)
    assert resumed.id == run.id and resumed.status == "done"
    with engine.connect() as conn:
        per_thread = Counter(t for (t,) in conn.execute(select(Prediction.thread_id)).all())
    assert set(per_thread) == set(ids) and set(per_thread.values()) == {1}  # every thread exactly once
    missing = {ids[t] for t in set(ids) - stored_first}
    assert sorted(asked_second) == sorted(missing)  # only the threads not stored, each once
    assert not set(asked_second) & {ids[t] for t in stored_first}
    lost_in_flight = requests_first - len(stored_first)  # answers the kill cut off: asked again, unavoidably
    assert 0 <= lost_in_flight <= concurrency
    assert len(asked_first) == requests_first
    assert fake.count("chat") == n + lost_in_flight
    engine.dispose()


# -- Batch API -----------------------------------------------------------------------------------------------


def _batch_creates(fake: FakeOpenAI) -> int:
    return sum(1 for r in fake.requests if r.attrs.get("kind") == "batches" and r.attrs.get("action") == "create")


def test_batch_run_stores_every_answer(db_url, engine, session, fake):
    answers = ["Coding", "Research", "Other", "Patient communication"]
    corpus(session, answers)

    res = classify(db_url, fake, "--all", "--batch", "--poll-seconds", "0.1")

    assert res.exit_code == 0, res.output
    assert fake.count("chat") == 0 and fake.count("files") == 1 and _batch_creates(fake) == 1
    assert {t: (p.category, p.status) for t, p in predictions(engine).items()} == \
        {f"t0-{i:06d}": (a, "ok") for i, a in enumerate(answers)}
    (run,) = runs(engine)
    assert run.status == "done" and run.batch_id and run.params["batches"][0]["ingested"] is True
    assert run.cost_usd is not None and run.prompt_tokens > 0


def test_batch_no_wait_then_rerun_resumes_the_stored_batch(db_url, engine, session, fake):
    corpus(session, ["Coding", "Research", "Other"])

    first = classify(db_url, fake, "--all", "--batch", "--no-wait")

    assert first.exit_code == 0, first.output
    assert "(batch_pending)" in first.stdout
    (run,) = runs(engine)
    assert run.status == "batch_pending" and run.batch_id
    assert predictions(engine) == {}

    second = classify(db_url, fake, "--all", "--batch", "--poll-seconds", "0.1")

    assert second.exit_code == 0, second.output
    assert _batch_creates(fake) == 1 and fake.count("files") == 1  # polled the stored batch, submitted nothing
    (done,) = runs(engine)
    assert (done.id, done.status, done.batch_id) == (run.id, "done", run.batch_id)
    assert {p.category for p in predictions(engine).values()} == {"Coding", "Research", "Other"}

    third = classify(db_url, fake, "--all", "--batch", "--poll-seconds", "0.1")
    assert third.exit_code == 0 and "3 from cache" in third.stdout
    assert _batch_creates(fake) == 1


def test_batch_error_lines_are_stored_failed_and_retry_failed_resubmits_only_them(db_url, engine, session, fake):
    corpus(session, ["Coding", "Research", "Other"])
    with Session(engine) as s:  # the second thread's request lands in the batch's error file
        t = s.execute(select(Thread).where(Thread.external_id == "t0-000001")).scalars().one()
        t.text += " [[batch_error]]"
        s.add(t)
        s.commit()

    res = classify(db_url, fake, "--all", "--batch", "--poll-seconds", "0.1")

    assert res.exit_code == 0, res.output
    assert "2 ok, 1 failed" in res.stdout
    bad = predictions(engine)["t0-000001"]
    assert (bad.status, bad.category) == ("failed", None) and bad.error.startswith("HTTP 400")

    again = classify(db_url, fake, "--all", "--batch", "--poll-seconds", "0.1", "--retry-failed")

    assert again.exit_code == 0, again.output
    assert "3 threads, 2 from cache, 1 asked" in again.stdout
    assert _batch_creates(fake) == 2
    uploads = [data for data, purpose, _ in fake._files.values() if purpose == "batch"]
    assert [len(u.splitlines()) for u in uploads] == [3, 1]  # the second batch holds the failed thread only


def test_a_batch_that_ends_without_a_result_for_a_thread_stores_it_failed(db_url, engine, session, fake, monkeypatch):
    from annotator.llm import batch as batch_api

    corpus(session, ["Coding", "Research", "Other"])
    real = batch_api.iter_batch_results

    def expired_after_two(client, info, names):  # as an expired batch that answered only part of its input
        yield from list(real(client, info, names))[:2]

    monkeypatch.setattr(batch_api, "iter_batch_results", expired_after_two)

    res = classify(db_url, fake, "--all", "--batch", "--poll-seconds", "0.1")

    assert res.exit_code == 0, res.output
    preds = predictions(engine)
    assert len(preds) == 3 and "2 ok, 1 failed" in res.stdout
    (missing,) = [p for p in preds.values() if p.status == "failed"]
    assert missing.error == "batch completed: no result for this thread" and missing.raw is None


# -- local backend -------------------------------------------------------------------------------------------

LOCAL_WORDS = {"Coding": "python sql script function bug", "Research": "study cohort statistics trial paper",
               "Patient communication": "patient message reply portal family"}


def test_local_backend_trains_on_consensus_and_stores_cross_validated_scores(db_url, engine, session, tmp_path):
    make_codebook(session)
    cats = [c for c in LOCAL_WORDS for _ in range(6)]
    texts = [f"{LOCAL_WORDS[c]} case {i}" for i, c in enumerate(cats)]
    threads = make_threads(session, len(cats), seed=5, text=texts)
    rows = ["thread_id,reviewer,category"] + [f"{t.external_id},{r},{c}" for t, c in zip(threads, cats)
                                              for r in ("ana", "ben", "cy")]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    assert run_cli(["import-labels", tmp_path / "labels.csv", "--round", "train"], db_url).exit_code == 0

    res = run_cli(["classify", "--round", "train", "--backend", "local"], db_url)

    assert res.exit_code == 0, res.output
    assert "18 threads classified locally" in res.stdout
    (run,) = runs(engine)
    assert (run.backend, run.status, run.scope, run.params["n_train"], run.params["train_rounds"]) == \
        ("local", "done", "round:train", 18, ["train"])
    reference = train_local_model(texts, cats, seed=0)  # the same threads, in thread id order
    assert run.params["cv"] == reference.cv
    assert run.params["cv"]["folds"] == 5 and 0.0 <= run.params["cv"]["accuracy"] <= 1.0
    assert (run.params["cross_fit"], run.params["folds"], run.params["folds_note"]) == (True, 5, "5-fold cross-fitting")
    preds = predictions(engine)
    # every thread trained the model, so each stored prediction is its out-of-fold one, never the fit's own
    assert {t.external_id: preds[t.external_id].category for t in threads} == \
        {t.external_id: c for t, (c, _) in zip(threads, reference.out_of_fold)}
    assert all(p.status == "ok" and 0 < p.confidence <= 1 for p in preds.values())
    assert all("out of fold" in p.rationale for p in preds.values())
    with Session(engine) as s:
        training = s.execute(select(TrainingThread.thread_id, TrainingThread.category, TrainingThread.fold)
                             .order_by(TrainingThread.thread_id)).all()
    assert [(t, c, f) for t, c, f in training] == [(t.id, c, f) for t, c, f in zip(threads, cats, reference.fold_of)]
    model = LocalModel.from_bytes(run.local_model)
    assert model.predict(["python sql bug"])[0][0] == "Coding"


def test_local_backend_without_consensus_says_what_to_do(db_url, session):
    corpus(session, ["Coding"])
    res = run_cli(["classify", "--all", "--backend", "local"], db_url)
    assert res.exit_code == 1
    assert "needs consensus labels of at least two categories" in res.stderr


def test_a_second_answer_for_the_same_thread_of_a_run_is_dropped_not_an_error(db_url):
    """Two processes resuming the same run may both answer a thread: the first stored answer stands."""
    from sqlalchemy import func, select

    from annotator.data.engine import ensure_schema, make_engine
    from annotator.data.models import ModelRun, Prediction, Thread
    from annotator.llm.client import Outcome
    from annotator.services.classify import _store_outcome
    from tests.factories import make_round

    engine = make_engine(db_url)
    ensure_schema(engine)
    try:
        from sqlmodel import Session

        with Session(engine) as s:
            rnd = make_round(s).round
            run = ModelRun(backend="openai", model="m", codebook_version_id=rnd.codebook_version_id)
            s.add(run)
            s.commit()
            run_id = run.id
            thread_id = s.execute(select(Thread.id).limit(1)).scalar_one()
        _store_outcome(engine, run_id, thread_id, "k", Outcome(status="ok", category="A"))
        _store_outcome(engine, run_id, thread_id, "k", Outcome(status="ok", category="B"))
        with engine.connect() as conn:
            rows = conn.execute(select(Prediction.category).where(Prediction.run_id == run_id)).scalars().all()
            assert rows == ["A"]
            assert conn.execute(select(func.count()).select_from(Prediction)).scalar_one() == 1
    finally:
        engine.dispose()
