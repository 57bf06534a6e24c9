"""The Batch API path against the fake server, and the price table / cost estimates it is chosen for."""

from __future__ import annotations

import json

import pytest

from annotator.errors import InvalidInput
from annotator.llm import batch as B
from annotator.llm.batch import build_batch_jsonl, get_batch, iter_batch_results, submit_batch
from annotator.llm.client import LLMConfig, make_sync_client
from annotator.llm.pricing import (
    BATCH_DISCOUNT,
    ModelPrice,
    estimate_cost,
    estimate_prompt_tokens,
    estimate_tokens,
    load_price_table,
)
from annotator.llm.prompt import CategorySpec, build_messages, category_names, response_format
from tests.fake_openai import FakeOpenAI

CODEBOOK = [
    CategorySpec("Email & Document Writing", "Drafting emails and documents.", ["Write an email"]),
    CategorySpec("Coding", "Writing or fixing code.", ["Fix my SQL"]),
]
NAMES = category_names(CODEBOOK)


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def items(texts: dict[str, str]) -> list[tuple[str, list[dict]]]:
    return [(cid, build_messages(CODEBOOK, text)) for cid, text in texts.items()]


def test_jsonl_has_one_request_line_per_item_with_the_schema():
    cfg = LLMConfig(api_key="k", model="gpt-4o-mini", seed=7)
    data = build_batch_jsonl(items({"a": "email", "b": "sql"}), cfg, NAMES)
    lines = [json.loads(line) for line in data.decode().splitlines()]
    assert [line["custom_id"] for line in lines] == ["a", "b"]
    for line in lines:
        assert line["method"] == "POST" and line["url"] == "/v1/chat/completions"
        body = line["body"]
        assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.0 and body["seed"] == 7
        assert body["response_format"] == response_format(NAMES)
        assert body["messages"][0]["role"] == "system"


def test_azure_batches_address_the_deployment():
    cfg = LLMConfig(provider="azure", api_key="k", azure_endpoint="https://x.openai.azure.com", azure_deployment="dep1")
    line = json.loads(build_batch_jsonl(items({"a": "email"}), cfg, NAMES))
    assert line["url"] == "/chat/completions" and line["body"]["model"] == "dep1"


def test_jsonl_rejects_repeated_ids_empty_input_and_oversized_batches(monkeypatch):
    cfg = LLMConfig(api_key="k")
    with pytest.raises(InvalidInput, match="appears twice"):
        build_batch_jsonl([("a", []), ("a", [])], cfg, NAMES)
    with pytest.raises(InvalidInput, match="No items"):
        build_batch_jsonl([], cfg, NAMES)
    monkeypatch.setattr(B, "MAX_REQUESTS_PER_BATCH", 2)
    with pytest.raises(InvalidInput, match="split the items"):
        build_batch_jsonl(items({"a": "x", "b": "y", "c": "z"}), cfg, NAMES)


def test_submit_poll_and_ingest_a_batch(fake):
    cfg = LLMConfig(base_url=fake.base_url, api_key="k", timeout=5, max_retries=0)
    client = make_sync_client(cfg)
    texts = {
        "t-email": "please write an email",
        "t-code": "my python script fails",
        "t-marker": "[[category: coding]] anything",  # case-insensitive match
        "t-rejected": "[[batch_error]] write a letter",
        "t-unknown": "[[category: Astrology]] stars",
    }
    batch_id = submit_batch(client, build_batch_jsonl(items(texts), cfg, NAMES))
    assert fake.count("files") == 1 and fake.count("batches") == 1

    statuses = []
    batch = get_batch(client, batch_id)
    statuses.append(batch.status)
    with pytest.raises(InvalidInput, match="still in_progress"):
        list(iter_batch_results(client, batch, NAMES))
    while batch.status != "completed":
        batch = get_batch(client, batch_id)
        statuses.append(batch.status)
    assert statuses == ["in_progress", "completed"]
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (5, 4, 1)

    results = dict(iter_batch_results(client, batch, NAMES))
    assert set(results) == set(texts)
    assert results["t-email"].category == "Email & Document Writing"
    assert results["t-code"].category == "Coding" and results["t-marker"].category == "Coding"
    for cid in ("t-email", "t-code", "t-marker"):
        assert results[cid].status == "ok" and results[cid].prompt_tokens > 0 and results[cid].completion_tokens > 0
    rejected = results["t-rejected"]
    assert rejected.status == "failed" and rejected.error.startswith("HTTP 400") and rejected.category is None
    unknown = results["t-unknown"]
    assert unknown.status == "failed" and "unknown category" in unknown.error and "Astrology" in unknown.raw
    assert fake.count("file_content") == 2  # output and error files


def test_batch_results_can_be_read_later_by_a_new_client(fake):
    cfg = LLMConfig(base_url=fake.base_url, api_key="k", timeout=5, max_retries=0)
    fake.batch_polls_to_complete = 1
    batch_id = submit_batch(make_sync_client(cfg), build_batch_jsonl(items({"x": "email"}), cfg, NAMES))
    later = make_sync_client(cfg)  # e.g. a new process that only stored batch_id
    batch = get_batch(later, batch_id)
    batch = get_batch(later, batch_id)
    assert batch.status == "completed" and batch.error_file_id is None
    [(cid, outcome)] = list(iter_batch_results(later, batch, NAMES))
    assert cid == "x" and outcome.category == "Email & Document Writing"


def test_result_lines_with_an_error_object_or_garbage_become_failures():
    record = {"custom_id": "a", "response": None, "error": {"code": "batch_expired", "message": "expired"}}
    assert B._line_outcome(record, NAMES).error == "batch_expired: expired"
    odd = {"custom_id": "b", "response": {"status_code": 200, "body": {"choices": []}}, "error": None}
    assert B._line_outcome(odd, NAMES).status == "failed"


# -- pricing ---------------------------------------------------------------------------------------


def test_default_prices_and_batch_discount():
    cost = estimate_cost("gpt-4o", 1_000_000, 100_000)
    assert cost.usd == pytest.approx(2.50 + 1.00) and cost.reason is None
    assert estimate_cost("gpt-4o", 1_000_000, 100_000, batch=True).usd == pytest.approx(3.50 * BATCH_DISCOUNT)
    assert estimate_cost("gpt-4o-mini", 2_000_000, 1_000_000).usd == pytest.approx(0.30 + 0.60)
    assert estimate_cost("gpt-4.1-mini", 1_000_000, 1_000_000).usd == pytest.approx(2.00)
    assert estimate_cost("gpt-4o-2024-08-06", 1_000_000, 0).usd == pytest.approx(2.50)  # dated snapshot
    assert estimate_cost("gpt-4o-mini-2024-07-18", 1_000_000, 0).usd == pytest.approx(0.15)


def test_unknown_model_has_no_cost_and_says_why():
    cost = estimate_cost("llama-3-70b", 1000, 1000)
    assert cost.usd is None and "llama-3-70b" in cost.reason
    with pytest.raises(InvalidInput, match="negative"):
        estimate_cost("gpt-4o", -1, 0)


def test_price_file_overrides_and_extends_the_defaults(tmp_path):
    yaml_file = tmp_path / "prices.yaml"
    yaml_file.write_text("gpt-4o: {input: 5, output: 15}\nlocal-llama: {input: 0, output: 0}\n")
    table = load_price_table(str(yaml_file))
    assert table["gpt-4o"] == ModelPrice(5.0, 15.0) and table["gpt-4o-mini"] == ModelPrice(0.15, 0.60)
    assert estimate_cost("local-llama", 10**6, 10**6, table=table).usd == 0.0
    json_file = tmp_path / "prices.json"
    json_file.write_text(json.dumps({"gpt-5": {"input": 1.25, "output": 10}}))
    assert load_price_table(str(json_file))["gpt-5"] == ModelPrice(1.25, 10.0)
    assert load_price_table(None) == load_price_table(None) and "gpt-5" not in load_price_table(None)


@pytest.mark.parametrize(
    "content, message",
    [
        ("gpt-4o: {input: -1, output: 2}", "non-negative"),
        ("gpt-4o: {input: 1}", "exactly the keys"),
        ("- just a list", "mapping"),
        ("gpt-4o: [unclosed", "not valid yaml"),
    ],
)
def test_bad_price_files_give_one_readable_line(tmp_path, content, message):
    path = tmp_path / "prices.yaml"
    path.write_text(content)
    with pytest.raises(InvalidInput, match=message):
        load_price_table(str(path))
    with pytest.raises(InvalidInput, match="cannot read"):
        load_price_table(str(tmp_path / "missing.json"))


def test_token_estimate_is_four_characters_per_token():
    assert [estimate_tokens(t) for t in ("", "abc", "abcd", "abcde")] == [0, 1, 1, 2]
    messages = [{"role": "system", "content": "x" * 40}, {"role": "user", "content": "y" * 8}]
    assert estimate_prompt_tokens(messages) == 10 + 4 + 2 + 4


def _default_codebook_items(n: int) -> list[tuple[str, list[dict]]]:
    """`n` requests with the default codebook's prompt and the synthetic corpus' thread texts."""
    import pandas as pd

    from annotator.config import SAMPLE_DATA
    from annotator.services.codebook import parse_codebook

    draft = parse_codebook(SAMPLE_DATA / "codebook.yaml")
    specs = [CategorySpec(c.name, c.definition, c.examples) for c in draft.categories]
    texts = pd.read_csv(SAMPLE_DATA / "threads.csv", usecols=["text"])["text"].tolist()
    return [(str(i), build_messages(specs, texts[i % len(texts)])) for i in range(n)]


def test_the_study_corpus_with_the_default_codebook_splits_into_files_under_the_limit():
    """30,503 threads x ~8 KB of default-codebook prompt is ~320 MB, over one file's 200 MB: checked at a tenth
    of the scale (3,051 requests against a tenth of the byte limit), the same arithmetic."""
    items = _default_codebook_items(3_051)
    limit = int(B.MAX_BATCH_BYTES * B.BATCH_BYTE_MARGIN) // 10
    parts = list(B.split_batches(items, LLMConfig(api_key="k"), NAMES, max_bytes=limit))
    sizes = [len(data) for _ids, data in parts]
    assert len(parts) == 2 and all(size <= limit for size in sizes)
    assert sum(sizes) > limit  # one file would not have done
    ids = [i for part_ids, _ in parts for i in part_ids]
    assert ids == [str(i) for i in range(3_051)]  # every request once, in order
    per_request = sum(sizes) / len(ids)
    assert 6_000 < per_request < 14_000  # the default codebook's prompt is the bulk of each request


def test_a_split_respects_the_request_count_too():
    parts = list(B.split_batches(items({str(i): "email" for i in range(7)}), LLMConfig(api_key="k"), NAMES,
                                 max_requests=3))
    assert [len(ids) for ids, _ in parts] == [3, 3, 1]
    with pytest.raises(InvalidInput, match="its request alone"):
        list(B.split_batches(items({"big": "x" * 5000}), LLMConfig(api_key="k"), NAMES, max_bytes=1000))
