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

from annotator.data.models import Assignment, ModelRun, Prediction, Round
from annotator.errors import InvalidInput
from annotator.sampling import assign_reviewers
from annotator.services.accounts import ensure_reviewers
from annotator.services.adjudication import consensus_map
from annotator.services.agreement import codebook_renames
from annotator.services.classify import resolve_run
from annotator.services.codebook import require_version
from annotator.services.dashboard import codebook_frame
from annotator.services.rounds import (SampleResult, check_new_round, list_rounds, require_round, store_round,
                                       thread_ids_by_external)
from annotator.stats.prevalence import estimate_prevalence, stratified_sample_plan

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
        msg = f"round '{rnd.name}' was stratified by the predictions of run {spec.get('run_id')}; "
        raise InvalidInput(msg + f"estimate prevalence with run {spec.get('run_id')}",
                           cli=msg + f"estimate prevalence with --run {spec.get('run_id')}")
    return {str(k): float(v) for k, v in (spec.get("weights") or {}).items()}


def prevalence_for(session: Session, *, run_id: int | str, round_names: list[str] | None = None,
                   method: str = "ppi", alpha: float = 0.05, cube: pd.DataFrame | None = None) -> dict[str, Any]:
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
        msg = ("cannot pool rounds sampled at random with rounds stratified by prediction "
               f"(stratified: {', '.join(sorted(weighted))}); choose rounds")
        raise InvalidInput(msg + " of one kind", cli=msg + " with --round")
    human_by_ext: dict[str, tuple[str, str]] = {}
    for rnd in rounds:
        for ext, cat in consensus_map(session, rnd.name).items():
            human_by_ext[ext] = (cat, rnd.name)
    ids = thread_ids_by_external(session, list(human_by_ext))
    preds = _predictions_of(session, run.id, sorted(ids.values()))
    if cube is not None:
        labelled = cube[cube["category"].notna()]
        raw_counts = {str(c): int(n) for c, n in labelled.groupby("category")["n"].sum().items()}
    else:
        raw_counts = model_counts(session, run.id)
    rows = []
    for ext, (human, rnd_name) in human_by_ext.items():
        model = preds.get(ids.get(ext, -1))
        if model is None:
            continue
        row = {"model": renames.get(model, model), "human": renames.get(human, human), "stratum": model,
               "round": rnd_name}
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
    cats += sorted((set(counts) | set(sample["model"]) | set(sample["human"])) - set(cats))
    try:
        result = estimate_prevalence(dict(counts), sample.drop(columns=["stratum", "round"]), categories=cats,
                                     alpha=alpha, method=method)
    except ValueError as exc:
        raise InvalidInput(f"prevalence: {exc}") from None
    trained_on = set((run.params or {}).get("train_rounds") or []) & {name for _, name in human_by_ext.values()}
    if trained_on:
        notes.append(f"Run {run.id} was trained on the consensus of {', '.join(sorted(trained_on))}: its errors on "
                     "those threads are smaller than elsewhere, so the correction is too small there.")
    missing = len(human_by_ext) - len(sample)
    if missing:
        notes.append(f"{missing} consensus thread(s) have no ok prediction in run {run.id} and are left out.")
    result["notes"] = notes + result["notes"]
    result.update({"run_id": run.id, "model": f"{run.backend}:{run.model}", "rounds": [r.name for r in rounds],
                   "n_consensus": len(human_by_ext), "n_without_prediction": missing})
    return result


def create_stratified_round(
    session: Session, *, name: str, run_id: int | str, size: int, reviewers: list[str], per_thread: int = 3,
    seed: int, min_per_stratum: int = 20, exclude_sampled: bool = False, actor: str = "cli",
) -> SampleResult:
    """Create a round whose sample is stratified by the run's predicted category (rare categories
    over-sampled, see :func:`stratified_sample_plan`), reviewers assigned balanced and in random order.

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
    plan = stratified_sample_plan(predicted, size=size, seed=seed, min_per_stratum=min_per_stratum)
    picked = [int(i) for i in plan["item"]]
    np.random.default_rng(seed).shuffle(picked)  # reviewers do not see the threads stratum by stratum
    pairs = assign_reviewers(picked, reviewers, per_thread, seed=seed)
    strata = {str(s): {"N": int(predicted.eq(s).sum()), "n": int(len(g))} for s, g in plan.groupby("stratum")}
    spec = {"design": STRATIFIED_DESIGN, "run_id": run.id, "size": size, "drawn": len(picked),
            "candidates": int(len(predicted)), "reviewers": reviewers, "per_thread": per_thread,
            "min_per_stratum": min_per_stratum, "exclude_sampled": exclude_sampled,
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
                     "ci_low": ci[0], "ci_high": ci[1], "n_human_in_sample": r["n_sample_human"]})
    return pd.DataFrame(rows, columns=["category", "model_share", "corrected_share", "ci_low", "ci_high",
                                       "n_human_in_sample"])
