"""Honest prevalence: the model's category shares over the whole corpus, corrected with the human
consensus of sampled rounds (:func:`annotator.stats.prevalence.estimate_prevalence`), and the next
round's sample stratified by the model's predicted category.

The human sample is the gold standard of the rounds (annotator.services.consensus). The estimate is
refused while any sampled thread of those rounds is pending: the decided threads are not a random
sample (decided-first threads are the easy ones, so the model's bias would survive the correction).
With ``allow_pending`` it is computed on the decided threads, says so first, and carries ``pending``.
A local run's predictions on the threads that trained it are out of fold (cross-fitting), so the
correction is a cross-prediction-powered one (Zrnic & Candes, PNAS 2024); a run that would be used
in sample is refused.

A round created by :func:`create_stratified_round` stores its design in ``sampling_spec``:
``{"design": "stratified_by_prediction", "run_id", "weights": {stratum: N_h / n_h}, "strata": {...}}``.
Its sampled threads then carry the weight of their stratum (the run's raw predicted category) in
the estimate. Rounds drawn as simple random samples carry no weights. Category names go through the
codebook's renames, as everywhere in reports.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlmodel import Session

from annotator.data.models import Assignment, ModelRun, Prediction, Round, Thread
from annotator.errors import InvalidInput
from annotator.sampling import assign_reviewers, stratified_sample_plan
from annotator.services.accounts import ensure_reviewers
from annotator.services.classify import in_sample_guard, prompt_example_threads, resolve_run, training_threads
from annotator.services.codebook import require_version
from annotator.services.dashboard import codebook_frame
from annotator.services.consensus import RoundRef, read_consensus
from annotator.services.planning import allocation_spreads
from annotator.services.rounds import SampleResult, check_new_round, store_round
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


def _stratified_weights(rnd: RoundRef, run_id: int) -> dict[str, float] | None:
    spec = rnd.sampling_spec or {}
    if spec.get("design") != STRATIFIED_DESIGN:
        return None
    if spec.get("run_id") != run_id:
        msg = f"round '{rnd.name}' was stratified by the predictions of run {spec.get('run_id')}; "
        raise InvalidInput(msg + f"estimate prevalence with run {spec.get('run_id')}",
                           cli=msg + f"estimate prevalence with --run {spec.get('run_id')}")
    return {str(k): float(v) for k, v in (spec.get("weights") or {}).items()}


def _not_random(text: str) -> str:
    """The method's words, with the decided subset never called a random sample."""
    text = re.sub(r"\ba simple random sample of ([\d,]+) human-labelled threads",
                  r"\1 human-labelled threads, the decided subset of a simple random sample and not a random sample "
                  r"themselves", text)
    return re.sub(r"\ba simple random sample\b(?!\s+and not)",
                  "the decided subset (not itself random) of a simple random sample", text)


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


def _srs_frame(rounds: list[RoundRef]) -> int | None:
    """The frequent-user threshold of simple random rounds drawn from frequent users only, else None."""
    frames = {(r.sampling_spec or {}).get("min_user_threads") if (r.sampling_spec or {}).get("frequent_users_only")
              else None for r in rounds}
    if len(frames) > 1:
        msg = "cannot pool rounds drawn from different frames (frequent users only and all threads); choose rounds"
        raise InvalidInput(msg + " drawn from one frame", cli=msg + " with --round")
    return next(iter(frames), None)


def prevalence_for(session: Session, *, run_id: int | str, round_names: list[str] | None = None,
                   method: str = "ppi", alpha: float = 0.05, cube: pd.DataFrame | None = None,
                   allow_pending: bool = False, simultaneous: bool = False) -> dict[str, Any]:
    """Corrected category shares of the corpus for a run, with the final labels of ``round_names``.

    The human sample is the decided threads of the rounds (a thread in several rounds counts once,
    newest round wins) that the run labelled ``ok``. Rounds default to every round. Refuses while a
    sampled thread is pending (see the module docstring) unless ``allow_pending``, when no thread is
    decided, and when a local run would be used on its own training threads in sample. Simple random
    and stratified rounds cannot be pooled; several stratified rounds of the same run are pooled with
    equal weights within a stratum. Returns the estimate of :func:`estimate_prevalence` plus
    ``run_id, model, rounds, n_consensus, n_without_prediction, pending, completeness``.
    """
    run = resolve_run(session, run_id)
    cons = read_consensus(session, round_names)
    if not cons.rounds:
        raise InvalidInput("no round yet: sample a round ('annotator sample'), label and adjudicate it first")
    renames = cons.renames
    rounds = list(cons.rounds)
    weights_by_round = {r.id: _stratified_weights(r, run.id) for r in rounds}
    weighted = {r.name for r in rounds if weights_by_round[r.id] is not None}
    if weighted and len(weighted) != len(rounds):
        msg = ("cannot pool rounds sampled at random with rounds stratified by prediction "
               f"(stratified: {', '.join(sorted(weighted))}); choose rounds")
        raise InvalidInput(msg + " of one kind", cli=msg + " with --round")
    cons.require_complete(allow_pending=allow_pending, what="the prevalence estimate")
    human = cons.latest()
    preds = _predictions_of(session, run.id, sorted(human))
    in_sample_guard(session, run, [r.name for r in rounds], set(preds))
    # the frame: stratified rounds were drawn from the run's ok predictions; random rounds from all
    # threads (or frequent users' threads), where threads without an ok prediction stay in N
    min_user_threads = None if weighted else _srs_frame(rounds)
    raw_counts, n_frame = _frame_counts(session, run.id, min_user_threads, cube)
    n_failed = 0 if weighted else max(n_frame - sum(raw_counts.values()), 0)
    frame = (f"threads with an ok prediction of run {run.id}" if weighted else
             f"threads of users with at least {min_user_threads} threads" if min_user_threads else "all threads")
    rows = []
    for tid, row in human.items():
        model = preds.get(tid)
        if model is None and weighted:
            continue
        out = {"model": None if model is None else renames.get(model, model), "human": row.category,
               "stratum": model, "round": row.round_id}
        if weighted:
            out["weight"] = weights_by_round[row.round_id].get(model)
        rows.append(out)
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
    training = training_threads(session, run)
    if run.backend == "local" and training:
        used = sum(1 for t in human if t in training and t in preds)
        notes.append(f"Run {run.id} is a local model trained on {len(training)} final labels; the {used} sampled "
                     "threads among them carry out-of-fold predictions (cross-fitting: each from a model that did not "
                     "see its label), so the correction is cross-prediction-powered (Zrnic & Candes, PNAS 2024). The "
                     "other threads carry the model trained on all labels, slightly better than the fold models whose "
                     "errors the sample measures.")
    shown = prompt_example_threads(session, run, sorted(set(human) & set(preds)))
    if shown:
        notes.append(f"The prompt of run {run.id} shows the text of {len(shown)} sampled thread(s) as codebook "
                     "examples: the model saw them with a category, so the correction understates its errors a little.")
    missing = len(human) - len(sample)
    if missing:
        notes.append(f"{missing} consensus thread(s) have no ok prediction in run {run.id} and are outside this "
                     "frame, so they are left out.")
    if weighted and n_frame > sum(raw_counts.values()):
        outside = n_frame - sum(raw_counts.values())
        notes.append(f"{outside} thread(s) have no ok prediction in run {run.id}: they are outside the frame the "
                     "stratified rounds were drawn from, so these shares are of the other threads.")
    if cons.n_pending:
        notes.insert(0, f"Caution: {cons.n_pending} sampled thread(s) still await a decision and are left out. The "
                        f"estimate uses the {len(sample)} decided threads only, which are not a random sample "
                        "(decided-first threads tend to be the easy ones, so the model's bias may survive the "
                        "correction and the interval may not cover the truth).")
        drawn = "stratified by the model's label, weighted" if weighted else "at random"
        result["design"] = (f"decided threads only, {cons.n_pending} pending left out: not a random sample "
                            f"(the rounds themselves were drawn {drawn})")
        result["method_description"] = _not_random(result["method_description"])
    result["notes"] = notes + result["notes"]
    result.update({"run_id": run.id, "model": f"{run.backend}:{run.model}", "rounds": [r.name for r in rounds],
                   "n_consensus": len(human), "n_without_prediction": missing, "pending": cons.n_pending,
                   "completeness": [c.as_dict() for c in cons.completeness()],
                   "completeness_text": cons.completeness_text()})
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


def run_predictions(session: Session, run_id: int, thread_ids: Iterable[int]) -> dict[int, tuple[str | None, str]]:
    """thread_id -> (raw category, status) of the run's predictions on these threads."""
    ids = sorted(set(thread_ids))
    out: dict[int, tuple[str | None, str]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        out.update({t: (c, st) for t, c, st in session.execute(
            select(Prediction.thread_id, Prediction.category, Prediction.status)
            .where(Prediction.run_id == run_id, Prediction.thread_id.in_(chunk))).all()})
    return out


def design_weights(session: Session, rnd: Round | None, thread_ids: Iterable[int]) -> tuple[dict[int, float], dict[int, str]] | None:
    """(thread -> design weight N_h / n_h, thread -> stratum) for a round sampled by predicted category, else None."""
    spec = (rnd.sampling_spec or {}) if rnd is not None else {}
    if spec.get("design") != STRATIFIED_DESIGN:
        return None
    stratum_of = {t: c for t, (c, st) in run_predictions(session, int(spec["run_id"]), thread_ids).items()
                  if st == "ok" and c is not None}
    weights = {str(k): float(v) for k, v in (spec.get("weights") or {}).items()}
    missing = [t for t in thread_ids if stratum_of.get(t) not in weights]
    if missing:
        raise InvalidInput(f"round '{rnd.name}' was sampled by the predictions of run {spec['run_id']}, but "
                           f"{len(missing)} of its threads have no stratum there: its design weights are unknown")
    return {t: weights[stratum_of[t]] for t in thread_ids}, {t: stratum_of[t] for t in thread_ids}


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
