"""Honest prevalence: the model's category shares over the whole corpus, corrected with the human
consensus of sampled rounds (:func:`annotator.stats.prevalence.estimate_prevalence`), and the next
round's sample stratified by the model's predicted category.

A round created by :func:`create_stratified_round` stores its design in ``sampling_spec``:
``{"design": "stratified_by_prediction", "run_id", "weights": {stratum: N_h / n_h}, "strata": {...}}``.
Its sampled threads then carry the weight of their stratum (the run's raw predicted category) in
the estimate. Rounds drawn as simple random samples carry no weights. Category names go through the
codebook's renames, as everywhere in reports.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlmodel import Session

from annotator.data.models import Assignment, ModelRun, Prediction, Round, Thread
from annotator.errors import InvalidInput
from annotator.sampling import assign_reviewers, stratified_sample_plan
from annotator.services.accounts import ensure_reviewers
from annotator.services.adjudication import consensus_map
from annotator.services.agreement import codebook_renames
from annotator.services.classify import resolve_run
from annotator.services.codebook import require_version
from annotator.services.dashboard import codebook_frame
from annotator.services.rounds import (SampleResult, check_new_round, list_rounds, require_round, store_round,
                                       thread_ids_by_external)
from annotator.services.planning import allocation_spreads
from annotator.stats.prevalence import estimate_prevalence

STRATIFIED_DESIGN = "stratified_by_prediction"
_CHUNK = 5000


def model_counts(session: Session, run_id: int) -> dict[str, int]:
    """Raw category -> number of the run's ``ok`` predictions (one GROUP BY)."""
    rows = session.execute(select(Prediction.category, func.count())
                           .where(Prediction.run_id == run_id, Prediction.status == "ok",
                                  Prediction.category.is_not(None))
                           .group_by(Prediction.category)).all()
    return {c: int(n) for c, n in rows}


def _predictions_of(session: Session, run_id: int, thread_ids: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for start in range(0, len(thread_ids), _CHUNK):
        chunk = thread_ids[start:start + _CHUNK]
        out.update(dict(session.execute(select(Prediction.thread_id, Prediction.category)
                                        .where(Prediction.run_id == run_id, Prediction.status == "ok",
                                               Prediction.category.is_not(None),
                                               Prediction.thread_id.in_(chunk))).all()))
    return out


def _stratified_weights(rnd: Round, run_id: int) -> dict[str, float] | None:
    spec = rnd.sampling_spec or {}
    if spec.get("design") != STRATIFIED_DESIGN:
        return None
    if spec.get("run_id") != run_id:
        raise InvalidInput(f"round '{rnd.name}' was stratified by the predictions of run {spec.get('run_id')}; "
                           f"estimate prevalence with --run {spec.get('run_id')}")
    return {str(k): float(v) for k, v in (spec.get("weights") or {}).items()}


def _frame_counts(session: Session, run_id: int, min_user_threads: int | None,
                  cube: pd.DataFrame | None) -> tuple[dict[str, int], int]:
    """Raw category -> ok predictions of the run, and the number of threads, in the sampling frame
    (all threads, or the threads of users with at least ``min_user_threads`` threads)."""
    from annotator.services.dashboard import FREQUENT_MIN_THREADS

    if cube is not None and min_user_threads in (None, FREQUENT_MIN_THREADS):
        part = cube if min_user_threads is None else cube[cube["frequent"] == 1]
        labelled = part[part["category"].notna()]
        return ({str(c): int(n) for c, n in labelled.groupby("category")["n"].sum().items()}, int(part["n"].sum()))
    frame = []
    if min_user_threads is not None:
        frame.append(Thread.user_id.in_(select(Thread.user_id).where(Thread.user_id.is_not(None))
                                        .group_by(Thread.user_id).having(func.count() >= min_user_threads)))
    rows = session.execute(select(Prediction.category, func.count()).join(Thread, Thread.id == Prediction.thread_id)
                           .where(Prediction.run_id == run_id, Prediction.status == "ok",
                                  Prediction.category.is_not(None), *frame)
                           .group_by(Prediction.category)).all()
    total = session.execute(select(func.count()).select_from(Thread).where(*frame)).scalar_one()
    return {str(c): int(n) for c, n in rows}, int(total)


def _srs_frame(rounds: list[Round]) -> int | None:
    """The frequent-user threshold of simple random rounds drawn from frequent users only, else None."""
    frames = {(r.sampling_spec or {}).get("min_user_threads") if (r.sampling_spec or {}).get("frequent_users_only")
              else None for r in rounds}
    if len(frames) > 1:
        raise InvalidInput("cannot pool rounds drawn from different frames (frequent users only and all threads); "
                           "choose rounds with --round")
    return next(iter(frames), None)


def prevalence_for(session: Session, *, run_id: int | str, round_names: list[str] | None = None,
                   method: str = "ppi", alpha: float = 0.05, cube: pd.DataFrame | None = None,
                   simultaneous: bool = False) -> dict[str, Any]:
    """Corrected category shares of the corpus for a run, with the consensus of ``round_names``.

    The human sample is the final consensus of the rounds' threads (a thread in several rounds
    counts once, newest round wins) that the run labelled ``ok``. Rounds default to every round.
    Simple random and stratified rounds cannot be pooled; several stratified rounds of the same
    run are pooled with equal weights within a stratum. Returns the estimate of
    :func:`estimate_prevalence` plus ``run_id, model, rounds, n_consensus, n_without_prediction``.
    """
    run = resolve_run(session, run_id)
    renames = codebook_renames(session)
    rounds = [require_round(session, n) for n in round_names] if round_names else list_rounds(session)
    rounds.sort(key=lambda r: (r.created_at, r.id))
    weights_by_round = {r.name: _stratified_weights(r, run.id) for r in rounds}
    weighted = {n for n, w in weights_by_round.items() if w is not None}
    if weighted and len(weighted) != len(rounds):
        raise InvalidInput("cannot pool rounds sampled at random with rounds stratified by prediction "
                           f"(stratified: {', '.join(sorted(weighted))}); choose rounds with --round")
    human_by_ext: dict[str, tuple[str, str]] = {}
    for rnd in rounds:
        for ext, cat in consensus_map(session, rnd.name).items():
            human_by_ext[ext] = (cat, rnd.name)
    ids = thread_ids_by_external(session, list(human_by_ext))
    preds = _predictions_of(session, run.id, sorted(ids.values()))
    # the frame: stratified rounds were drawn from the run's ok predictions; random rounds from all
    # threads (or frequent users' threads), where threads without an ok prediction stay in N
    min_user_threads = None if weighted else _srs_frame(rounds)
    raw_counts, n_frame = _frame_counts(session, run.id, min_user_threads, cube)
    n_failed = 0 if weighted else max(n_frame - sum(raw_counts.values()), 0)
    frame = (f"threads with an ok prediction of run {run.id}" if weighted else
             f"threads of users with at least {min_user_threads} threads" if min_user_threads else "all threads")
    rows = []
    for ext, (human, rnd_name) in human_by_ext.items():
        model = preds.get(ids.get(ext, -1))
        if model is None and (weighted or ext not in ids):
            continue
        row = {"model": None if model is None else renames.get(model, model), "human": renames.get(human, human),
               "stratum": model, "round": rnd_name}
        if weighted:
            row["weight"] = weights_by_round[rnd_name].get(model)
        rows.append(row)
    sample = pd.DataFrame(rows, columns=["model", "human", "stratum", "round"] + (["weight"] if weighted else []))
    notes: list[str] = []
    if weighted:
        if len(weighted) > 1 or sample["weight"].isna().any():
            n_h = sample.groupby("stratum")["model"].transform("size")
            sample["weight"] = sample["stratum"].map(raw_counts).fillna(0) / n_h
            notes.append("Several stratified rounds (or strata unknown to a round's design) were pooled: "
                         "threads are weighted equally within each predicted-category stratum.")
    counts: Counter[str] = Counter()
    for cat, n in raw_counts.items():
        counts[renames.get(cat, cat)] += n
    cats = list(codebook_frame(session, renames)["category"])
    cats += sorted((set(counts) | set(sample["model"].dropna()) | set(sample["human"])) - set(cats))
    try:
        result = estimate_prevalence(dict(counts), sample.drop(columns=["stratum", "round"]), categories=cats,
                                     alpha=alpha, method=method, n_failed=n_failed, frame=frame,
                                     simultaneous=simultaneous)
    except ValueError as exc:
        raise InvalidInput(f"prevalence: {exc}") from None
    trained_on = set((run.params or {}).get("train_rounds") or []) & {name for _, name in human_by_ext.values()}
    if trained_on:
        notes.append(f"Run {run.id} was trained on the consensus of {', '.join(sorted(trained_on))}: its errors on "
                     "those threads are smaller than elsewhere, so the correction is too small there.")
    missing = len(human_by_ext) - len(sample)
    if missing:
        notes.append(f"{missing} consensus thread(s) have no ok prediction in run {run.id} and are outside this "
                     "frame, so they are left out.")
    if weighted and n_frame > sum(raw_counts.values()):
        outside = n_frame - sum(raw_counts.values())
        notes.append(f"{outside} thread(s) have no ok prediction in run {run.id}: they are outside the frame the "
                     "stratified rounds were drawn from, so these shares are of the other threads.")
    result["notes"] = notes + result["notes"]
    result.update({"run_id": run.id, "model": f"{run.backend}:{run.model}", "rounds": [r.name for r in rounds],
                   "n_consensus": len(human_by_ext), "n_without_prediction": missing})
    return result


def create_stratified_round(
    session: Session, *, name: str, run_id: int | str, size: int, reviewers: list[str], per_thread: int = 3,
    seed: int, min_per_stratum: int = 2, exclude_sampled: bool = False, actor: str = "cli",
    category: str | None = None,
) -> SampleResult:
    """Create a round whose sample is stratified by the run's predicted category with Neyman allocation
    (spreads from the consensus so far, for all categories or the given ``category``; at least
    ``min_per_stratum`` per predicted category; see :func:`annotator.sampling.stratified_sample_plan`),
    reviewers assigned balanced and in random order.

    The design weights ``{stratum: N_h / n_h}`` go into ``sampling_spec["weights"]`` for
    :func:`prevalence_for`. One transaction: round, assignments and audit row.
    """
    name, reviewers = check_new_round(session, name=name, reviewers=reviewers, size=size, per_thread=per_thread)
    if min_per_stratum < 0:
        raise InvalidInput("the minimum per stratum must be non-negative")
    run: ModelRun = resolve_run(session, run_id)
    stmt = select(Prediction.thread_id, Prediction.category).where(
        Prediction.run_id == run.id, Prediction.status == "ok", Prediction.category.is_not(None))
    if exclude_sampled:
        stmt = stmt.where(Prediction.thread_id.not_in(select(Assignment.thread_id).distinct()))
    predicted = pd.Series(dict(session.execute(stmt).all()), dtype=object)
    if predicted.empty:
        raise InvalidInput(f"run {run.id} has no ok predictions to stratify by")
    version = require_version(session)
    accounts = ensure_reviewers(session, reviewers, actor=actor)
    spreads = allocation_spreads(session, run.id, category)
    plan = stratified_sample_plan(predicted, size=size, seed=seed, spreads=spreads, min_per_stratum=min_per_stratum)
    picked = [int(i) for i in plan["item"]]
    np.random.default_rng(seed).shuffle(picked)  # reviewers do not see the threads stratum by stratum
    pairs = assign_reviewers(picked, reviewers, per_thread, seed=seed)
    strata = {str(s): {"N": int(predicted.eq(s).sum()), "n": int(len(g))} for s, g in plan.groupby("stratum")}
    spec = {"design": STRATIFIED_DESIGN, "run_id": run.id, "size": size, "drawn": len(picked),
            "candidates": int(len(predicted)), "reviewers": reviewers, "per_thread": per_thread,
            "min_per_stratum": min_per_stratum, "exclude_sampled": exclude_sampled,
            "allocation": "neyman", "allocation_category": category,
            "spreads": {str(k): round(float(v), 6) for k, v in spreads.items()},
            "weights": {str(s): float(w) for s, w in plan.groupby("stratum")["weight"].first().items()},
            "strata": strata}
    rnd = Round(name=name, codebook_version_id=version.id, seed=seed, per_thread=per_thread, sampling_spec=spec,
                created_by=actor)
    return store_round(session, rnd, pairs, accounts, n_threads=len(picked), actor=actor,
                       detail={k: v for k, v in spec.items() if k != "strata"} | {"seed": seed})


def prevalence_table(result: dict[str, Any]) -> pd.DataFrame:
    """The estimate as a table for display: naive (model) share next to the corrected share and its CI."""
    rows = []
    for cat, r in result["categories"].items():
        ci = r["ci"] or [None, None]
        rows.append({"category": cat, "model_share": r["naive_share"], "corrected_share": r["corrected_share"],
                     "ci_low": ci[0], "ci_high": ci[1], "upper_bound": r.get("upper_bound"),
                     "n_human_in_sample": r["n_sample_human"]})
    return pd.DataFrame(rows, columns=["category", "model_share", "corrected_share", "ci_low", "ci_high",
                                       "upper_bound", "n_human_in_sample"])
