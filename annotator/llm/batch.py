"""Classify through the OpenAI Batch API (results within 24 h at half price).

The flow is resumable: build the JSONL, `submit_batch` and store the returned batch id; later (even in
another process) `get_batch` until its status is terminal, then `iter_batch_results` and store each
outcome. There is no second request for an unusable answer here: such lines come back as failed
outcomes with the raw answer kept, and the caller may classify them again synchronously.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import openai

from annotator.errors import InvalidInput
from annotator.llm.client import LLMConfig, Outcome, outcome_from_answer
from annotator.llm.prompt import response_format

log = logging.getLogger(__name__)

MAX_REQUESTS_PER_BATCH = 50_000  # the Batch API's limit per input file
MAX_BATCH_BYTES = 200 * 1024 * 1024
TERMINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})
_MAX_ERROR = 200


def _endpoint(azure: bool) -> str:
    return "/chat/completions" if azure else "/v1/chat/completions"


def build_batch_jsonl(
    items: Iterable[tuple[str, list[dict]]], cfg: LLMConfig, category_names: Sequence[str]
) -> bytes:
    """One Batch API request line per (custom_id, messages), asking for the strict JSON-schema answer.

    Azure batches address the deployment (azure_deployment, else model) at /chat/completions.
    Raises InvalidInput for a repeated custom_id or more requests or bytes than one batch accepts.
    """
    azure = cfg.provider == "azure"
    model = (cfg.azure_deployment or cfg.model) if azure else cfg.model
    fmt = response_format(category_names)
    seen: set[str] = set()
    lines: list[bytes] = []
    size = 0
    for custom_id, messages in items:
        if custom_id in seen:
            raise InvalidInput(f"custom_id '{custom_id}' appears twice in one batch.")
        seen.add(custom_id)
        body: dict[str, Any] = {"model": model, "messages": messages, "response_format": fmt}
        if cfg.temperature is not None:
            body["temperature"] = cfg.temperature
        if cfg.seed is not None:
            body["seed"] = cfg.seed
        line = json.dumps(
            {"custom_id": custom_id, "method": "POST", "url": _endpoint(azure), "body": body}, ensure_ascii=False
        ).encode("utf-8")
        size += len(line) + 1
        lines.append(line)
        if len(lines) > MAX_REQUESTS_PER_BATCH or size > MAX_BATCH_BYTES:
            raise InvalidInput(
                f"Too many requests for one batch (limit {MAX_REQUESTS_PER_BATCH} requests, "
                f"{MAX_BATCH_BYTES // 2**20} MB); split the items into several batches."
            )
    if not lines:
        raise InvalidInput("No items to put in the batch.")
    return b"\n".join(lines) + b"\n"


def submit_batch(client_sync: openai.OpenAI, jsonl_bytes: bytes) -> str:
    """Upload the JSONL (purpose "batch") and create a 24h chat-completions batch; returns the batch id."""
    azure = isinstance(client_sync, openai.AzureOpenAI)
    upload = ("annotator-batch.jsonl", jsonl_bytes, "application/jsonl")
    uploaded = client_sync.files.create(file=upload, purpose="batch")
    batch = client_sync.batches.create(
        input_file_id=uploaded.id,
        endpoint=_endpoint(azure),  # type: ignore[arg-type]  # Azure's path is outside the SDK's Literal
        completion_window="24h",
    )
    log.info("batch %s submitted (%d bytes)", batch.id, len(jsonl_bytes))
    return batch.id


def get_batch(client_sync: openai.OpenAI, batch_id: str) -> Any:
    """The batch object (status, request_counts, output_file_id, error_file_id...)."""
    batch = client_sync.batches.retrieve(batch_id)
    log.info("batch %s status %s", batch.id, batch.status)
    return batch


def _short(text: object) -> str:
    return str(text)[:_MAX_ERROR]


def _line_outcome(record: dict, category_names: Sequence[str]) -> Outcome:
    """One output/error-file line as an Outcome."""
    error = record.get("error")
    response = record.get("response") or {}
    body = response.get("body") or {}
    if error:
        return Outcome("failed", error=_short(f"{error.get('code')}: {error.get('message')}"), attempts=1)
    if response.get("status_code") != 200:
        err = body.get("error") or {}
        return Outcome(
            "failed", error=_short(f"HTTP {response.get('status_code')}: {err.get('message', 'error')}"), attempts=1
        )
    usage = body.get("usage") or {}
    choices = body.get("choices") or [{}]
    message = choices[0].get("message") or {}
    return outcome_from_answer(
        message.get("content") or message.get("refusal"),
        category_names,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        attempts=1,
        schema_mode="json_schema",
    )


def iter_batch_results(
    client_sync: openai.OpenAI, batch: Any, category_names: Sequence[str]
) -> Iterator[tuple[str, Outcome]]:
    """(custom_id, Outcome) for every line of the batch's output and error files.

    Lines come in no particular order; key on custom_id. A line without a custom_id cannot be attributed
    and is skipped with a warning. Raises InvalidInput if the batch is not finished yet.
    """
    if batch.status not in TERMINAL_STATUSES:
        raise InvalidInput(f"Batch {batch.id} is still {batch.status}; check again later.")
    skipped = 0
    for file_id in (batch.output_file_id, batch.error_file_id):
        if not file_id:
            continue
        text = client_sync.files.content(file_id).text
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                custom_id = record["custom_id"]
            except (ValueError, KeyError, TypeError):
                skipped += 1
                continue
            try:
                outcome = _line_outcome(record, category_names)
            except (AttributeError, TypeError, ValueError, IndexError):
                outcome = Outcome("failed", error="unreadable batch result line", attempts=1)
            yield str(custom_id), outcome
    if skipped:
        log.warning("batch %s: %d result lines without a usable custom_id were skipped", batch.id, skipped)
