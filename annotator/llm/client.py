"""Classify threads with an OpenAI, Azure OpenAI or OpenAI-compatible chat model (vLLM, Ollama, LM Studio).

Transport faults are left to the openai client: it retries 408/409/429/5xx, timeouts and connection
errors `max_retries` times with exponential backoff and honours Retry-After / retry-after-ms. On top of
that this module (1) asks for a strict JSON-schema answer and falls back to JSON mode, then plain JSON
instructions, on servers that reject it (remembered per endpoint and model for the life of the process),
and (2) asks once more when the answer cannot be parsed or names an unknown category. It never guesses.

The layer is storage-free: `run_classification` hands each Outcome to a callback as soon as it arrives.
Logs carry counts, statuses and timings only: never prompt text, thread text or keys.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import openai

from annotator.errors import EndpointError, InvalidInput
from annotator.llm.prompt import ParsedAnswer, parse_answer, response_format

log = logging.getLogger(__name__)

SchemaMode = Literal["json_schema", "json_object", "plain"]
_MODES: tuple[SchemaMode, ...] = ("json_schema", "json_object", "plain")
_REJECTION_HINTS = ("response_format", "json_schema", "json_object", "structured output")
_RETRYABLE_STATUS = {408, 409, 429}
_ANSWER_TRIES = 2  # one extra request when the answer is unusable

# The structured-answer mode each (endpoint, model) is known to accept, for the life of the process.
_endpoint_modes: dict[tuple[str, str], SchemaMode] = {}


def _mode_key(client: openai.AsyncOpenAI, cfg: LLMConfig) -> tuple[str, str]:
    return str(client.base_url), cfg.model


def reset_schema_fallbacks() -> None:
    """Forget which endpoints rejected structured answers (e.g. after a server upgrade)."""
    _endpoint_modes.clear()


@dataclass(frozen=True)
class LLMConfig:
    """Where and how to call the model. `api_key` comes from Settings and is never logged or shown in repr.

    provider "openai" covers api.openai.com and any OpenAI-compatible server (set `base_url`, and any
    placeholder key such as "not-needed" for local servers); "azure" needs azure_endpoint and api_version
    (and usually azure_deployment). `seed` is sent when set (best-effort determinism on OpenAI).
    """

    provider: Literal["openai", "azure"] = "openai"
    model: str = "gpt-4o"
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    azure_endpoint: str | None = None
    azure_deployment: str | None = None
    api_version: str = "2024-10-21"
    timeout: float = 60.0
    max_retries: int = 5
    temperature: float | None = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.provider not in ("openai", "azure"):
            raise InvalidInput(f"Unknown LLM provider '{self.provider}': use 'openai' or 'azure'.")
        if not self.api_key:
            raise InvalidInput("No API key for the LLM; for a local server any placeholder such as 'not-needed' works.")
        if self.provider == "azure" and not self.azure_endpoint:
            raise InvalidInput("The Azure provider needs azure_endpoint (https://<resource>.openai.azure.com).")
        if not self.timeout > 0:
            raise InvalidInput("The LLM timeout must be a positive number of seconds.")
        if self.max_retries < 0:
            raise InvalidInput("max_retries cannot be negative.")


@dataclass(frozen=True)
class Outcome:
    """The result for one thread. Failed outcomes keep the raw answer (if any) and a short error.

    `attempts` counts HTTP requests made for this thread, including the client's transport retries;
    token counts add up every answered request (all are billed).
    """

    status: Literal["ok", "failed"]
    category: str | None = None
    rationale: str = ""
    confidence: float | None = None
    raw: str | None = None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0
    schema_mode: SchemaMode = "json_schema"
    transport: bool = False  # failed to reach the endpoint (connection, timeout, 408/429/5xx after retries)


@dataclass(frozen=True)
class RunStats:
    """Counts for one run_classification call. `requests` includes the client's transport retries."""

    items: int
    ok: int
    failed: int
    requests: int
    prompt_tokens: int
    completion_tokens: int
    elapsed_s: float


def _http_client(*, sync: bool, max_connections: int) -> Any:
    """An HTTP client for the openai SDK with room for `max_connections` kept-alive connections."""
    if hasattr(openai, "DefaultAsyncHttpx2Client"):  # openai >= 3 runs on httpx2
        import httpx2 as transport

        factory = openai.DefaultHttpx2Client if sync else openai.DefaultAsyncHttpx2Client
    else:  # pragma: no cover - openai 1.x/2.x run on httpx
        import httpx as transport

        factory = openai.DefaultHttpxClient if sync else openai.DefaultAsyncHttpxClient
    limits = transport.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return factory(limits=limits)


def _client_kwargs(cfg: LLMConfig, http_client: Any) -> dict[str, Any]:
    common = {
        "api_key": cfg.api_key,
        "timeout": cfg.timeout,
        "max_retries": cfg.max_retries,
        "http_client": http_client,
    }
    if cfg.provider == "azure":
        return {
            **common,
            "azure_endpoint": cfg.azure_endpoint,
            "azure_deployment": cfg.azure_deployment,
            "api_version": cfg.api_version,
        }
    return {**common, "base_url": cfg.base_url}


def make_async_client(cfg: LLMConfig, *, max_connections: int = 100) -> openai.AsyncOpenAI:
    """An AsyncOpenAI (or AsyncAzureOpenAI) client with cfg's timeout and retries; close it with `await c.close()`."""
    kwargs = _client_kwargs(cfg, _http_client(sync=False, max_connections=max_connections))
    return openai.AsyncAzureOpenAI(**kwargs) if cfg.provider == "azure" else openai.AsyncOpenAI(**kwargs)


def make_sync_client(cfg: LLMConfig) -> openai.OpenAI:
    """A synchronous OpenAI (or AzureOpenAI) client, used for the Batch API."""
    kwargs = _client_kwargs(cfg, _http_client(sync=True, max_connections=10))
    return openai.AzureOpenAI(**kwargs) if cfg.provider == "azure" else openai.OpenAI(**kwargs)


def _format_arg(mode: SchemaMode, category_names: Sequence[str]) -> dict | None:
    if mode == "json_schema":
        return response_format(category_names)
    if mode == "json_object":
        return {"type": "json_object"}
    return None


def _is_format_rejection(exc: openai.APIStatusError) -> bool:
    """A 400/422 about the answer format (not, say, an unsupported temperature or a too-long prompt)."""
    if exc.status_code not in (400, 422):
        return False
    if getattr(exc, "param", None) == "response_format":
        return True
    return any(hint in str(exc.message).lower() for hint in _REJECTION_HINTS)


def _failed_attempts(exc: Exception, cfg: LLMConfig) -> int:
    """Requests the client made before giving up: all retries for retryable failures, else one."""
    status = getattr(exc, "status_code", None)
    if isinstance(exc, openai.APIConnectionError) or status in _RETRYABLE_STATUS or (status or 0) >= 500:
        return cfg.max_retries + 1
    return 1


def _error_text(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__} (HTTP {status})" if status is not None else type(exc).__name__


def outcome_from_answer(
    content: str | None,
    category_names: Sequence[str],
    *,
    prompt_tokens: int,
    completion_tokens: int,
    attempts: int,
    schema_mode: SchemaMode,
) -> Outcome:
    """Turn one answer text into an ok Outcome, or a failed one that keeps the raw text."""
    parsed = parse_answer(content, category_names)
    if isinstance(parsed, ParsedAnswer):
        return Outcome(
            "ok",
            category=parsed.category,
            rationale=parsed.rationale,
            confidence=parsed.confidence,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            attempts=attempts,
            schema_mode=schema_mode,
        )
    return Outcome(
        "failed",
        raw=content,
        error=parsed.reason,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        attempts=attempts,
        schema_mode=schema_mode,
    )


@dataclass
class _Tally:
    """What one thread has cost so far (all answered requests are billed)."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


async def _ask(
    client: openai.AsyncOpenAI, cfg: LLMConfig, messages: list[dict], category_names: Sequence[str], tally: _Tally
) -> tuple[str | None, SchemaMode]:
    """One answer text, stepping down json_schema -> json_object -> plain while the server rejects the format.

    Adds requests and tokens to `tally`; API errors left after the client's retries propagate.
    """
    mode = _endpoint_modes.get(_mode_key(client, cfg), "json_schema")
    while True:
        kwargs: dict[str, Any] = {"model": cfg.model, "messages": messages}
        if cfg.temperature is not None:
            kwargs["temperature"] = cfg.temperature
        if cfg.seed is not None:
            kwargs["seed"] = cfg.seed
        fmt = _format_arg(mode, category_names)
        if fmt is not None:
            kwargs["response_format"] = fmt
        try:
            raw = await client.chat.completions.with_raw_response.create(**kwargs)
        except openai.APIStatusError as exc:
            if mode != "plain" and _is_format_rejection(exc):
                tally.requests += 1
                new_mode = _MODES[_MODES.index(mode) + 1]
                log.info("server rejected response_format %s (HTTP %s); using %s", mode, exc.status_code, new_mode)
                _endpoint_modes[_mode_key(client, cfg)] = mode = new_mode
                continue
            tally.requests += _failed_attempts(exc, cfg)
            raise
        except openai.APIError as exc:
            tally.requests += _failed_attempts(exc, cfg)
            raise
        tally.requests += 1 + raw.retries_taken
        completion = raw.parse()
        if completion.usage is not None:
            tally.prompt_tokens += completion.usage.prompt_tokens
            tally.completion_tokens += completion.usage.completion_tokens
        message = completion.choices[0].message if completion.choices else None
        content = None if message is None else (message.content or getattr(message, "refusal", None))
        return content, mode


async def classify_messages(
    client: openai.AsyncOpenAI, cfg: LLMConfig, messages: list[dict], category_names: Sequence[str]
) -> Outcome:
    """Classify one thread's messages into one of `category_names`; never raises for API errors.

    An unusable answer (no JSON, unknown category) is asked once more, then reported as failed with the
    raw answer kept. API errors left after the client's own retries give a failed Outcome naming the
    error class and HTTP status.
    """
    tally = _Tally()
    mode: SchemaMode = _endpoint_modes.get(_mode_key(client, cfg), "json_schema")
    outcome = Outcome("failed", error="not attempted")
    for _ in range(_ANSWER_TRIES):
        started = time.perf_counter()
        try:
            content, mode = await _ask(client, cfg, messages, category_names, tally)
        except openai.APIError as exc:
            log.warning("LLM request failed: %s after %.2fs", _error_text(exc), time.perf_counter() - started)
            status = getattr(exc, "status_code", None)
            return Outcome(
                "failed",
                transport=isinstance(exc, openai.APIConnectionError) or status in _RETRYABLE_STATUS or (status or 0) >= 500,
                raw=outcome.raw,
                error=_error_text(exc),
                prompt_tokens=tally.prompt_tokens,
                completion_tokens=tally.completion_tokens,
                attempts=tally.requests,
                schema_mode=mode,
            )
        log.debug("LLM answer in %.2fs (mode %s)", time.perf_counter() - started, mode)
        outcome = outcome_from_answer(
            content,
            category_names,
            prompt_tokens=tally.prompt_tokens,
            completion_tokens=tally.completion_tokens,
            attempts=tally.requests,
            schema_mode=mode,
        )
        if outcome.status == "ok":
            return outcome
        log.info("unusable LLM answer (%d requests so far)", tally.requests)
    return outcome


_STOP = object()


def run_classification(
    items: Iterable[tuple[str, list[dict]]],
    cfg: LLMConfig,
    *,
    category_names: Sequence[str],
    concurrency: int = 8,
    on_result: Callable[[str, Outcome], None],
    on_progress: Callable[[int, int | None], None] | None = None,
    total: int | None = None,
    client_factory: Callable[[], openai.AsyncOpenAI] | None = None,
) -> RunStats:
    """Classify (item_id, messages) pairs with at most `concurrency` requests in flight; blocks until done.

    Items are pulled lazily through a bounded queue by `concurrency` workers, so an iterable of a million
    items never sits in memory at once. `on_result(item_id, outcome)` runs on the event-loop thread as each
    answer arrives: keep it quick (one short DB write) so a killed run can resume from what was stored. If
    it raises, the run stops and the exception propagates. `on_progress(done, total)` follows each result;
    total is `total`, else len(items) when items has a length, else None.

    Must be called from a thread without a running event loop. Each call runs its own event loop, so the
    async client is made inside it, by `client_factory` if given (else make_async_client(cfg)), and closed
    at the end: an async client cannot outlive the loop it was used in.
    """
    if concurrency < 1:
        raise InvalidInput("concurrency must be at least 1.")
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    factory = client_factory or (lambda: make_async_client(cfg, max_connections=max(concurrency, 10)))
    return asyncio.run(_run(items, cfg, list(category_names), concurrency, on_result, on_progress, total, factory))


async def _run(
    items: Iterable[tuple[str, list[dict]]],
    cfg: LLMConfig,
    category_names: list[str],
    concurrency: int,
    on_result: Callable[[str, Outcome], None],
    on_progress: Callable[[int, int | None], None] | None,
    total: int | None,
    client_factory: Callable[[], openai.AsyncOpenAI],
) -> RunStats:
    client = client_factory()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=2 * concurrency)
    counts = {"items": 0, "ok": 0, "failed": 0, "requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
    started = time.perf_counter()
    down = {"in_a_row": 0}
    breaker = max(3, concurrency)  # this many transport failures in a row: the endpoint is down, stop

    async def produce() -> None:
        for item in items:
            await queue.put(item)
        for _ in range(concurrency):
            await queue.put(_STOP)

    async def work() -> None:
        while (item := await queue.get()) is not _STOP:
            item_id, messages = item
            outcome = await classify_messages(client, cfg, messages, category_names)
            counts["items"] += 1
            counts[outcome.status] += 1
            counts["requests"] += outcome.attempts
            counts["prompt_tokens"] += outcome.prompt_tokens
            counts["completion_tokens"] += outcome.completion_tokens
            down["in_a_row"] = down["in_a_row"] + 1 if outcome.transport else 0
            on_result(item_id, outcome)
            if down["in_a_row"] >= breaker:
                raise EndpointError(str(client.base_url).rstrip("/"), "classifying threads",
                                    f"{down['in_a_row']} requests in a row got no answer (last: {outcome.error})")
            if on_progress is not None:
                on_progress(counts["items"], total)

    log.info("classification run started: model %s, concurrency %d, total %s", cfg.model, concurrency, total)
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(produce())
            for _ in range(concurrency):
                group.create_task(work())
    except ExceptionGroup as eg:
        raise eg.exceptions[0] from None
    finally:
        await client.close()
    elapsed = time.perf_counter() - started
    log.info(
        "classification run done: %d items (%d ok, %d failed), %d requests in %.1fs",
        counts["items"], counts["ok"], counts["failed"], counts["requests"], elapsed,
    )
    return RunStats(elapsed_s=elapsed, **counts)
