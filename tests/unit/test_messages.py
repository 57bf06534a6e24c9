"""Assembling threads from message logs (pure: files in tmp_path, no database): the study's layout,
order by position whatever the file order (property-based), duplicates, no-user conversations, two user
ids, truncation, conversation JSON (OpenAI and ShareGPT)."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator.importing import ReadState
from annotator.importing.messages import (MessageOptions, SenderValues, iter_conversation_threads,
                                          iter_message_threads)

MAP = {"thread_id": "conversation_id", "text": "content", "position": "message_index"}


def threads(path: Path, **kw) -> tuple[dict[str, tuple], ReadState]:
    state = ReadState()
    it = iter_conversation_threads if path.suffix == ".json" or kw.pop("conversations", False) else iter_message_threads
    out = {}
    for chunk in it(path, state=state, **kw):
        for i, ext in enumerate(chunk.external_id):
            out[ext] = (chunk.text[i], chunk.user_id[i], chunk.user_turns[i], chunk.truncated[i], chunk.char_count[i],
                        chunk.created_at[i], chunk.last_message_at[i])
    return out, state


def log_frame() -> pd.DataFrame:
    return pd.DataFrame([
        ("c1", 1, "system", "You are helpful.", "u1", "2024-05-01T09:00:00Z"),
        ("c1", 2, "user", "Draft an email to the team.", "u1", "2024-05-01T09:00:05Z"),
        ("c1", 3, "assistant", "Here is a draft.", "", "2024-05-01T09:00:09Z"),
        ("c1", 4, "user", "Shorter, please.", "u1", "2024-05-01T09:01:00Z"),
        ("c2", 1, "assistant", "Hi! How can I help?", "", "2024-05-02T10:00:00Z"),  # assistant first
        ("c2", 2, "user", "What is the dose of amoxicillin?", "u2", "2024-05-02T10:00:30Z"),
    ], columns=["conversation_id", "message_index", "sender", "content", "user_id", "created_at"])


def test_user_messages_only_in_order_prefixed_and_joined_by_newlines(tmp_path):
    path = tmp_path / "log.csv"
    log_frame().sample(frac=1, random_state=3).to_csv(path, index=False)  # rows out of order
    got, state = threads(path, mapping=MAP)
    assert got["c1"][0] == "user: Draft an email to the team.\nuser: Shorter, please."
    assert got["c2"][0] == "user: What is the dose of amoxicillin?"
    assert (got["c1"][1], got["c1"][2]) == ("u1", 2)
    assert got["c1"][5].isoformat() == "2024-05-01T09:00:00+00:00" and got["c1"][6].isoformat() == "2024-05-01T09:01:00+00:00"
    assert state.messages == 6 and not state.problems


def test_keep_assistant_keeps_the_replies(tmp_path):
    path = tmp_path / "log.csv"
    log_frame().to_csv(path, index=False)
    got, _ = threads(path, mapping=MAP, options=MessageOptions(keep_assistant=True))
    assert got["c2"][0] == "assistant: Hi! How can I help?\nuser: What is the dose of amoxicillin?"
    assert got["c2"][2] == 1  # user turns still count the user's messages only


def test_every_format_gives_the_same_threads(tmp_path):
    frame = log_frame()
    results = []
    for suffix in (".csv", ".jsonl", ".parquet", ".xlsx", ".csv.gz"):
        path = tmp_path / f"log{suffix}"
        if suffix == ".jsonl":
            frame.to_json(path, orient="records", lines=True)
        elif suffix == ".parquet":
            frame.to_parquet(path, index=False)
        elif suffix == ".xlsx":
            frame.to_excel(path, index=False)
        else:
            frame.to_csv(path, index=False)
        results.append({k: v[:3] for k, v in threads(path, mapping=MAP)[0].items()})
    assert all(r == results[0] for r in results) and len(results[0]) == 2


def test_timestamps_as_position_and_custom_sender_values(tmp_path):
    frame = log_frame().drop(columns=["message_index"]).rename(columns={"sender": "from"})
    frame["from"] = frame["from"].map({"user": "Staff", "assistant": "GPT-4o", "system": "sys"})
    path = tmp_path / "log.csv"
    frame.iloc[::-1].to_csv(path, index=False)
    got, state = threads(path, mapping={"thread_id": "conversation_id", "text": "content", "position": "created_at",
                                        "sender": "from"},
                         options=MessageOptions(SenderValues.parse("staff", "gpt-4o", "sys")))
    assert got["c1"][0] == "user: Draft an email to the team.\nuser: Shorter, please." and not state.problems


def test_duplicates_no_user_turn_two_users_and_unknown_senders_are_reported(tmp_path):
    frame = pd.concat([log_frame(), log_frame().iloc[[1]], pd.DataFrame([
        ("c3", 1, "assistant", "Only me.", "", "2024-05-03T00:00:00Z"),
        ("c4", 1, "user", "a", "u4", "2024-05-03T00:00:00Z"),
        ("c4", 2, "user", "b", "u5", "2024-05-03T00:00:01Z"),
        ("c5", 1, "robot", "?", "u6", "2024-05-03T00:00:01Z"),
    ], columns=log_frame().columns)], ignore_index=True)
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    got, state = threads(path, mapping=MAP)
    assert sorted(got) == ["c1", "c2"]
    reasons = {p.row: (p.field, p.reason) for p in state.problems}
    assert reasons[8][0] == "text" and "same as row 3" in reasons[8][1]  # the duplicate, kept once
    assert reasons[9][0] == "sender" and "no user message" in reasons[9][1]
    assert reasons[11][0] == "user_id" and "'u4'" in reasons[11][1] and "'u5'" in reasons[11][1]
    assert reasons[12][0] == "sender" and "unknown sender 'robot'" in reasons[12][1]
    assert state.unknown_senders == {"robot": 1}
    assert got["c1"][0].count("Draft an email") == 1


def test_a_40000_character_conversation_is_truncated_like_a_thread(tmp_path):
    rows = [("long", i, "user", "x" * 9_999, "u1", "") for i in range(4)]
    path = tmp_path / "log.csv"
    pd.DataFrame(rows, columns=log_frame().columns).to_csv(path, index=False)
    got, state = threads(path, mapping=MAP)
    text, _u, turns, truncated, n, *_ = got["long"]
    assert truncated and len(text) == 32_000 and n == 4 * (9_999 + 6) + 3 and turns == 4 and state.truncated == 1


def test_openai_and_sharegpt_conversations_import_without_a_mapping(tmp_path):
    openai_lines = [{"id": "o1", "user_id": "u1", "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Translate hola"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": [{"type": "text", "text": "and adios"}, {"type": "image_url", "image_url": {}}]}]},
        {"messages": [{"role": "user", "content": "no id here"}]}]
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in openai_lines))
    got, state = threads(path, conversations=True)
    assert got["o1"][0] == "user: Translate hola\nuser: and adios" and got["o1"][1] == "u1"
    (hashed,) = [k for k in got if k.startswith("conv-")]
    assert got[hashed][0] == "user: no id here"
    assert threads(path, conversations=True)[0].keys() == got.keys()  # the same ids again: idempotent
    share = [{"id": "s1", "conversations": [{"from": "human", "value": "Write SQL"}, {"from": "gpt", "value": "SELECT"},
                                            {"from": "human", "value": "thanks"}]}]
    path = tmp_path / "sharegpt.json"
    path.write_text(json.dumps(share))
    got, state = threads(path)
    assert got["s1"][0] == "user: Write SQL\nuser: thanks" and not state.problems


_messages = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["user", "assistant", "system"]),
              st.text(alphabet="xyz ,\"'\n", min_size=1, max_size=12)),
    min_size=1, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_messages, st.integers(0, 2**32 - 1))
def test_shuffling_a_logs_rows_gives_the_same_threads(messages, seed):
    rows = [(cid, i, sender, text, f"u-{cid}") for i, (cid, sender, text) in enumerate(messages)]
    frame = pd.DataFrame(rows, columns=["conversation_id", "message_index", "sender", "content", "user_id"])
    shuffled = frame.sample(frac=1, random_state=seed % (2**31))
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "a.csv", Path(tmp) / "b.jsonl"
        frame.to_csv(a, index=False)
        shuffled.to_json(b, orient="records", lines=True)
        first = {k: v[:3] for k, v in threads(a, mapping=MAP)[0].items()}
        second = {k: v[:3] for k, v in threads(b, mapping=MAP)[0].items()}
    assert first == second
    for cid in first:  # the text is the conversation's user messages in position order
        expected = [f"user: {t}" for c, s, t in messages if c == cid and s == "user" and t.strip()]
        assert first[cid][0] == "\n".join(expected)


def test_conversations_split_over_many_disk_partitions_assemble_the_same(tmp_path, monkeypatch):
    from annotator.importing import messages

    rng = random.Random(5)
    rows = [(f"c{c}", i, "user" if i % 2 == 0 else "assistant", f"m{c}-{i}", f"u{c}") for c in range(60) for i in range(5)]
    rng.shuffle(rows)
    path = tmp_path / "log.csv"
    pd.DataFrame(rows, columns=["conversation_id", "message_index", "sender", "content", "user_id"]).to_csv(path, index=False)
    one, _ = threads(path, mapping=MAP)
    monkeypatch.setattr(messages, "PARTITION_BYTES", 64)  # hundreds of partitions for a small file
    assert messages._partitions(path, False) > 50
    many, _ = threads(path, mapping=MAP)
    assert many == one and len(one) == 60
    assert one["c7"][0] == "user: m7-0\nuser: m7-2\nuser: m7-4"
