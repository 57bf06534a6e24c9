"""A real HTTP server on 127.0.0.1 that speaks enough of the OpenAI API to test the LLM layer.

Endpoints: chat completions (OpenAI path and the Azure deployments path), files (multipart upload,
content download) and batches (create, poll: validating -> in_progress -> completed, output and error
files in the Batch API format).

Answers are deterministic: a `[[category: NAME]]` marker in the user message is answered with NAME;
otherwise a keyword table picks a category among the names the request offered (schema enum, or the
"### N. Name" headings of the system prompt); otherwise "Other". `answer=` overrides this.

Two more kinds of prompt are recognised by the task line of the system prompt (annotator.llm.suggest):
"Task: propose example messages." is answered with {"examples": [...]}, N messages for the category named
in the user message, each containing a keyword of that category (or a `[[category: NAME]]` marker for a
category the keyword table does not know) so that classifying them gives the category back;
"Task: suggest a category name." is answered with {"name": ...}: the `[[name: X]]` marker of the thread,
else its first two words of four or more letters, capitalised.

Faults, settable at any time: `latency` per answer; `queue_faults([...])`, consumed one per chat request:
"429" / "429:SECONDS" (Retry-After header), "500", "400" (a 400 unrelated to the answer format),
"slow" (sleep `slow_seconds`, longer than the client's timeout), "malformed" (non-JSON content),
"unknown_category", "no_schema" (HTTP 400 like a server without json_schema support);
or permanently `schema_supported=False` / `json_object_supported=False`.
In a batch, a `[[batch_error]]` marker in a request's user message puts that request in the error file.
Batch API limits as the real one: `max_upload_bytes` (200 MB) and `max_batch_requests` (50,000) per input
file, refused with HTTP 400. `queue_api_faults([...])`, consumed one per files/batches request:
"drop" (close the connection without an answer), "drop_after" (do the work, then close without an
answer: a lost response), "500", "timeout" (sleep `slow_seconds`). Batches keep their `metadata`
and are listed by GET /batches (newest first).

Standalone: `python tests/fake_openai.py --port 8765 --latency 0.2` prints its base URL and serves
until killed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

MARKER = re.compile(r"\[\[category:\s*(.+?)\s*\]\]")
BATCH_ERROR_MARKER = "[[batch_error]]"
HEADING = re.compile(r"^### \d+\. (.+?)\s*$", re.MULTILINE)
MALFORMED_TEXT = "I think this thread is mostly about writing emails."
UNKNOWN_CATEGORY = "Astrology"

# Checked in order, so the more specific categories come first.
KEYWORDS: list[tuple[str, tuple[str, ...]]] = [
    ("Patient-Provider Messaging", ("mychart", "patient message", "reply to the patient", "reply to patient")),
    ("Process Referrals/ Documents", ("referral", "prior authorization", "fax")),
    ("Coding", ("code", "python", "sql", "script", "regex", "function")),
    ("Technical Support & IT Issues", ("excel", "password", "printer", "vpn", "error message")),
    ("Generate Visual Aids", ("image", "picture", "diagram", "flyer", "poster")),
    ("Answer Medical Knowledge Questions", ("symptom", "dose", "dosage", "diagnosis", "medication", "treatment")),
    ("Text Manipulation", ("translate", "rephrase", "summarize", "summarise", "proofread", "rewrite")),
    ("Email & Document Writing", ("email", "e-mail", "letter", "memo")),
    ("Brainstorming", ("ideas", "brainstorm", "suggestions")),
    ("Handle Information Requests", ("what is", "who is", "how many", "information")),
]

AnswerFn = Callable[[str, Sequence[str] | None], str]

TASK_PROPOSE = "Task: propose example messages."
TASK_NAME = "Task: suggest a category name."
NAME_MARKER = re.compile(r"\[\[name:\s*(.+?)\s*\]\]")
_EXAMPLE_PLACES = ("Cardiology", "the front desk", "Radiology", "Oncology", "Pediatrics", "the pharmacy")


def task_of(system: str) -> str | None:
    """"propose" or "name" for the refinement prompts, None for a classification prompt."""
    return "propose" if TASK_PROPOSE in system else "name" if TASK_NAME in system else None


def task_content(task: str, user: str) -> str:
    """The deterministic JSON answer to a "propose example messages" or "suggest a category name" prompt."""
    if task == "propose":
        name = (re.search(r"^Category: (.+)$", user, re.MULTILINE) or [None, "Other"])[1].strip()
        n = int((re.search(r"Write (\d+) example messages", user) or [None, "5"])[1])
        words = dict(KEYWORDS).get(name)
        examples = [f"Need help with {words[i % len(words)]} for {_EXAMPLE_PLACES[i % len(_EXAMPLE_PLACES)]}, "
                    f"request {i + 1}." if words else f"[[category: {name}]] example request {i + 1}."
                    for i in range(n)]
        return json.dumps({"examples": examples})
    thread = user.split("<<<", 1)[-1]
    marker = NAME_MARKER.search(thread)
    words = re.findall(r"[A-Za-z]{4,}", thread)
    name = marker.group(1) if marker else " ".join(w.capitalize() for w in words[:2]) or "Miscellaneous Requests"
    return json.dumps({"name": name})


class Request(NamedTuple):
    """One request the server saw: path (no query), model or deployment, and a few attributes."""

    path: str
    model: str | None
    attrs: dict[str, Any]


def default_category(text: str, names: Sequence[str] | None) -> str:
    """The deterministic answer: marker, else the first keyword hit among the offered names, else Other."""
    marker = MARKER.search(text)
    if marker:
        return marker.group(1)
    offered = None if names is None else {n.casefold(): n for n in names}
    lowered = text.casefold()
    for name, words in KEYWORDS:
        if offered is not None and name.casefold() not in offered:
            continue
        if any(w in lowered for w in words):
            return name if offered is None else offered[name.casefold()]
    return "Other"


def _error(message: str, type_: str = "invalid_request_error", code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # listen backlog: the default 5 drops bursts of new connections

    def __init__(self, addr: tuple[str, int], fake: FakeOpenAI) -> None:
        super().__init__(addr, _Handler)
        self.fake = fake

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):  # the client gave up (timeout): expected
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms delayed-ACK stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status: int, payload: dict | bytes, headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        ctype = "application/octet-stream" if isinstance(payload, bytes) else "application/json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except ConnectionError:
            self.close_connection = True

    def do_POST(self) -> None:  # noqa: N802
        self.server.fake._route(self, "POST", self._body())

    def do_GET(self) -> None:  # noqa: N802
        self.server.fake._route(self, "GET", b"")


class _Batch:  # noqa: B903
    def __init__(self, batch_id: str, input_file_id: str, endpoint: str) -> None:
        self.id, self.input_file_id, self.endpoint = batch_id, input_file_id, endpoint
        self.status = "validating"
        self.created_at = int(time.time())
        self.started = time.monotonic()
        self.polls = 0
        self.output_file_id: str | None = None
        self.error_file_id: str | None = None
        self.counts = {"total": 0, "completed": 0, "failed": 0}
        self.metadata: dict | None = None

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": self.status,
            "created_at": self.created_at,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "request_counts": dict(self.counts),
            "errors": None,
            "metadata": self.metadata,
        }


class FakeOpenAI:
    """The loopback server; use as a context manager or call start() / stop().

    `requests` keeps the latest `keep_requests` requests (path, model or deployment, attributes: kind,
    response_format type, fault, status, auth scheme, api-version, retry count); `count()` stays exact.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        schema_supported: bool = True,
        json_object_supported: bool = True,
        slow_seconds: float = 3.0,
        answer: AnswerFn | None = None,
        batch_polls_to_complete: int = 2,
        batch_delay: float = 0.0,
        port: int = 0,
        keep_requests: int = 100_000,
    ) -> None:
        self.latency = latency
        self.schema_supported = schema_supported
        self.json_object_supported = json_object_supported
        self.slow_seconds = slow_seconds
        self.answer = answer
        self.max_upload_bytes = 200_000_000
        self.max_batch_requests = 50_000
        self._api_faults: deque[str] = deque()
        self.batch_polls_to_complete = batch_polls_to_complete
        self.batch_delay = batch_delay
        self.requests: deque[Request] = deque(maxlen=keep_requests)  # the latest; counts stay exact
        self._counts: Counter[str | None] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._faults: deque[str] = deque()
        self._files: dict[str, tuple[bytes, str, str]] = {}
        self._batches: dict[str, _Batch] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        self._server = _Server(("127.0.0.1", self._port), self)
        serve = self._server.serve_forever
        self._thread = threading.Thread(target=serve, args=(0.05,), name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def azure_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- test controls ---------------------------------------------------------------------------
    def queue_faults(self, faults: Iterable[str]) -> None:
        """Append faults, consumed one per chat request in order."""
        with self._lock:
            self._faults.extend(faults)

    def queue_api_faults(self, faults: Iterable[str]) -> None:
        """Append faults, consumed one per files/batches request in order."""
        with self._lock:
            self._api_faults.extend(faults)

    def count(self, kind: str | None = None) -> int:
        """Requests seen, of one kind ("chat", "files", "file_content", "batches") or all."""
        with self._lock:
            return self._counts[kind] if kind is not None else sum(self._counts.values())

    def chat_requests(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.attrs.get("kind") == "chat"]

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def _record(self, path: str, model: str | None, **attrs: Any) -> dict[str, Any]:
        with self._lock:
            self.requests.append(Request(path, model, attrs))
            self._counts[attrs.get("kind")] += 1
        return attrs

    # -- routing ---------------------------------------------------------------------------------
    def _route(self, h: _Handler, method: str, body: bytes) -> None:
        url = urlsplit(h.path)
        path, query = url.path, parse_qs(url.query)
        auth = "api-key" if h.headers.get("api-key") else "bearer" if h.headers.get("Authorization") else None
        azure = re.fullmatch(r"/openai/deployments/([^/]+)/chat/completions", path)
        if method == "POST" and (path == "/v1/chat/completions" or azure):
            if azure and "api-version" not in query:
                h.send(400, _error("api-version query parameter is required"))
                return
            self._chat_http(h, path, body, auth, azure.group(1) if azure else None, query)
            return
        rest = re.sub(r"^/(v1|openai)", "", path)
        with self._lock:
            fault = self._api_faults.popleft() if self._api_faults else None
        if fault == "drop":
            self._record(path, None, kind="dropped")
            h.close_connection = True
            h.connection.shutdown(2)
            return
        if fault == "500":
            self._record(path, None, kind="failed")
            h.send(500, _error("The server had an error", "server_error"))
            return
        if fault == "timeout":
            time.sleep(self.slow_seconds)
        if fault == "drop_after":
            h = _Dropping(h)
        if method == "POST" and rest == "/files":
            self._upload(h, path, body)
        elif method == "GET" and (m := re.fullmatch(r"/files/([^/]+)/content", rest)):
            self._record(path, None, kind="file_content")
            stored = self._files.get(m.group(1))
            h.send(200, stored[0]) if stored else h.send(404, _error("No such file", code="not_found"))
        elif method == "POST" and rest == "/batches":
            self._create_batch(h, path, body)
        elif method == "GET" and (m := re.fullmatch(r"/batches/([^/]+)", rest)):
            self._poll_batch(h, path, m.group(1))
        elif method == "GET" and rest == "/batches":
            self._record(path, None, kind="batches", action="list")
            with self._lock:
                data = [b.as_dict() for b in sorted(self._batches.values(), key=lambda b: b.id, reverse=True)]
            h.send(200, {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                         "last_id": data[-1]["id"] if data else None, "has_more": False})
        else:
            h.send(404, _error(f"Unknown route {method} {path}", code="not_found"))

    # -- chat ------------------------------------------------------------------------------------
    def _chat_http(
        self, h: _Handler, path: str, body: bytes, auth: str | None, deployment: str | None, query: dict
    ) -> None:
        try:
            req = json.loads(body)
        except ValueError:
            h.send(400, _error("body is not JSON"))
            return
        fmt = (req.get("response_format") or {}).get("type")
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        attrs = self._record(
            path,
            deployment or req.get("model"),
            kind="chat",
            response_format=fmt,
            fault=fault,
            auth=auth,
            api_version=(query.get("api-version") or [None])[0],
            retry_count=h.headers.get("x-stainless-retry-count"),
            task=task_of("\n".join(str(m.get("content", "")) for m in req.get("messages") or []
                                   if m.get("role") == "system")),
        )
        try:
            if fault and fault.startswith("429"):
                wait = fault.partition(":")[2] or "1"
                attrs["status"] = 429
                body = _error("Rate limit reached", "rate_limit_error", "rate_limit_exceeded")
                h.send(429, body, {"Retry-After": wait})
                return
            if fault == "500":
                attrs["status"] = 500
                h.send(500, _error("The server had an error", "server_error"))
                return
            if fault == "400":
                attrs["status"] = 400
                h.send(400, _error("temperature is not supported with this model", code="unsupported_value"))
                return
            if fault == "no_schema":
                attrs["status"] = 400
                h.send(400, _error("response_format json_schema is not supported"))
                return
            time.sleep(self.slow_seconds if fault == "slow" else self.latency)
            status, payload = self.chat_payload(req, fault)
            attrs["status"] = status
            h.send(status, payload)
        finally:
            with self._lock:
                self.in_flight -= 1

    def chat_payload(self, req: dict, fault: str | None = None) -> tuple[int, dict]:
        """The (status, body) this server answers to a chat request, without transport faults."""
        fmt = (req.get("response_format") or {}).get("type")
        if fmt == "json_schema" and not self.schema_supported:
            return 400, _error("response_format json_schema is not supported")
        if fmt == "json_object" and not self.json_object_supported:
            return 400, _error("response_format json_object is not supported by this model")
        messages = req.get("messages") or []
        user = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
        system = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
        if fault == "malformed":
            content = MALFORMED_TEXT
        elif (task := task_of(system)) is not None:
            content = task_content(task, user)
        else:
            names = _offered_names(req.get("response_format"), system)
            if fault == "unknown_category":
                category = UNKNOWN_CATEGORY
            elif self.answer is not None:
                category = self.answer(user, names)
            else:
                category = default_category(user, names)
            confidence = 0.5 if category == "Other" else 0.9
            answer = {"category": category, "rationale": "Deterministic test answer.", "confidence": confidence}
            content = json.dumps(answer)
        prompt_tokens = max(1, sum(len(str(m.get("content", ""))) for m in messages) // 4)
        completion_tokens = max(1, len(content) // 4)
        return 200, {
            "id": self._new_id("chatcmpl"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.get("model", "unknown"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    # -- files and batches -----------------------------------------------------------------------
    def _upload(self, h: _Handler, path: str, body: bytes) -> None:
        ctype = h.headers.get("Content-Type", "")
        msg = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + body)
        fields: dict[str, tuple[bytes, str | None]] = {}
        for part in msg.iter_parts() if msg.is_multipart() else []:
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = (part.get_payload(decode=True) or b"", part.get_filename())
        self._record(path, None, kind="files", purpose=fields.get("purpose", (b"", None))[0].decode())
        if "file" not in fields or "purpose" not in fields:
            h.send(400, _error("multipart upload needs 'file' and 'purpose'"))
            return
        data, filename = fields["file"]
        purpose = fields["purpose"][0].decode()
        if purpose == "batch" and len(data) > self.max_upload_bytes:
            h.send(400, _error(f"File is too large: {len(data)} bytes, the limit is {self.max_upload_bytes}"))
            return
        if purpose == "batch" and len(data.splitlines()) > self.max_batch_requests:
            h.send(400, _error(f"Too many requests in the file (limit {self.max_batch_requests})"))
            return
        file_id = self._new_id("file")
        with self._lock:
            self._files[file_id] = (data, purpose, filename or "upload.jsonl")
        h.send(200, self._file_object(file_id))

    def _file_object(self, file_id: str) -> dict:
        data, purpose, filename = self._files[file_id]
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }

    def _create_batch(self, h: _Handler, path: str, body: bytes) -> None:
        req = json.loads(body or b"{}")
        self._record(path, None, kind="batches", action="create")
        stored = self._files.get(req.get("input_file_id", ""))
        if stored is None or stored[1] != "batch":
            h.send(400, _error("input_file_id must name a file uploaded with purpose 'batch'"))
            return
        if req.get("endpoint") not in ("/v1/chat/completions", "/chat/completions"):
            h.send(400, _error("unsupported endpoint"))
            return
        if req.get("completion_window") != "24h":
            h.send(400, _error("completion_window must be 24h"))
            return
        batch = _Batch(self._new_id("batch"), req["input_file_id"], req["endpoint"])
        batch.metadata = req.get("metadata")
        with self._lock:
            self._batches[batch.id] = batch
        h.send(200, batch.as_dict())

    def _poll_batch(self, h: _Handler, path: str, batch_id: str) -> None:
        self._record(path, None, kind="batches", action="retrieve")
        batch = self._batches.get(batch_id)
        if batch is None:
            h.send(404, _error("No such batch", code="not_found"))
            return
        with self._lock:
            batch.polls += 1
            if batch.status == "validating":
                batch.status = "in_progress"
            elif (
                batch.status == "in_progress"
                and batch.polls >= self.batch_polls_to_complete
                and time.monotonic() - batch.started >= self.batch_delay
            ):
                self._complete(batch)
        h.send(200, batch.as_dict())

    def _complete(self, batch: _Batch) -> None:
        """Answer every request line; must hold the lock."""
        out, err = [], []
        for line in self._files[batch.input_file_id][0].decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            body = item.get("body") or {}
            user = " ".join(str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user")
            if BATCH_ERROR_MARKER in user or item.get("url") != batch.endpoint:
                status, payload = 400, _error("This request was rejected by the test server.")
            else:
                status, payload = self.chat_payload(body)
            record = {
                "id": self._new_id("batch_req"),
                "custom_id": item.get("custom_id"),
                "response": {"status_code": status, "request_id": self._new_id("req"), "body": payload},
                "error": None,
            }
            (out if status == 200 else err).append(json.dumps(record))
        for lines, attr in ((out, "output_file_id"), (err, "error_file_id")):
            if lines:
                file_id = self._new_id("file")
                self._files[file_id] = (("\n".join(lines) + "\n").encode(), "batch_output", f"{attr}.jsonl")
                setattr(batch, attr, file_id)
        batch.counts = {"total": len(out) + len(err), "completed": len(out), "failed": len(err)}
        batch.status = "completed"


class _Dropping:
    """A handler whose answer is lost: the work is done, then the connection closes without a response."""

    def __init__(self, h: _Handler) -> None:
        self._h = h

    def send(self, status: int, payload: dict | bytes, headers: dict[str, str] | None = None) -> None:
        self._h.close_connection = True
        self._h.connection.shutdown(2)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._h, name)


def _offered_names(response_format: dict | None, system: str) -> list[str] | None:
    schema = ((response_format or {}).get("json_schema") or {}).get("schema") or {}
    enum = ((schema.get("properties") or {}).get("category") or {}).get("enum")
    if enum:
        return list(enum)
    headings = HEADING.findall(system)
    return headings or None


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake OpenAI API on 127.0.0.1 until killed.")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per chat answer")
    args = parser.parse_args()
    fake = FakeOpenAI(latency=args.latency, port=args.port).start()
    print(fake.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
