"""The next human-labelled sample: how the model's labels and the consensus so far compare, the
within-stratum spreads that Neyman allocation needs, and how many labels a target interval width
on one category's share requires (:mod:`annotator.stats.planning`). Read-only: no commit.

Strata are the run's raw predicted categories (as stored), the way
:func:`annotator.services.prevalence.create_stratified_round` draws; human labels go through the
codebook's renames, as everywhere in reports.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlmodel import Session

from annotator.data.models import Prediction
from annotator.errors import InvalidInput
from annotator.services.classify import resolve_run
from annotator.services.codebook import codebook_renames
from annotator.services.consensus import read_consensus
from annotator.services.dashboard import codebook_frame
from annotator.stats.planning import confusion_estimate, neyman_allocation, plan_sample_size, stratum_spread

_CHUNK = 5000


def _stratum_sizes(session: Session, run_id: int) -> dict[str, int]:
    rows = session.execute(select(Prediction.category, func.count())
                           .where(Prediction.run_id == run_id, Prediction.status == "ok",
                                  Prediction.category.is_not(None))
                           .group_by(Prediction.category)).all()
    return {str(c): int(n) for c, n in rows}


def labelled_so_far(session: Session, run_id: int) -> Counter:
    """(raw predicted category, final human category) -> threads, over every round's decided threads
    (the consensus read model: renames applied, a thread in several rounds takes the newest round's label)."""
    by_id = read_consensus(session).latest_labels()
    pairs: Counter = Counter()
    thread_ids = sorted(by_id)
    for start in range(0, len(thread_ids), _CHUNK):
        chunk = thread_ids[start:start + _CHUNK]
        for tid, model in session.execute(select(Prediction.thread_id, Prediction.category)
                                          .where(Prediction.run_id == run_id, Prediction.status == "ok",
                                                 Prediction.category.is_not(None),
                                                 Prediction.thread_id.in_(chunk))).all():
            pairs[(str(model), by_id[tid])] += 1
    return pairs


def _confusion(session: Session, run_id: int) -> tuple[list[str], list[str], np.ndarray, np.ndarray, list[int], int]:
    """Strata (raw names), categories, stratum sizes, P(human | model) shrunk toward the prior, labels used."""
    sizes = _stratum_sizes(session, run_id)
    renames = codebook_renames(session)
    pairs = labelled_so_far(session, run_id)
    cats = list(codebook_frame(session, renames)["category"])
    cats += sorted(({h for _, h in pairs} | {renames.get(s, s) for s in sizes}) - set(cats))
    index = {c: i for i, c in enumerate(cats)}
    strata = sorted(sizes)
    counts = np.zeros((len(strata), len(cats)))
    for (model, human), n in pairs.items():
        if model in sizes:
            counts[strata.index(model), index[human]] += n
    stratum_sizes = np.array([sizes[s] for s in strata], dtype=float)
    own = [index[renames.get(s, s)] for s in strata]
    return strata, cats, stratum_sizes, confusion_estimate(stratum_sizes, counts, own), own, int(counts.sum())


def allocation_spreads(session: Session, run_id: int, category: str | None = None) -> dict[str, float]:
    """Within-stratum SD of the human label per raw predicted category, for Neyman allocation."""
    strata, cats, _, p, _, _ = _confusion(session, run_id)
    k = None
    if category is not None:
        if category not in cats:
            raise InvalidInput(f"'{category}' is not a category of the codebook")
        k = cats.index(category)
    return dict(zip(strata, stratum_spread(p, k).tolist()))


def plan_sample(session: Session, *, run_id: int | str, category: str, width: float, level: float = 0.95,
                floor: int = 2) -> dict[str, Any]:
    """Human labels needed for a ``level`` interval of full ``width`` on ``category``'s share of the threads
    the run labelled, for a simple random sample and for a sample stratified by predicted category.

    Returns :func:`annotator.stats.planning.plan_sample_size`'s dict plus ``run_id``, ``category``,
    ``labelled_so_far`` (consensus threads with an ok prediction of the run) and ``allocation`` (the
    Neyman allocation per predicted category for the stratified figure).
    """
    if not 0 < width < 1:
        raise InvalidInput(f"--width must be between 0 and 1 (a share), got {width}")
    if not 0.5 <= level < 1:
        raise InvalidInput(f"--level must be between 0.5 and 1, got {level}")
    run = resolve_run(session, run_id)
    strata, cats, sizes, p, own, labelled = _confusion(session, run.id)
    if not strata:
        raise InvalidInput(f"run {run.id} has no ok predictions to plan with")
    if category not in cats:
        raise InvalidInput(f"'{category}' is not a category of the codebook")
    k = cats.index(category)
    plan = plan_sample_size(sizes, p, category=k, width=width, level=level, floor=floor, own_category=own)
    alloc = neyman_allocation(sizes.astype(np.int64), stratum_spread(p, k), plan["stratified_neyman"], floor=floor)
    plan.update({"run_id": run.id, "category": category, "labelled_so_far": labelled,
                 "allocation": {s: int(a) for s, a in zip(strata, alloc)}})
    return plan


def plan_text(plan: dict[str, Any]) -> str:
    """The plan in a few plain lines (CLI text format)."""
    lines = [
        f"To estimate the share of '{plan['category']}' (now about {100 * plan['share']:.1f}% of {plan['N']:,} "
        f"threads labelled by run {plan['run_id']}) to within a {100 * plan['level']:g}% interval "
        f"{100 * plan['width']:g} points wide:",
        f"  simple random sample:                     {plan['srs']:,} human-labelled threads",
        f"  stratified by predicted category (Neyman): {plan['stratified_neyman']:,}",
        f"  stratified, proportional allocation:       {plan['stratified_proportional']:,}",
        f"Based on {plan['labelled_so_far']:,} consensus threads labelled so far. {plan['assumptions']}",
    ]
    return "\n".join(lines) + "\n"
