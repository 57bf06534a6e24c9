"""What the labeling widget sends is untrusted: parse_actions keeps well-formed actions only, in order."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from annotator.services.labeling import MAX_ACTIONS, Action, instance_of, parse_actions


def box(*items, instance="tab-1"):
    return {"instance": instance, "items": list(items)}


def test_a_label_action_is_read_with_its_values():
    (a,) = parse_actions(box({"seq": 1, "type": "label", "round_id": 3, "thread_id": 9, "category": "Coding",
                              "unsure": True, "note": "hard", "seconds": 12.345}))
    assert a == Action(seq=1, type="label", round_id=3, thread_id=9, category="Coding", unsure=True, note="hard",
                       seconds=12.3)


def test_malformed_items_are_dropped_and_the_rest_sorted_by_sequence():
    items = [
        {"seq": 3, "type": "skip", "round_id": 1, "thread_id": 2},
        {"seq": 1, "type": "label", "round_id": 1, "thread_id": 2, "category": "A"},
        {"seq": 2, "type": "drop_table", "round_id": 1, "thread_id": 2},  # unknown type
        {"seq": "4", "type": "skip", "round_id": 1, "thread_id": 2},  # seq not an int
        {"seq": 5, "type": "label", "round_id": 1, "thread_id": 2},  # a label needs a category
        {"seq": 6, "type": "label", "round_id": True, "thread_id": 2, "category": "A"},  # bool is not an id
        {"seq": 7, "type": "skip", "round_id": 1, "thread_id": -2},
        {"seq": 8, "type": "skip", "round_id": 1},  # only undo may omit the thread
        {"seq": 9, "type": "label", "round_id": 1, "thread_id": 2, "category": ["A"]},
        "not an item",
        {"seq": 1, "type": "skip", "round_id": 1, "thread_id": 5},  # a repeated sequence number: the first wins
        {"seq": 10, "type": "undo", "round_id": 1, "thread_id": None},
    ]
    got = parse_actions(box(*items))
    assert [(a.seq, a.type, a.thread_id) for a in got] == [(1, "label", 2), (3, "skip", 2), (10, "undo", None)]


def test_values_are_cut_to_what_the_database_stores():
    (a,) = parse_actions(box({"seq": 1, "type": "label", "round_id": 1, "thread_id": 2, "category": "C" * 500,
                              "note": "n" * 9000, "unsure": "yes", "seconds": float("inf")}))
    assert len(a.category) == 200 and len(a.note) == 5000 and a.unsure is False and a.seconds is None
    (a,) = parse_actions(box({"seq": 1, "type": "label", "round_id": 1, "thread_id": 2, "category": "C",
                              "seconds": -3}))
    assert a.seconds is None


def test_not_an_outbox_gives_nothing():
    for raw in (None, [], "x", {"items": "x"}, {"items": None}, 5):
        assert parse_actions(raw) == []
    assert instance_of(None) == "" and instance_of({"instance": "\x00bad"}) == "" and instance_of({"instance": "ok"}) == "ok"
    assert len(instance_of({"instance": "x" * 500})) == 64


def test_at_most_max_actions_are_read():
    items = [{"seq": i, "type": "skip", "round_id": 1, "thread_id": 1} for i in range(1, MAX_ACTIONS + 50)]
    assert len(parse_actions(box(*items))) == MAX_ACTIONS


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                         max_size=4), max_leaves=12)


@given(st.dictionaries(st.sampled_from(["instance", "items", "x"]),
                       st.lists(st.dictionaries(st.sampled_from(["seq", "type", "round_id", "thread_id", "category",
                                                                 "note", "unsure", "seconds"]), json_values),
                                max_size=6) | json_values))
def test_any_json_is_parsed_without_an_exception(raw):
    for a in parse_actions(raw):
        assert isinstance(a.seq, int) and a.type in ("label", "skip", "undo", "post_reveal", "back", "decide")
        assert a.seconds is None or (math.isfinite(a.seconds) and 0 <= a.seconds <= 86400)
        assert isinstance(a.note, str) and len(a.note) <= 5000


def test_prefetch_sends_five_threads_ahead_unless_they_are_long():
    from annotator.ui import PREFETCH_CHARS, prefetch_budget

    assert prefetch_budget(["x" * 100] * 9) == 5
    assert prefetch_budget(["x" * (PREFETCH_CHARS + 1)] * 3) == 1  # always at least the thread to show
    assert prefetch_budget(["x" * 50_000, "x" * 50_000, "x" * 50_000]) == 2
    assert prefetch_budget([]) == 0
