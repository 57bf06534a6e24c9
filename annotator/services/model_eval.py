"""A model run against a round's final labels and its reviewers; run against run; error analysis tags;
the post-reveal (automation bias) measure.

Every figure here is out of sample: the round's final labels come from the consensus read model
(annotator.services.consensus), the report refuses while sampled threads are pending (unless asked to
use the decided ones, and then says so), a local run is scored on its training threads only through
their out-of-fold predictions, and threads whose text the prompt showed as a codebook example are left
out. Rounds sampled by predicted category are scored with their design weights.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from annotator.data.models import Account, ErrorTag, Label, ModelRun, Prediction, Round, Thread, utcnow
from annotator.errors import InvalidInput
from annotator.services import audit
from annotator.services.agreement import check_reviewers
from annotator.services.classify import in_sample_guard, prompt_example_threads, resolve_run, training_threads
from annotator.services.codebook import category_names, codebook_renames
from annotator.services.consensus import Consensus, read_consensus
from annotator.services.prevalence import design_weights, run_predictions
from annotator.services.rounds import require_round
from annotator.stats.comparison import compare_runs, compare_to_consensus, reveal_effect

ERROR_TAGS = ("model_error", "ambiguous_definition", "consensus_error")


def predictions_frame(session: Session, run: ModelRun) -> pd.DataFrame:
    rows = session.execute(
        select(Thread.external_id, Prediction.category, Prediction.status, Prediction.rationale, Prediction.confidence,
               Prediction.prompt_tokens, Prediction.completion_tokens, Prediction.cached, Prediction.error)
        .join(Thread, Thread.id == Prediction.thread_id).where(Prediction.run_id == run.id)
        .order_by(Thread.external_id)).all()
    return pd.DataFrame(rows, columns=["thread_id", "category", "status", "rationale", "confidence", "prompt_tokens",
                                       "completion_tokens", "cached", "error"])


def _default_round(session: Session, run: ModelRun, round_name: str | None) -> Round:
    if round_name:
        return require_round(session, round_name)
    if run.scope.startswith("round:"):
        return require_round(session, run.scope.removeprefix("round:"))
    raise InvalidInput(f"run {run.id} covers all threads: choose the round to compare with",
                       cli=f"run {run.id} covers all threads: name the round to compare with (--round NAME)")


def compare_run(session: Session, run_ref: str | int, *, round_name: str | None = None, n_boot: int = 1000,
                seed: int = 0, allow_pending: bool = False, exclude_reviewers: Iterable[str] = ()) -> dict:
    """The run's predictions on a round's threads against the final labels and as another reviewer.

    Refuses (one line) while any sampled thread of the round is pending, unless ``allow_pending`` (then
    ``pending`` counts them and the report's first paragraph warns); when no thread is decided, when
    the run has no usable prediction on the round, when a reviewer shares fewer than 2 threads with every
    other one (leave them out with ``exclude_reviewers``), and when a local run would be scored in sample.
    """
    run = resolve_run(session, run_ref)
    rnd = _default_round(session, run, round_name)
    cons = read_consensus(session, [rnd.name])
    cons.require_complete(allow_pending=allow_pending, what="the model report")
    excluded = check_reviewers(cons, exclude_reviewers, single_label_design_ok=True)
    renames = cons.renames
    sampled = [r.thread_id for r in cons.rows]
    raw = run_predictions(session, run.id, sampled)
    if not raw:
        waiting = " (its batch is still pending)" if run.status == "batch_pending" else ""
        raise InvalidInput(f"run {run.id} has no prediction for the threads of round '{rnd.name}'{waiting}: classify "
                           f"the round first ('annotator classify --round NAME')")
    decided = {r.thread_id: r.category for r in cons.decided()}
    in_sample_guard(session, run, [rnd.name], set(decided) & set(raw))
    notes = []
    leaked = prompt_example_threads(session, run, sampled)
    if leaked:
        cats_shown = sorted({c for hits in leaked.values() for c in hits})
        notes.append(f"The prompt's codebook examples contain the text of {len(leaked)} thread(s) of this round "
                     f"(examples of {', '.join(cats_shown)}): the model was shown those threads with a category, so "
                     "they are left out of every figure below.")
    predictions = {t: (renames.get(c, c) if st == "ok" and c is not None else None)
                   for t, (c, st) in raw.items() if t not in leaked}
    consensus = {t: c for t, c in decided.items() if t not in leaked}
    ratings = cons.ratings(exclude_reviewers=excluded)
    ratings = ratings[~ratings["thread_id"].isin(set(leaked))]
    frame = pd.DataFrame({"item": ratings["thread_id"], "reviewer": ratings["reviewer"], "category": ratings["category"]})
    design = design_weights(session, rnd, sampled)
    cats = list(dict.fromkeys(renames.get(c, c) for c in category_names(session, rnd.codebook_version_id)))
    extra = sorted({c for c in list(consensus.values()) + frame["category"].tolist() if c not in cats})
    report = compare_to_consensus(predictions, consensus, categories=cats + extra, reviewer_ratings=frame,
                                  weights=design[0] if design else None, strata=design[1] if design else None,
                                  n_boot=n_boot, seed=seed)
    if not report["n"]:
        raise InvalidInput(f"none of run {run.id}'s predictions on the decided threads of round '{rnd.name}' can be "
                           f"scored ({report['n_failed']} failed, {report['n_missing']} missing): ask again for them "
                           "('annotator classify --round NAME --retry-failed')")
    training = training_threads(session, run)
    if run.backend == "local" and training:
        on_round = sum(1 for t in consensus if t in training)
        params = run.params or {}
        notes.append(f"This local run was trained on {params.get('n_train', len(training))} final labels "
                     f"({', '.join(params.get('train_rounds') or [])}); {on_round} of the scored threads were among "
                     f"them and are scored by their out-of-fold prediction ({params.get('folds_note', 'cross-fitting')}: "
                     "each by a model that never saw its label).")
    report.update({"run_id": run.id, "model": run.model, "backend": run.backend, "round": rnd.name,
                   "codebook_version_id": run.codebook_version_id, "n_consensus": len(consensus),
                   "n_unclassified": len(set(consensus) - set(predictions)), "pending": cons.n_pending,
                   "completeness": [c.as_dict() for c in cons.completeness()],
                   "completeness_text": cons.completeness_text(), "excluded_reviewers": excluded,
                   "n_prompt_example_threads": len(leaked), "notes": notes})
    reveal = reveal_frame(session, rnd, run, cons)
    report["reveal"] = None
    if len(reveal):
        keys = list(zip(reveal["item"], reveal["reviewer"]))
        report["reveal"] = reveal_effect(dict(zip(keys, reveal["blind"])), dict(zip(keys, reveal["post"])),
                                         dict(zip(reveal["item"], reveal["model"])),
                                         dict(zip(reveal["item"], reveal["consensus"])))
    return report


def reveal_frame(session: Session, rnd: Round, run: ModelRun, cons: Consensus | None = None) -> pd.DataFrame:
    """Blind label, post-reveal label, model label shown, final label (today's names): one row per revealed
    label of a decided thread; ``item`` is the thread id."""
    cons = cons or read_consensus(session, [rnd.name])
    rows = session.execute(
        select(Label.thread_id, Account.username, Label.category, Label.post_reveal_category,
               Label.revealed_model_category)
        .join(Account, Account.id == Label.reviewer_id)
        .where(Label.round_id == rnd.id, Label.post_reveal_category.is_not(None))).all()
    rename = lambda c: None if c is None else cons.renames.get(c, c)  # noqa: E731
    df = pd.DataFrame([(t, r, rename(b), rename(p), rename(m)) for t, r, b, p, m in rows],
                      columns=["item", "reviewer", "blind", "post", "model"])
    final = {r.thread_id: r.category for r in cons.decided()}
    df["consensus"] = df["item"].map(final)
    return df.dropna(subset=["consensus"])


def compare_two_runs(session: Session, a: str | int, b: str | int) -> dict:
    run_a, run_b = resolve_run(session, a), resolve_run(session, b)
    pa, pb = predictions_frame(session, run_a), predictions_frame(session, run_b)
    renames = codebook_renames(session)
    to_map = lambda df: {t: (renames.get(c, c) if s == "ok" else None)  # noqa: E731
                         for t, c, s in zip(df["thread_id"], df["category"], df["status"])}
    cats = list(dict.fromkeys([renames.get(c, c) for c in category_names(session, run_a.codebook_version_id)] +
                              [renames.get(c, c) for c in category_names(session, run_b.codebook_version_id)]))
    result = compare_runs(to_map(pa), to_map(pb), categories=cats)
    result.update({"run_a": run_a.id, "run_b": run_b.id, "model_a": run_a.model, "model_b": run_b.model})
    return result


def disagreements(session: Session, run_ref: str | int, *, round_name: str | None = None) -> pd.DataFrame:
    """Decided threads of the round where the run and the final label differ (today's category names),
    with the model's rationale and any tag."""
    run = resolve_run(session, run_ref)
    rnd = _default_round(session, run, round_name)
    cons = read_consensus(session, [rnd.name])
    final = {r.thread_id: r for r in cons.decided()}
    rows = session.execute(
        select(Prediction.thread_id, Prediction.category, Prediction.status, Prediction.rationale, Prediction.confidence)
        .where(Prediction.run_id == run.id, Prediction.thread_id.in_(list(final) or [-1]))).all()
    tags = {t.thread_id: t for t in session.execute(select(ErrorTag).where(ErrorTag.run_id == run.id)).scalars()}
    out = []
    for tid, cat, status, rationale, conf in rows:
        model = cons.renames.get(cat, cat) if status == "ok" and cat is not None else None
        if model == final[tid].category:
            continue
        tag = tags.get(tid)
        out.append({"thread_pk": tid, "thread_id": final[tid].external_id, "consensus": final[tid].category,
                    "model": model or "(failed)", "rationale": rationale, "confidence": conf,
                    "tag": tag.tag if tag else None, "comment": tag.comment if tag else ""})
    df = pd.DataFrame(out, columns=["thread_pk", "thread_id", "consensus", "model", "rationale", "confidence", "tag",
                                    "comment"])
    return df.sort_values("thread_id", kind="stable").reset_index(drop=True)


def tag_error(session: Session, *, run_id: int, thread_id: int, tag: str, comment: str, category: str | None,
              actor: str) -> ErrorTag:
    if tag not in ERROR_TAGS:
        raise InvalidInput(f"tag must be one of {', '.join(ERROR_TAGS)}")
    found = session.execute(select(ErrorTag).where(ErrorTag.run_id == run_id, ErrorTag.thread_id == thread_id)) \
        .scalars().first()
    before = found.tag if found else None
    found = found or ErrorTag(run_id=run_id, thread_id=thread_id, tag=tag)
    found.tag, found.comment, found.category, found.tagged_by, found.created_at = tag, comment.strip(), category, actor, utcnow()
    session.add(found)
    audit.record(session, actor=actor, action="tag_model_error", entity="error_tag", entity_id=f"{run_id}/{thread_id}",
                 detail={"from": before, "to": tag})
    session.commit()
    return found


def error_tags(session: Session, *, category: str | None = None, tag: str | None = None) -> list[dict]:
    """Tagged model errors (e.g. 'ambiguous_definition'), optionally for one consensus category."""
    stmt = (select(ErrorTag.run_id, Thread.external_id, ErrorTag.tag, ErrorTag.category, ErrorTag.comment,
                   ErrorTag.tagged_by, ErrorTag.created_at).join(Thread, Thread.id == ErrorTag.thread_id)
            .order_by(ErrorTag.created_at.desc()))
    if category:
        stmt = stmt.where(ErrorTag.category == category)
    if tag:
        stmt = stmt.where(ErrorTag.tag == tag)
    keys = ("run_id", "thread_id", "tag", "category", "comment", "tagged_by", "at")
    return [dict(zip(keys, r)) for r in session.execute(stmt).all()]
