"""Message logs and conversation JSON, assembled into one thread per conversation, as the study did:
"all conversations ... as single input sequences ... only the user prompts".

A thread's text is its **user** messages in order, each prefixed ``"user: "`` and joined by a
newline (``SEPARATOR``), the layout of the study's exports and of ``sample_data/threads.csv``.
Assistant and system messages are counted (``meta``), not kept, unless ``keep_assistant`` (then
assistant turns are kept as ``"assistant: ..."`` lines; system messages are never kept).

Message logs (one row per message) are read chunk by chunk and **grouped on disk**: pass 1
validates each row and appends it to one of K temporary Arrow files chosen by a hash of the
conversation id (K from the file size, ~24 MiB of input per file); pass 2 reads one file at a
time, sorts it by (conversation, position, row) and assembles its conversations. Messages of one
conversation may therefore be anywhere in the file, and memory holds one partition at a time,
never the whole log. The target database is not used as scratch space: the import stays one
short write transaction, and a dry run writes nothing at all.

Order within a conversation: by ``position`` (a message index or a timestamp), ties and missing
positions by file row; without a position column, file order. Rows identical in conversation,
position, sender and text are kept once (reported as duplicates). Thread metadata: first and last
timestamp, number of user turns, the user id (a conversation with two user ids is reported and
skipped: it cannot be attributed to one person), role and department (first non-empty value).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from annotator.errors import InvalidInput
from annotator.importing import (CHUNK_ROWS, MESSAGE_FIELDS, CleanChunk, Flags, Problem, ReadState, _as_text, _mask,
                                 _not_text, _parse_dates, _printable, check_columns, flag_values)
from annotator.importing.sources import SourceInfo, detect_format, iter_json_lines, iter_raw, load_json_file

SEPARATOR = "\n"
USER_PREFIX = "user: "
ASSISTANT_PREFIX = "assistant: "
USER, ASSISTANT, SYSTEM, UNKNOWN = 0, 1, 2, -1
PARTITION_BYTES = 24 * 1024 * 1024
MAX_PARTITIONS = 512
CONVERSATION_BATCH = 20_000
ID_KEYS = ("thread_id", "conversation_id", "id", "uuid")


@dataclass(frozen=True)
class SenderValues:
    """Which sender values mean user, assistant and system (compared case-insensitively)."""

    user: tuple[str, ...] = ("user", "human")
    assistant: tuple[str, ...] = ("assistant", "gpt", "bot", "model", "ai", "chatbot")
    system: tuple[str, ...] = ("system", "developer", "tool", "function")

    def codes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for code, values in ((USER, self.user), (ASSISTANT, self.assistant), (SYSTEM, self.system)):
            for v in values:
                key = v.strip().casefold()
                if key in out and out[key] != code:
                    raise InvalidInput(f"sender value '{v}' is given for two kinds of sender")
                if key:
                    out[key] = code
        if USER not in out.values():
            raise InvalidInput("no sender value means user; give at least one (e.g. user)", option="user_senders")
        return out

    @staticmethod
    def parse(user: str | None = None, assistant: str | None = None, system: str | None = None) -> SenderValues:
        default = SenderValues()

        def split(spec: str | None, fallback: tuple[str, ...]) -> tuple[str, ...]:
            return fallback if spec is None or not spec.strip() else tuple(v.strip() for v in spec.split(",") if v.strip())

        return SenderValues(split(user, default.user), split(assistant, default.assistant), split(system, default.system))


@dataclass
class MessageOptions:
    senders: SenderValues = SenderValues()
    keep_assistant: bool = False


def _unknown_sender_reason(value: str) -> str:
    return (f"unknown sender '{_printable(value[:40])}'; say what it means with --user-senders, --assistant-senders "
            "or --system-senders (on the upload page: the sender value fields)")


# --------------------------------------------------------------------------- #
# Assembly (pure: one frame of messages -> threads)
# --------------------------------------------------------------------------- #
_MSG_COLUMNS = ["row", "tid", "pos", "sender", "text", "user_id", "role", "department", "ts"]


def assemble(df: pd.DataFrame, *, truncate_at: int, keep_assistant: bool, state: ReadState,
             dedupe: bool) -> CleanChunk | None:
    """Threads from a frame of messages (columns ``_MSG_COLUMNS``; all messages of each conversation).

    Records problems (duplicate messages, conversations with no user turn or two user ids) in `state`.
    Vectorised with numpy: conversations are integer codes, sorted by (code, position, row).
    """
    if not len(df):
        return None
    codes, uniques = pd.factorize(df["tid"].to_numpy(dtype=object))
    pos_raw = df["pos"].to_numpy(dtype=np.float64)
    rows_raw = df["row"].to_numpy(dtype=np.int64)
    order = np.lexsort((rows_raw, np.where(np.isnan(pos_raw), np.inf, pos_raw), codes))
    code = codes[order]
    pos = pos_raw[order]
    rows = rows_raw[order]
    sender = df["sender"].to_numpy(dtype=np.int64)[order]
    texts = df["text"].to_numpy(dtype=object)[order]
    n = len(code)
    keep = np.ones(n, dtype=bool)
    if dedupe and n > 1:
        same_pos = np.r_[False, (code[1:] == code[:-1]) & (pos[1:] == pos[:-1])]
        if same_pos.any():  # rare: compare the candidates exactly
            grp = np.flatnonzero(same_pos | np.r_[same_pos[1:], False])
            sub = pd.DataFrame({"c": code[grp], "p": pos[grp], "s": sender[grp], "t": texts[grp], "r": rows[grp]})
            dup = sub.duplicated(["c", "p", "s", "t"], keep="first")
            if dup.any():
                first = sub.groupby(["c", "p", "s", "t"], sort=False)["r"].transform("min")
                for r, f, c in zip(sub.loc[dup, "r"].tolist(), first[dup].tolist(), sub.loc[dup, "c"].tolist()):
                    state.problems.append(Problem(int(r), "text", f"duplicate message of conversation "
                                                                  f"'{_printable(str(uniques[c])[:60])}' (same as row "
                                                                  f"{int(f)}); kept once"))
                keep[grp[dup.to_numpy()]] = False
    if not keep.all():
        code, pos, rows, sender, texts, order = code[keep], pos[keep], rows[keep], sender[keep], texts[keep], order[keep]
        n = len(code)
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    groups = len(starts)
    gid = np.repeat(np.arange(groups), np.diff(np.r_[starts, n]))
    sizes = np.diff(np.r_[starts, n])
    n_user = np.add.reduceat((sender == USER).astype(np.int64), starts)
    n_asst = np.add.reduceat((sender == ASSISTANT).astype(np.int64), starts)
    n_sys = sizes - n_user - n_asst
    first_row = np.minimum.reduceat(rows, starts)
    ts = df["ts"].to_numpy(dtype=np.float64)[order]
    with np.errstate(invalid="ignore"):
        first_ts = np.fmin.reduceat(ts, starts)
        last_ts = np.fmax.reduceat(ts, starts)
    group_tid = uniques[code[starts]]

    def first_value(col: str) -> np.ndarray:
        values = df[col].to_numpy(dtype=object)[order]
        have = np.flatnonzero(pd.notna(values) & (values != ""))
        out = np.full(groups, None, dtype=object)
        if len(have):
            g = gid[have]
            lead = np.r_[True, g[1:] != g[:-1]]
            out[g[lead]] = values[have[lead]]
        return out

    bad = n_user == 0
    users = df["user_id"].to_numpy(dtype=object)[order]
    have = np.flatnonzero(pd.notna(users) & (users != ""))
    if len(have):
        ucodes, uvalues = pd.factorize(users[have])
        g = gid[have]
        pairs = np.unique(g * (len(uvalues) + 1) + ucodes)
        per_group = np.bincount(pairs // (len(uvalues) + 1), minlength=groups)
        for gg in np.flatnonzero(per_group > 1):
            sel = have[gid[have] == gg]
            seen: dict[str, int] = {}
            for i in sel[np.argsort(rows[sel], kind="stable")]:
                seen.setdefault(users[i], int(rows[i]))
            (a, ra), (b, rb) = list(seen.items())[:2]
            state.problems.append(Problem(rb, "user_id", f"conversation '{_printable(str(group_tid[gg])[:60])}' has "
                                                         f"messages of {len(seen)} user ids ('{_printable(a[:40])}' "
                                                         f"from row {ra}, '{_printable(b[:40])}' here); it cannot be "
                                                         "attributed to one person, so it was skipped"))
            bad[gg] = True
    for gg in np.flatnonzero((n_user == 0)):
        state.problems.append(Problem(int(first_row[gg]), "sender",
                                      f"conversation '{_printable(str(group_tid[gg])[:60])}' has no user message "
                                      f"({int(n_asst[gg])} assistant, {int(n_sys[gg])} system); nothing to classify, "
                                      "skipped"))
    user_of = first_value("user_id")
    role_of = first_value("role")
    dept_of = first_value("department")

    kept = (sender == USER) | (sender == ASSISTANT) if keep_assistant else (sender == USER)
    kidx = np.flatnonzero(kept)
    prefixed = [(USER_PREFIX if s == USER else ASSISTANT_PREFIX) + t
                for t, s in zip(texts[kidx].tolist(), sender[kidx].tolist())]
    kg = gid[kidx]
    kstarts = np.flatnonzero(np.r_[True, kg[1:] != kg[:-1]]) if len(kg) else np.array([], dtype=np.int64)
    kends = np.r_[kstarts[1:], len(kg)]
    joined = np.full(groups, None, dtype=object)
    joined[kg[kstarts]] = [SEPARATOR.join(prefixed[a:b]) for a, b in zip(kstarts.tolist(), kends.tolist())]
    good = np.flatnonzero(~bad & pd.notna(joined))
    state.conversations += groups
    if not len(good):
        return None
    text = joined[good].tolist()
    lengths = [len(t) for t in text]
    over = [n_ > truncate_at for n_ in lengths]
    if any(over):
        text = [t[:truncate_at] if o else t for t, o in zip(text, over)]
        state.truncated += sum(over)
    fts, lts = first_ts[good], last_ts[good]
    return CleanChunk(
        external_id=[str(t) for t in group_tid[good].tolist()], text=text, char_count=lengths, truncated=over,
        user_id=user_of[good].tolist(), role=role_of[good].tolist(), department=dept_of[good].tolist(),
        created_at=_datetimes(fts), meta=[f'{{"messages": {a}, "assistant_messages": {b}, "system_messages": {c}}}'
                                         for a, b, c in zip(sizes[good].tolist(), n_asst[good].tolist(),
                                                            n_sys[good].tolist())],
        row=first_row[good].tolist(), last_message_at=_datetimes(lts), user_turns=n_user[good].tolist(),
        first_ts=fts, last_ts=lts)


def _datetimes(epoch: np.ndarray) -> list:
    """UTC datetimes (None for NaN) from epoch seconds, vectorised."""
    ok = ~np.isnan(epoch)
    if not ok.any():
        return [None] * len(epoch)
    stamps = pd.to_datetime(np.where(ok, np.round(epoch * 1e6), 0).astype("int64"), unit="us", utc=True)
    values = stamps.to_pydatetime().tolist()
    return values if ok.all() else [v if k else None for v, k in zip(values, ok.tolist())]


# --------------------------------------------------------------------------- #
# Message logs: validate, partition on disk, assemble per partition
# --------------------------------------------------------------------------- #
def _partitions(path: Path, compressed: bool) -> int:
    size = path.stat().st_size * (6 if compressed else 1)
    return int(min(MAX_PARTITIONS, max(1, size // PARTITION_BYTES + 1)))


class _PositionParser:
    """Positions are numbers (message index) or timestamps, decided by the first non-empty values."""

    def __init__(self) -> None:
        self.kind: str | None = None

    def parse(self, values: pd.Series) -> pd.Series:
        """Float positions (timestamps as epoch seconds); NaN where a value does not parse."""
        present = values != ""
        if self.kind is None and present.any():
            sample = values[present]
            numbers = pd.to_numeric(sample, errors="coerce")
            self.kind = "number" if numbers.notna().all() else "time"
        if self.kind == "number":
            try:  # numpy parses clean numeric strings in C; anything else goes through pandas
                return pd.Series(np.asarray(values.tolist(), dtype=np.float64), index=values.index)
            except ValueError:
                return pd.to_numeric(values.where(present, None), errors="coerce").astype("float64")
        if self.kind == "time":
            parsed = _parse_dates(values)
            return _epoch_seconds(parsed)
        return pd.Series(np.nan, index=values.index, dtype="float64")


def _epoch_seconds(parsed: pd.Series) -> pd.Series:
    out = pd.Series(np.nan, index=parsed.index, dtype="float64")
    ok = parsed.notna()
    if ok.any():
        out[ok] = parsed[ok].dt.tz_convert("UTC").astype("datetime64[us, UTC]").astype("int64") / 1e6
    return out


def iter_message_threads(path: Path, *, mapping: dict[str, str] | None = None, fmt: str | None = None,
                         truncate_at: int = 32_000, state: ReadState,
                         options: MessageOptions | None = None) -> Iterator[CleanChunk]:
    """Assembled threads of a message log (CSV, JSONL, Parquet, XLSX; one row per message)."""
    import pyarrow as pa

    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"{path}: no such file")
    fmt = detect_format(path, fmt)
    if fmt == "json":
        yield from iter_conversation_threads(path, mapping=mapping, fmt=fmt, truncate_at=truncate_at, state=state,
                                             options=options)
        return
    options = options or MessageOptions()
    codes = options.senders.codes()
    mapping = mapping or {}
    source = {f: mapping.get(f, f) for f in MESSAGE_FIELDS}
    state.info = state.info or SourceInfo(fmt=fmt)
    k = _partitions(path, bool(state.info.compression or path.suffix.lower() in (".gz", ".bz2", ".xz")))
    schema = pa.schema([("row", pa.int64()), ("tid", pa.string()), ("pos", pa.float64()), ("sender", pa.int8()),
                        ("text", pa.string()), ("user_id", pa.string()), ("role", pa.string()),
                        ("department", pa.string()), ("ts", pa.float64())])
    positions = _PositionParser()
    has_position = False
    with tempfile.TemporaryDirectory(prefix="annotator-messages-") as tmp:
        sinks = [pa.OSFile(str(Path(tmp) / f"part-{i:03d}.arrow"), "wb") for i in range(k)]
        writers = [pa.ipc.new_stream(s, schema) for s in sinks]
        try:
            for raw in iter_raw(path, fmt, chunk_rows=CHUNK_ROWS, info=state.info):
                state.problems.extend(Problem(r, f, reason) for r, f, reason in raw.problems)
                state.rows_read += len(raw.problems)
                frame = raw.frame
                if not len(frame.columns) and not len(frame):
                    continue
                columns = [str(c) for c in frame.columns]
                frame.columns = columns
                if source["sender"] not in columns and "sender" not in mapping:
                    raise InvalidInput(
                        f"{path.name}: no column '{source['sender']}' for sender (columns found: "
                        f"{', '.join(_printable(c) for c in columns[:12])}); name the column that says user / "
                        "assistant / system with --map sender=COLUMN")
                check_columns(path.name, columns, source, mapping, ("thread_id", "text", "sender"))
                if not len(frame):
                    continue
                rows = pd.Index(raw.rows)
                frame.index = rows
                state.rows_read += len(frame)
                state.messages += len(frame)
                has_position = has_position or source["position"] in columns
                table = _validate_messages(frame, rows, columns, source, codes, positions, state)
                if table is None:
                    continue
                _partition(table, k, writers, schema)
        finally:
            for w in writers:
                w.close()
            for s in sinks:
                s.close()
        for i in range(k):
            with pa.memory_map(str(Path(tmp) / f"part-{i:03d}.arrow")) as src:
                part = pa.ipc.open_stream(src).read_all()
            if part.num_rows == 0:
                continue
            df = part.to_pandas(types_mapper=None)
            for col in ("tid", "text", "user_id", "role", "department"):
                df[col] = df[col].astype(object)
            chunk = assemble(df, truncate_at=truncate_at, keep_assistant=options.keep_assistant, state=state,
                             dedupe=has_position)
            del df, part
            if chunk is not None:
                yield chunk


def _validate_messages(frame: pd.DataFrame, rows: pd.Index, columns: list[str], source: dict[str, str],
                       codes: dict[str, int], positions: _PositionParser, state: ReadState):
    import pyarrow as pa

    raw_text = frame[source["text"]]
    ids = _as_text(frame[source["thread_id"]])
    text = _as_text(raw_text, strip=False)
    senders = _as_text(frame[source["sender"]])
    opt = {f: (_as_text(frame[source[f]]) if source[f] in columns else None)
           for f in ("position", "user_id", "role", "department", "created_at")}
    flag = Flags(len(rows))

    if raw_text.dtype == object and pd.api.types.infer_dtype(raw_text, skipna=False) not in ("string", "empty"):
        flag(_mask(raw_text, _not_text), "text", "not text (a list, object or binary value); the text must be a string")
    flag(ids == "", "thread_id", "empty thread_id (conversation id)")
    flag_values(ids, "thread_id", flag)
    flag_values(senders, "sender", flag)
    code = senders.str.casefold().map(codes).fillna(UNKNOWN).astype("int64")
    unknown = (code == UNKNOWN).to_numpy() & flag.ok
    if unknown.any():
        for value in senders[unknown].tolist():
            state.unknown_senders[value] = state.unknown_senders.get(value, 0) + 1
        flag(unknown, "sender", senders.map(_unknown_sender_reason))
    flag_values(text, "text", flag)
    blank = pd.Series([not v or v.isspace() for v in text.tolist()], index=rows, dtype=bool)
    flag((code == USER) & blank, "text", "empty message text")
    for f in ("user_id", "role", "department", "created_at", "position"):
        if opt[f] is not None:
            flag_values(opt[f], f, flag)
    pos = pd.Series(np.nan, index=rows, dtype="float64")
    if opt["position"] is not None:
        pos = positions.parse(opt["position"])
        flag(opt["position"] == "", "position", "empty position; every message needs its index or timestamp")
        unparsed = pos.isna() & (opt["position"] != "")
        if unparsed.any():
            flag(unparsed, "position", opt["position"].map(
                lambda v: f"unparseable position {v[:40]!r}; use a message number or an ISO 8601 timestamp"))
    ts = pd.Series(np.nan, index=rows, dtype="float64")
    if opt["created_at"] is not None:
        parsed = _parse_dates(opt["created_at"])
        unparsed = parsed.isna() & (opt["created_at"] != "")
        if unparsed.any():
            flag(unparsed, "created_at", opt["created_at"].map(
                lambda v: f"unparseable date {v[:40]!r}; use ISO 8601 like 2024-05-01T09:30:00Z"))
        ts = _epoch_seconds(parsed)
    elif positions.kind == "time":
        ts = pos
    state.problems.extend(flag.problems(rows))
    keep = flag.ok
    if not keep.any():
        return None

    def col(s: pd.Series | None) -> list | None:
        if s is None:
            return None
        return [v if v else None for v in s[keep].tolist()]

    n = int(keep.sum())
    arrays = [pa.array(np.asarray(rows)[keep], pa.int64()), pa.array(ids[keep].tolist(), pa.string()),
              pa.array(pos.to_numpy()[keep], pa.float64(), from_pandas=True), pa.array(code.to_numpy()[keep], pa.int8()),
              pa.array(text[keep].tolist(), pa.string())]
    for f in ("user_id", "role", "department"):
        values = col(opt[f])
        arrays.append(pa.array(values, pa.string()) if values is not None else pa.nulls(n, pa.string()))
    arrays.append(pa.array(ts.to_numpy()[keep], pa.float64(), from_pandas=True))
    return pa.Table.from_arrays(arrays, names=_MSG_COLUMNS)


def _partition(table, k: int, writers, schema) -> None:
    import pyarrow as pa

    if k == 1:
        writers[0].write_table(table)
        return
    ids = table.column("tid").to_pandas()
    bucket = (pd.util.hash_array(ids.to_numpy(dtype=object)) % np.uint64(k)).astype(np.int64)
    order = np.argsort(bucket, kind="stable")
    sorted_buckets = bucket[order]
    bounds = np.searchsorted(sorted_buckets, np.arange(k + 1))
    for i in range(k):
        a, b = bounds[i], bounds[i + 1]
        if a < b:
            writers[i].write_table(table.take(pa.array(order[a:b])))


# --------------------------------------------------------------------------- #
# Conversation JSON (OpenAI `messages`, ShareGPT `conversations`)
# --------------------------------------------------------------------------- #
def looks_like_conversations(path: Path, fmt: str) -> bool:
    """A .json file, or a JSONL file whose first object has a `messages` or `conversations` list."""
    if fmt == "json":
        return True
    if fmt != "jsonl":
        return False
    for _number, value, problem in iter_json_lines(path):
        if problem is None and isinstance(value, dict):
            return isinstance(value.get("messages"), list) or isinstance(value.get("conversations"), list)
        return False
    return False


def _content_text(content: Any) -> str | None:
    """A message's text: a string, or the text parts of an OpenAI content list; None if neither."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        parts += [p for p in content if isinstance(p, str)]
        return "\n".join(parts)
    if content is None:
        return ""
    return None


def _iter_conversations(path: Path, fmt: str) -> Iterator[tuple[int, Any, str | None]]:
    if fmt == "jsonl":
        yield from iter_json_lines(path)
        return
    data = load_json_file(path)
    if isinstance(data, dict) and not any(isinstance(data.get(k), list) for k in ("messages", "conversations")):
        data = next((v for v in data.values() if isinstance(v, list)), None)
        if data is None:
            raise InvalidInput(f"{path.name}: expected a list of conversations (objects with 'messages' or "
                               "'conversations')")
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise InvalidInput(f"{path.name}: expected a list of conversations (objects with 'messages' or 'conversations')")
    for i, item in enumerate(data, start=1):
        yield i, item, None


def iter_conversation_threads(path: Path, *, mapping: dict[str, str] | None = None, fmt: str | None = None,
                              truncate_at: int = 32_000, state: ReadState,
                              options: MessageOptions | None = None) -> Iterator[CleanChunk]:
    """Threads of a conversation file: JSON (a list) or JSONL (one conversation per line), each
    conversation an object with `messages: [{role, content}]` (OpenAI) or `conversations: [{from, value}]`
    (ShareGPT). Its id is `thread_id`, `conversation_id`, `id` or `uuid` (or `--map thread_id=KEY`), else a
    hash of its messages (so importing the same file twice adds nothing); `user_id`, `role`, `department`
    and `created_at` are read from the conversation (or `--map`), and message timestamps from
    `created_at`, `timestamp` or `create_time`."""
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"{path}: no such file")
    fmt = detect_format(path, fmt)
    options = options or MessageOptions()
    codes = options.senders.codes()
    mapping = mapping or {}
    unknown = set(mapping) - {"thread_id", "user_id", "role", "department", "created_at"}
    if unknown:
        raise InvalidInput(f"{sorted(unknown)[0]}: conversation files take only thread_id, user_id, role, "
                           "department and created_at (the messages are read from 'messages' or 'conversations')",
                           option="map")
    state.info = state.info or SourceInfo(fmt=fmt)
    state.info.notes.append("conversation file: OpenAI 'messages' / ShareGPT 'conversations'")
    records: list[tuple] = []
    n_conv = 0

    def flush():
        df = pd.DataFrame.from_records(records, columns=_MSG_COLUMNS)
        for c in ("tid", "text", "user_id", "role", "department"):
            df[c] = df[c].astype(object)
        return assemble(df, truncate_at=truncate_at, keep_assistant=options.keep_assistant, state=state, dedupe=False)

    for number, conv, problem in _iter_conversations(path, fmt):
        state.rows_read += 1
        if problem is None:
            problem = _conversation_rows(conv, number, mapping, codes, state, records)
        if problem is not None:
            fld, reason = problem if isinstance(problem, tuple) else (None, problem)
            state.problems.append(Problem(number, fld, reason))
            continue
        n_conv += 1
        if n_conv % CONVERSATION_BATCH == 0:
            chunk = flush()
            records = []
            if chunk is not None:
                yield chunk
    if records:
        chunk = flush()
        if chunk is not None:
            yield chunk


def _scalar_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _conversation_rows(conv: Any, number: int, mapping: dict[str, str], codes: dict[str, int], state: ReadState,
                       out: list[tuple]) -> tuple[str | None, str] | str | None:
    """Append the conversation's messages to `out`; return a problem instead when it is unusable."""
    if not isinstance(conv, dict):
        return f"a JSON {type(conv).__name__}, not a conversation object"
    messages = conv.get("messages")
    kind = "messages"
    if not isinstance(messages, list):
        messages, kind = conv.get("conversations"), "conversations"
    if not isinstance(messages, list):
        return ("messages", "no 'messages' (OpenAI) or 'conversations' (ShareGPT) list")
    if mapping.get("thread_id"):
        tid = _scalar_text(conv.get(mapping["thread_id"]))
        if tid is None:
            return ("thread_id", f"no value for '{mapping['thread_id']}' (the conversation id)")
    else:
        tid = next((t for t in (_scalar_text(conv.get(k)) for k in ID_KEYS) if t), None)
        if tid is None:
            digest = hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode("utf-8", "replace"))
            tid = "conv-" + digest.hexdigest()[:16]
    if len(tid) > 200:
        return ("thread_id", "longer than 200 characters")
    first = state.seen.get(tid)
    if first is not None:
        return ("thread_id", f"duplicate conversation id '{_printable(tid[:60])}' (first at row {first})")
    meta = {}
    for f in ("user_id", "role", "department", "created_at"):
        key = mapping.get(f, f)
        value = _scalar_text(conv.get(key))
        if value is None and f == "user_id":
            value = _scalar_text(conv.get("user"))
        if value is not None and len(value) > 200 and f != "created_at":
            return (f, "longer than 200 characters")
        meta[f] = value
    conv_ts = _timestamp(meta["created_at"] or conv.get("create_time") or conv.get("timestamp"))
    if meta["created_at"] and conv_ts is None:
        return ("created_at", f"unparseable date {meta['created_at'][:40]!r}; use ISO 8601 like 2024-05-01T09:30:00Z")
    rows = []
    for i, m in enumerate(messages, start=1):
        if not isinstance(m, dict):
            return (kind, f"message {i} is not an object")
        role = m.get("role") if kind == "messages" else m.get("from")
        if role is None:
            role = m.get("from") if kind == "messages" else m.get("role")
        role_text = str(role or "").strip()
        code = codes.get(role_text.casefold(), UNKNOWN)
        if code == UNKNOWN:
            state.unknown_senders[role_text] = state.unknown_senders.get(role_text, 0) + 1
            return ("sender", f"message {i}: " + _unknown_sender_reason(role_text))
        content = _content_text(m.get("content") if kind == "messages" else m.get("value", m.get("content")))
        if content is None:
            return ("text", f"message {i} has no text content")
        if "\x00" in content or "\x00" in tid:
            return ("text", f"message {i} contains a NUL character (0x00), which cannot be stored")
        ts = _timestamp(m.get("created_at") or m.get("timestamp") or m.get("create_time"))
        rows.append((number, tid, float(i), code, content, meta["user_id"], meta["role"], meta["department"],
                     ts if ts is not None else (conv_ts if conv_ts is not None else np.nan)))
    if not rows:
        return ("messages", "the conversation has no messages")
    state.seen[tid] = number
    state.messages += len(rows)
    out.extend(rows)
    return None


def _timestamp(value: Any) -> float | None:
    """Epoch seconds from an ISO string or a number of seconds (ChatGPT exports use floats)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    parsed = pd.to_datetime(str(value), utc=True, errors="coerce", format="ISO8601")
    if pd.isna(parsed):
        parsed = pd.to_datetime(str(value), utc=True, errors="coerce", format="mixed")
    if pd.isna(parsed):
        return None
    return parsed.value / 1e9
