"""Pure rules for turning independent labels into a consensus, and for ordering disagreements.

A thread of a round is *accepted* without a lead when every expected label is in, nobody marked
it unsure, and the labels agree under the round's rule: unanimous (all K the same; the default)
or majority (one category has more than half of the K expected labels). Everything else goes to
the disagreement queue: differing labels, missing labels, or an "unsure" mark.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Vote:
    reviewer: str
    category: str
    unsure: bool = False


@dataclass(frozen=True)
class Assessment:
    accepted: str | None  # the auto-accepted category, if any
    provenance: str | None  # unanimous | majority
    reasons: tuple[str, ...]  # why it needs a lead: disagreement, missing, unsure
    split: float  # 0 = all agree ... towards 1 = votes spread out
    pair: tuple[str, str] | None  # the two most-voted categories when they differ
    counts: tuple[tuple[str, int], ...]


def assess(votes: Sequence[Vote], expected: int, rule: str = "unanimous") -> Assessment:
    """Apply the round's acceptance rule to one thread's independent votes."""
    counts = Counter(v.category for v in votes)
    ordered = tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    n = len(votes)
    expected = max(expected, n, 1)
    reasons = []
    if n < expected:
        reasons.append("missing")
    if len(counts) > 1:
        reasons.append("disagreement")
    if any(v.unsure for v in votes):
        reasons.append("unsure")
    top_cat, top_n = ordered[0] if ordered else (None, 0)
    split = 1.0 - (top_n / n) if n else 1.0
    pair = tuple(sorted((ordered[0][0], ordered[1][0]))) if len(ordered) > 1 else None
    accepted = provenance = None
    if "unsure" not in reasons and n:
        if len(counts) == 1 and n == expected:
            accepted, provenance = top_cat, "unanimous"
        elif rule == "majority" and top_n * 2 > expected and (len(ordered) < 2 or ordered[1][1] < top_n):
            accepted, provenance = top_cat, "majority"
    if accepted:
        reasons = []
    return Assessment(accepted, provenance, tuple(reasons), split, pair, ordered)


def pair_label(pair: tuple[str, str] | None) -> str:
    return f"{pair[0]} vs {pair[1]}" if pair else "(no competing category)"
