"""Seeded sampling and balanced reviewer assignment (pure functions)."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from annotator.sampling import assign_reviewers, draw_sample

REVIEWERS = ["ana", "ben", "cho", "dev", "eli"]


def candidates(n: int = 200) -> pd.DataFrame:
    depts = ["Emergency"] * (n // 2) + ["Oncology"] * (3 * n // 10) + ["Radiology"] * (n - n // 2 - 3 * n // 10)
    return pd.DataFrame({"id": range(1000, 1000 + n), "department": depts})


def test_sample_is_reproducible_for_a_seed():
    assert draw_sample(candidates(), 30, seed=42) == draw_sample(candidates(), 30, seed=42)


def test_sample_does_not_depend_on_row_order():
    shuffled = candidates().sample(frac=1.0, random_state=0)
    assert draw_sample(shuffled, 30, seed=42) == draw_sample(candidates(), 30, seed=42)


def test_different_seed_gives_a_different_sample():
    assert set(draw_sample(candidates(), 30, seed=1)) != set(draw_sample(candidates(), 30, seed=2))


def test_sample_has_distinct_ids_and_is_capped_at_the_candidates():
    picked = draw_sample(candidates(20), 50, seed=3)
    assert sorted(picked) == list(range(1000, 1020))
    assert draw_sample(candidates(20), 0, seed=3) == []


@pytest.mark.parametrize("size", [10, 37, 100])
def test_stratified_sample_keeps_proportions(size):
    frame = candidates(200)
    picked = draw_sample(frame, size, seed=5, stratify="department")
    assert len(set(picked)) == size
    got = Counter(frame.set_index("id").loc[picked, "department"])
    for dept, share in {"Emergency": 0.5, "Oncology": 0.3, "Radiology": 0.2}.items():
        assert abs(got[dept] - share * size) < 1  # largest-remainder rounding: off by less than one


def test_missing_stratum_values_form_their_own_stratum():
    frame = pd.DataFrame({"id": range(10), "role": ["nurse"] * 5 + [None] * 5})
    picked = draw_sample(frame, 4, seed=0, stratify="role")
    assert sum(1 for i in picked if i >= 5) == 2


def test_each_thread_gets_k_distinct_reviewers():
    pairs = assign_reviewers(list(range(50)), REVIEWERS, 3, seed=9)
    per_thread: dict[int, list[str]] = {}
    for tid, reviewer in pairs:
        per_thread.setdefault(tid, []).append(reviewer)
    assert len(per_thread) == 50
    assert all(len(rs) == 3 and len(set(rs)) == 3 for rs in per_thread.values())


@pytest.mark.parametrize("n_threads, k", [(50, 3), (7, 2), (1, 1), (33, 5)])
def test_reviewer_loads_are_balanced(n_threads, k):
    loads = Counter(r for _, r in assign_reviewers(list(range(n_threads)), REVIEWERS, k, seed=4))
    counts = [loads.get(r, 0) for r in REVIEWERS]
    assert sum(counts) == n_threads * k
    assert max(counts) - min(counts) <= 1


def test_assignment_is_reproducible_and_seed_dependent():
    a = assign_reviewers(list(range(40)), REVIEWERS, 2, seed=1)
    assert a == assign_reviewers(list(range(40)), REVIEWERS, 2, seed=1)
    assert a != assign_reviewers(list(range(40)), REVIEWERS, 2, seed=2)


def test_more_reviewers_per_thread_than_reviewers_is_an_error():
    with pytest.raises(ValueError, match="per_thread=4 needs at least that many reviewers, got 3"):
        assign_reviewers([1, 2], REVIEWERS[:3], 4, seed=0)
    with pytest.raises(ValueError, match="at least 1"):
        assign_reviewers([1, 2], REVIEWERS, 0, seed=0)
