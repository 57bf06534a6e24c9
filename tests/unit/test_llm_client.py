"""The async LLM client against the loopback fake OpenAI server: retries, fallbacks, concurrency, Azure."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from annotator.errors import InvalidInput
from annotator.llm.client import (
    LLMConfig,
    Outcome,
    classify_messages,
    make_async_client,
    reset_schema_fallbacks,
    run_classification,
)
from annotator.llm.prompt import CategorySpec, build_messages, category_names
from tests.fake_openai import MALFORMED_TEXT, FakeOpenAI

CODEBOOK = [
    CategorySpec("Email & Document Writing", "Drafting emails and documents.", ["Write an email"]),
    CategorySpec("Coding", "Writing or fixing code.", ["Fix my SQL"]),
    CategorySpec("Answer Medical Knowledge Questions", "Clinical knowledge.", ["Max dose of ibuprofen?"]),
]
NAMES = category_names(CODEBOOK)
SECRET = "sk-test-secret-value-123"


@pytest.fixture
def fake():
    reset_schema_fallbacks()  # a new server may get a port an earlier one had
    with FakeOpenAI() as server:
        yield server


def config(fake: FakeOpenAI, **overrides) -> LLMConfig:
    values = {"base_url": fake.base_url, "api_key": SECRET, "timeout": 2.0, "max_retries": 3}
    return LLMConfig(**(values | overrides))


def classify_one(cfg: LLMConfig, text: str) -> Outcome:
    async def go() -> Outcome:
        client = make_async_client(cfg)
        try:
            return await classify_messages(client, cfg, build_messages(CODEBOOK, text), NAMES)
        finally:
            await client.close()

    return asyncio.run(go())


def run(cfg: LLMConfig, texts: list[str], **kwargs) -> tuple[dict[str, Outcome], object]:
    results: dict[str, Outcome] = {}
    stats = run_classification(
        [(f"t{i}", build_messages(CODEBOOK, t)) for i, t in enumerate(texts)],
        cfg,
        category_names=NAMES,
        on_result=lambda item_id, outcome: results.__setitem__(item_id, outcome),
        **kwargs,
    )
    return results, stats


def test_ok_answer_carries_category_usage_and_schema_mode(fake):
    messages = build_messages(CODEBOOK, "please draft an email to the team")
    outcome = classify_one(config(fake), "please draft an email to the team")
    assert outcome.status == "ok" and outcome.category == "Email & Document Writing"
    assert outcome.confidence == 0.9 and outcome.rationale
    assert outcome.prompt_tokens == sum(len(m["content"]) for m in messages) // 4
    assert outcome.completion_tokens > 0
    assert (outcome.attempts, outcome.schema_mode, outcome.raw, outcome.error) == (1, "json_schema", None, None)
    [request] = fake.chat_requests()
    assert request.model == "gpt-4o" and request.attrs["response_format"] == "json_schema"
    assert request.attrs["auth"] == "bearer"


def test_rate_limit_waits_for_retry_after_then_succeeds(fake):
    fake.queue_faults(["429:1.2"])  # the client's own backoff would wait at most 0.5 s
    started = time.perf_counter()
    outcome = classify_one(config(fake), "fix this python code")
    elapsed = time.perf_counter() - started
    assert outcome.status == "ok" and outcome.category == "Coding" and outcome.attempts == 2
    assert elapsed >= 1.2
    statuses = [(r.attrs["status"], r.attrs["retry_count"]) for r in fake.chat_requests()]
    assert statuses == [(429, "0"), (200, "1")]


def test_server_error_is_retried_by_the_client(fake):
    fake.queue_faults(["500"])
    outcome = classify_one(config(fake), "what dose of amoxicillin")
    assert outcome.status == "ok" and outcome.category == "Answer Medical Knowledge Questions"
    assert outcome.attempts == 2 and fake.count("chat") == 2


def test_slow_answer_past_the_timeout_is_retried(fake):
    fake.slow_seconds = 2.0
    fake.queue_faults(["slow"])
    started = time.perf_counter()
    outcome = classify_one(config(fake, timeout=0.4), "write a letter")
    assert outcome.status == "ok" and outcome.category == "Email & Document Writing"
    assert fake.count("chat") == 2 and outcome.attempts == 2
    assert 0.4 <= time.perf_counter() - started < 2.0


def test_timeouts_left_after_the_clients_retries_give_a_failed_outcome(fake):
    fake.slow_seconds = 1.0
    fake.queue_faults(["slow", "slow"])
    outcome = classify_one(config(fake, timeout=0.3, max_retries=1), "write a letter")
    assert outcome.status == "failed" and outcome.error == "APITimeoutError" and outcome.attempts == 2
    assert fake.count("chat") == 2


def test_errors_left_after_the_clients_retries_give_a_failed_outcome(fake):
    fake.queue_faults(["500", "500", "500"])
    outcome = classify_one(config(fake, max_retries=1), "write a letter")
    assert outcome.status == "failed" and outcome.category is None
    assert outcome.error == "InternalServerError (HTTP 500)"
    assert outcome.attempts == 2 and fake.count("chat") == 2


def test_other_bad_requests_fail_at_once_without_format_fallback(fake):
    fake.queue_faults(["400"])
    outcome = classify_one(config(fake), "write a letter")
    assert outcome.status == "failed" and outcome.error == "BadRequestError (HTTP 400)"
    assert outcome.attempts == 1
    assert [r.attrs["response_format"] for r in fake.chat_requests()] == ["json_schema"]


def test_malformed_twice_fails_and_keeps_the_raw_answer(fake):
    fake.queue_faults(["malformed", "malformed"])
    outcome = classify_one(config(fake), "write a letter")
    assert outcome.status == "failed" and outcome.category is None
    assert outcome.raw == MALFORMED_TEXT and "no JSON" in outcome.error
    assert outcome.attempts == 2 and fake.count("chat") == 2
    assert outcome.completion_tokens == 2 * (len(MALFORMED_TEXT) // 4)  # both answers are billed


def test_unknown_category_once_is_asked_again(fake):
    fake.queue_faults(["unknown_category"])
    outcome = classify_one(config(fake), "write a letter")
    assert outcome.status == "ok" and outcome.category == "Email & Document Writing"
    assert outcome.attempts == 2 and fake.count("chat") == 2


def test_unknown_category_twice_fails_without_guessing(fake):
    fake.queue_faults(["unknown_category", "unknown_category"])
    outcome = classify_one(config(fake), "write a letter")
    assert outcome.status == "failed" and outcome.category is None
    assert "unknown category" in outcome.error and "Astrology" in outcome.raw
    assert fake.count("chat") == 2


def test_schema_rejection_falls_back_and_is_remembered_for_the_client(fake):
    fake.schema_supported = False
    results, stats = run(config(fake), ["write a letter", "sql query", "a [[category: Coding]] thread"], concurrency=1)
    assert [results[k].category for k in ("t0", "t1", "t2")] == ["Email & Document Writing", "Coding", "Coding"]
    assert {o.schema_mode for o in results.values()} == {"json_object"}
    formats = [r.attrs["response_format"] for r in fake.chat_requests()]
    assert formats == ["json_schema", "json_object", "json_object", "json_object"]
    assert stats.requests == 4 and results["t0"].attempts == 2
    made: list[object] = []

    def factory():
        made.append(make_async_client(config(fake)))
        return made[-1]

    results, stats = run(config(fake), ["write a letter"], concurrency=1, client_factory=factory)  # a new run
    assert len(made) == 1 and results["t0"].schema_mode == "json_object" and stats.requests == 1
    assert fake.chat_requests()[-1].attrs["response_format"] == "json_object"


def test_queued_no_schema_fault_falls_back_once(fake):
    fake.queue_faults(["no_schema"])
    outcome = classify_one(config(fake), "write a letter")
    assert outcome.status == "ok" and outcome.schema_mode == "json_object"
    assert [r.attrs["status"] for r in fake.chat_requests()] == [400, 200]


def test_servers_without_json_modes_get_plain_instructions(fake):
    fake.schema_supported = False
    fake.json_object_supported = False
    outcome = classify_one(config(fake), "python please")
    assert outcome.status == "ok" and outcome.category == "Coding" and outcome.schema_mode == "plain"
    assert [r.attrs["response_format"] for r in fake.chat_requests()] == ["json_schema", "json_object", None]


def test_concurrency_is_bounded_and_reached(fake):
    fake.latency = 0.05
    results, stats = run(config(fake), [f"email number {i}" for i in range(40)], concurrency=5)
    assert len(results) == 40 and stats.ok == 40
    assert fake.max_in_flight == 5


def test_on_result_is_called_once_per_item_with_progress(fake):
    calls: list[str] = []
    progress: list[tuple[int, int | None]] = []
    texts = [f"[[category: {NAMES[i % len(NAMES)]}]] thread {i}" for i in range(25)]
    stats = run_classification(
        ((f"id{i}", build_messages(CODEBOOK, t)) for i, t in enumerate(texts)),  # a generator: no length
        config(fake),
        category_names=NAMES,
        concurrency=4,
        on_result=lambda item_id, outcome: calls.append((item_id, outcome.category)),
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert sorted(calls) == sorted((f"id{i}", NAMES[i % len(NAMES)]) for i in range(25))
    assert progress == [(n, None) for n in range(1, 26)]
    assert (stats.items, stats.ok, stats.failed, stats.requests) == (25, 25, 0, 25)
    assert stats.prompt_tokens > 0 and stats.completion_tokens > 0


def test_items_are_pulled_lazily(fake):
    pulled = 0
    pulled_at_first_result: list[int] = []

    def items():
        nonlocal pulled
        for i in range(100):
            pulled += 1
            yield f"id{i}", build_messages(CODEBOOK, f"letter {i}")

    fake.latency = 0.02
    run_classification(
        items(),
        config(fake),
        category_names=NAMES,
        concurrency=4,
        on_result=lambda item_id, outcome: pulled_at_first_result.append(pulled),
    )
    assert pulled == 100
    assert pulled_at_first_result[0] <= 3 * 4 + 1  # queue of 2 x concurrency plus the workers' items


def test_a_failing_on_result_stops_the_run_and_propagates(fake):
    fake.latency = 0.01
    seen: list[str] = []

    def store(item_id: str, outcome: Outcome) -> None:
        seen.append(item_id)
        if len(seen) == 3:
            raise RuntimeError("database is gone")

    with pytest.raises(RuntimeError, match="database is gone"):
        run_classification(
            [(f"id{i}", build_messages(CODEBOOK, "letter")) for i in range(200)],
            config(fake),
            category_names=NAMES,
            concurrency=2,
            on_result=store,
        )
    assert fake.count("chat") < 20


def test_azure_provider_uses_the_deployment_path_version_and_api_key_header(fake):
    cfg = LLMConfig(
        provider="azure",
        api_key=SECRET,
        azure_endpoint=fake.azure_endpoint,
        azure_deployment="gpt4o-prod",
        api_version="2024-10-21",
        timeout=2.0,
        max_retries=1,
    )
    results, stats = run(cfg, ["write a memo", "sql please"], concurrency=2)
    assert {k: o.category for k, o in results.items()} == {"t0": "Email & Document Writing", "t1": "Coding"}
    for request in fake.chat_requests():
        assert request.path == "/openai/deployments/gpt4o-prod/chat/completions"
        assert request.attrs["api_version"] == "2024-10-21" and request.attrs["auth"] == "api-key"


def test_logs_never_contain_thread_text_or_the_key(fake, caplog):
    fake.queue_faults(["500", "malformed", "unknown_category", "no_schema"])
    with caplog.at_level(logging.DEBUG):
        run(config(fake), ["confidential-thread-text-XYZ write a letter"] * 3, concurrency=2)
    assert caplog.records, "the run should log counts and timings"
    assert "confidential-thread-text-XYZ" not in caplog.text and SECRET not in caplog.text
    assert "Codebook" not in caplog.text


def test_config_validation_and_key_hidden_from_repr():
    with pytest.raises(InvalidInput, match="No API key"):
        LLMConfig(api_key=None)
    with pytest.raises(InvalidInput, match="azure_endpoint"):
        LLMConfig(provider="azure", api_key="k")
    with pytest.raises(InvalidInput, match="provider"):
        LLMConfig(provider="gemini", api_key="k")  # type: ignore[arg-type]
    assert SECRET not in repr(LLMConfig(api_key=SECRET))
    with pytest.raises(InvalidInput, match="concurrency"):
        run_classification([], LLMConfig(api_key="k"), category_names=NAMES, concurrency=0, on_result=print)
