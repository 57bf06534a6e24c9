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

from annotator.errors import EndpointError, InvalidInput
from annotator.llm.client import LLMConfig, Outcome, outcome_from_answer
from annotator.llm.prompt import response_format

log = logging.getLogger(__name__)

MAX_REQUESTS_PER_BATCH = 50_000  # the Batch API's limit per input file
MAX_BATCH_BYTES = 200_000_000  # "up to 200 MB" per input file (OpenAI API reference, batches.create)
BATCH_BYTE_MARGIN = 0.9  # fill a file to 90% of the limit: room for a provider's own accounting
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


def split_batches(
    items: Iterable[tuple[str, list[dict]]], cfg: LLMConfig, category_names: Sequence[str], *,
    max_requests: int | None = None, max_bytes: int | None = None,
) -> Iterator[tuple[list[str], bytes]]:
    """(custom_ids, JSONL bytes) per input file, each within `max_requests` requests and `max_bytes` bytes
    (defaults: the Batch API's limits, bytes with ``BATCH_BYTE_MARGIN``). Only one file is in memory at a time.

    A single request larger than `max_bytes` cannot be sent as a batch: InvalidInput names it."""
    max_requests = max_requests or MAX_REQUESTS_PER_BATCH
    max_bytes = max_bytes or int(MAX_BATCH_BYTES * BATCH_BYTE_MARGIN)
    ids: list[str] = []
    lines: list[tuple[str, list[dict]]] = []
    size = 0
    azure = cfg.provider == "azure"
    model = (cfg.azure_deployment or cfg.model) if azure else cfg.model
    fmt = response_format(category_names)
    for custom_id, messages in items:
        body: dict[str, Any] = {"model": model, "messages": messages, "response_format": fmt}
        if cfg.temperature is not None:
            body["temperature"] = cfg.temperature
        if cfg.seed is not None:
            body["seed"] = cfg.seed
        n = len(json.dumps({"custom_id": custom_id, "method": "POST", "url": _endpoint(azure), "body": body},
                           ensure_ascii=False).encode("utf-8")) + 1
        if n > max_bytes:
            raise InvalidInput(f"thread {custom_id}: its request alone is {n:,} bytes, over the batch file limit of "
                               f"{max_bytes:,}; classify it without --batch")
        if lines and (len(lines) >= max_requests or size + n > max_bytes):
            yield ids, build_batch_jsonl(lines, cfg, category_names)
            ids, lines, size = [], [], 0
        ids.append(custom_id)
        lines.append((custom_id, messages))
        size += n
    if lines:
        yield ids, build_batch_jsonl(lines, cfg, category_names)


def endpoint_of(client_sync: openai.OpenAI) -> str:
    return str(client_sync.base_url).rstrip("/")


def call(client_sync: openai.OpenAI, what: str, fn, *args, **kwargs):
    """Run one API call; a lost connection, a timeout or an HTTP error becomes one EndpointError line."""
    try:
        return fn(*args, **kwargs)
    except openai.APITimeoutError:
        raise EndpointError(endpoint_of(client_sync), what, "timed out") from None
    except openai.APIConnectionError as exc:
        cause = type(exc.__cause__).__name__ if exc.__cause__ else "connection error"
        raise EndpointError(endpoint_of(client_sync), what, f"lost the connection ({cause})") from None
    except openai.APIStatusError as exc:
        message = ""
        if isinstance(exc.body, dict):
            message = str((exc.body.get("error") or {}).get("message") or exc.body.get("message") or "")[:160]
        raise EndpointError(endpoint_of(client_sync), what,
                            f"HTTP {exc.status_code}{': ' + message if message else ''}") from None


def submit_batch(client_sync: openai.OpenAI, jsonl_bytes: bytes, *, metadata: dict[str, str] | None = None) -> str:
    """Upload the JSONL (purpose "batch") and create a 24h chat-completions batch; returns the batch id.

    The create call is not retried by the client (a retry after a lost answer could create a second
    batch for the same threads); the caller records `metadata` first and looks it up with
    :func:`find_batch` when the answer was lost."""
    azure = isinstance(client_sync, openai.AzureOpenAI)
    upload = ("annotator-batch.jsonl", jsonl_bytes, "application/jsonl")
    uploaded = call(client_sync, f"uploading a batch file ({len(jsonl_bytes):,} bytes)", client_sync.files.create,
                    file=upload, purpose="batch")
    extra = {"metadata": metadata} if metadata else {}
    batch = call(client_sync, "creating a batch", client_sync.with_options(max_retries=0).batches.create,
                 input_file_id=uploaded.id,
                 endpoint=_endpoint(azure),  # type: ignore[arg-type]  # Azure's path is outside the SDK's Literal
                 completion_window="24h", **extra)
    log.info("batch %s submitted (%d bytes)", batch.id, len(jsonl_bytes))
    return batch.id


def find_batch(client_sync: openai.OpenAI, key: str, value: str, *, pages: int = 5) -> str | None:
    """The id of a recent batch whose metadata has key=value (a batch created by a call whose answer was lost)."""
    after = None
    for _ in range(pages):
        kwargs: dict[str, Any] = {"limit": 100}
        if after:
            kwargs["after"] = after
        page = call(client_sync, "listing batches", client_sync.batches.list, **kwargs)
        data = list(page.data)
        for b in data:
            if (getattr(b, "metadata", None) or {}).get(key) == value:
                return b.id
        if not data or not getattr(page, "has_more", False):
            return None
        after = data[-1].id
    return None


def get_batch(client_sync: openai.OpenAI, batch_id: str) -> Any:
    """The batch object (status, request_counts, output_file_id, error_file_id...)."""
    batch = call(client_sync, f"checking batch {batch_id}", client_sync.batches.retrieve, batch_id)
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
        text = call(client_sync, f"downloading the results of batch {batch.id}", client_sync.files.content, file_id).text
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
