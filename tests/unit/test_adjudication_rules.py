"""The pure acceptance rules (annotator.adjudication): unanimous vs majority, missing labels, unsure
marks, how split a thread is, and how its competing pair is named."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from annotator.adjudication import Assessment, Vote, assess, pair_label

CATS = ("A", "B", "C", "D")


def votes(*cats: str, unsure: tuple[int, ...] = ()) -> list[Vote]:
    """One vote per category, by reviewers r0, r1...; the indices in `unsure` are marked unsure."""
    return [Vote(f"r{i}", c, i in unsure) for i, c in enumerate(cats)]


@st.composite
def ballots(draw) -> tuple[list[Vote], int]:
    """Up to five votes on four categories, some unsure, and an expected count (possibly below the votes)."""
    cats = draw(st.lists(st.sampled_from(CATS), min_size=0, max_size=5))
    flags = draw(st.lists(st.booleans(), min_size=len(cats), max_size=len(cats)))
    expected = draw(st.integers(min_value=0, max_value=6))
    return [Vote(f"r{i}", c, u) for i, (c, u) in enumerate(zip(cats, flags))], expected


# --------------------------------------------------------------------------- #
# Worked cases
# --------------------------------------------------------------------------- #
def test_three_identical_labels_are_accepted_as_unanimous():
    a = assess(votes("A", "A", "A"), 3)
    assert (a.accepted, a.provenance, a.reasons, a.split, a.pair) == ("A", "unanimous", (), 0.0, None)
    assert a.counts == (("A", 3),)


@pytest.mark.parametrize("rule", ["unanimous", "majority"])
def test_three_different_labels_are_a_disagreement_under_either_rule(rule):
    a = assess(votes("C", "A", "B"), 3, rule)
    assert a.accepted is None and a.provenance is None
    assert a.reasons == ("disagreement",)
    assert a.split == pytest.approx(2 / 3)
    assert a.pair == ("A", "B")  # equal counts: the alphabetically first two
    assert a.counts == (("A", 1), ("B", 1), ("C", 1))


def test_two_of_three_needs_a_lead_under_the_unanimous_rule():
    a = assess(votes("B", "A", "B"), 3, "unanimous")
    assert a.accepted is None
    assert a.reasons == ("disagreement",)
    assert a.split == pytest.approx(1 / 3)
    assert a.pair == ("A", "B")
    assert a.counts == (("B", 2), ("A", 1))


def test_two_of_three_is_accepted_under_the_majority_rule():
    a = assess(votes("B", "A", "B"), 3, "majority")
    assert (a.accepted, a.provenance, a.reasons) == ("B", "majority", ())
    assert a.pair == ("A", "B")  # the split is still described


def test_two_of_four_is_no_majority():
    a = assess(votes("A", "A", "B", "B"), 4, "majority")
    assert a.accepted is None and a.reasons == ("disagreement",)
    a = assess(votes("A", "A", "B", "C"), 4, "majority")
    assert a.accepted is None and a.reasons == ("disagreement",)


@pytest.mark.parametrize("rule", ["unanimous", "majority"])
def test_an_unsure_mark_blocks_acceptance_even_when_all_agree(rule):
    a = assess(votes("A", "A", "A", unsure=(1,)), 3, rule)
    assert a.accepted is None and a.provenance is None
    assert a.reasons == ("unsure",)
    assert a.split == 0.0 and a.pair is None


def test_missing_label_blocks_unanimous_acceptance():
    a = assess(votes("A", "A"), 3, "unanimous")
    assert a.accepted is None and a.reasons == ("missing",)
    assert a.split == 0.0


def test_two_agreeing_of_three_expected_is_a_majority_of_the_expected_labels():
    a = assess(votes("A", "A"), 3, "majority")
    assert (a.accepted, a.provenance, a.reasons) == ("A", "majority", ())


def test_one_label_of_three_expected_is_not_a_majority():
    a = assess(votes("A"), 3, "majority")
    assert a.accepted is None and a.reasons == ("missing",)


def test_a_thread_nobody_labeled_is_missing_and_most_split():
    a = assess([], 3)
    assert a.accepted is None and a.reasons == ("missing",)
    assert a.split == 1.0 and a.pair is None and a.counts == ()


def test_every_reason_is_listed_in_a_fixed_order():
    a = assess(votes("A", "B", unsure=(0,)), 3)
    assert a.reasons == ("missing", "disagreement", "unsure")


def test_more_labels_than_expected_count_as_expected():
    a = assess(votes("A", "A", "A"), 2)
    assert (a.accepted, a.provenance) == ("A", "unanimous")
    a = assess(votes("A", "A", "B"), 0, "majority")
    assert (a.accepted, a.provenance) == ("A", "majority")


def test_split_orders_threads_from_most_to_least_split():
    threads = {
        "all agree, unsure": votes("A", "A", "A", unsure=(0,)),
        "two to one": votes("A", "A", "B"),
        "all differ": votes("A", "B", "C"),
        "two to one to one": votes("A", "A", "B", "C"),
    }
    order = sorted(threads, key=lambda k: -assess(threads[k], len(threads[k])).split)
    assert order == ["all differ", "two to one to one", "two to one", "all agree, unsure"]


def test_pair_is_the_two_most_voted_categories_in_name_order():
    assert assess(votes("D", "D", "C", "B", "D", "B"), 6).pair == ("B", "D")
    assert pair_label(("B", "D")) == "B vs D"
    assert pair_label(None) == "(no competing category)"


def test_pair_names_are_independent_of_vote_order():
    assert pair_label(assess(votes("B", "A"), 2).pair) == pair_label(assess(votes("A", "B"), 2).pair) == "A vs B"


# --------------------------------------------------------------------------- #
# Properties
# --------------------------------------------------------------------------- #
@given(ballots(), st.sampled_from(["unanimous", "majority"]))
def test_properties_of_any_ballot(ballot, rule):
    vs, expected = ballot
    a = assess(vs, expected, rule)
    counts = Counter(v.category for v in vs)
    n = len(vs)
    k = max(expected, n, 1)
    top = max(counts.values(), default=0)
    assert isinstance(a, Assessment)
    # counts: every category with its number of votes, most voted first
    assert dict(a.counts) == counts
    assert [c for _, c in a.counts] == sorted((c for _, c in a.counts), reverse=True)
    # split
    assert a.split == (1.0 - top / n if n else 1.0)
    assert 0.0 <= a.split <= 1.0
    # pair: None iff one category (or none)
    assert (a.pair is None) == (len(counts) < 2)
    if a.pair:
        assert list(a.pair) == sorted(a.pair) and set(a.pair) <= set(counts)
        assert all(counts[c] <= min(counts[p] for p in a.pair) for c in counts if c not in a.pair)
    # acceptance
    any_unsure = any(v.unsure for v in vs)
    if rule == "unanimous":
        should = not any_unsure and len(counts) == 1 and n == k
    else:
        should = not any_unsure and n > 0 and top * 2 > k
    assert (a.accepted is not None) == should
    if a.accepted is not None:
        assert counts[a.accepted] == top and a.reasons == ()
        assert a.provenance == ("unanimous" if len(counts) == 1 and n == k else "majority")
    else:
        assert a.provenance is None
        expected_reasons = tuple(r for r, on in (("missing", n < k), ("disagreement", len(counts) > 1),
                                                 ("unsure", any_unsure)) if on)
        assert a.reasons == expected_reasons and a.reasons


@given(ballots(), st.sampled_from(["unanimous", "majority"]), st.randoms(use_true_random=False))
def test_vote_order_does_not_matter(ballot, rule, rnd):
    vs, expected = ballot
    shuffled = list(vs)
    rnd.shuffle(shuffled)
    assert assess(shuffled, expected, rule) == assess(vs, expected, rule)


@given(ballots())
def test_majority_accepts_everything_unanimous_accepts(ballot):
    vs, expected = ballot
    unanimous = assess(vs, expected, "unanimous")
    if unanimous.accepted is not None:
        assert assess(vs, expected, "majority").accepted == unanimous.accepted
