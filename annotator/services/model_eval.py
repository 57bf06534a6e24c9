"""A model run against a round's consensus and its reviewers; run against run; error analysis tags;
the post-reveal (automation bias) measure."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from annotator.data.models import Account, ErrorTag, Label, ModelRun, Prediction, Round, Thread, utcnow
from annotator.errors import InvalidInput
from annotator.services import audit
from annotator.services.adjudication import consensus_map
from annotator.services.agreement import codebook_renames, ratings_frame
from annotator.services.classify import resolve_run
from annotator.services.codebook import category_names
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
                seed: int = 0) -> dict:
    """The run's predictions on a round's threads against the consensus and the reviewers."""
    run = resolve_run(session, run_ref)
    rnd = _default_round(session, run, round_name)
    renames = codebook_renames(session)
    consensus = {t: renames.get(c, c) for t, c in consensus_map(session, rnd.name).items()}
    preds = predictions_frame(session, run)
    in_round = preds[preds["thread_id"].isin(consensus)]
    predictions = {t: (renames.get(c, c) if s == "ok" else None)
                   for t, c, s in zip(in_round["thread_id"], in_round["category"], in_round["status"])}
    ratings = ratings_frame(session, [rnd.name])
    ratings["item"] = ratings["item"].str.split("/", n=1).str[1]
    cats = list(dict.fromkeys(renames.get(c, c) for c in category_names(session, rnd.codebook_version_id)))
    report = compare_to_consensus(predictions, consensus, categories=cats, reviewer_ratings=ratings, n_boot=n_boot,
                                  seed=seed)
    report.update({"run_id": run.id, "model": run.model, "backend": run.backend, "round": rnd.name,
                   "codebook_version_id": run.codebook_version_id, "n_consensus": len(consensus),
                   "n_unclassified": len(set(consensus) - set(predictions))})
    reveal = reveal_frame(session, rnd, run)
    report["reveal"] = None
    if len(reveal):
        keys = list(zip(reveal["item"], reveal["reviewer"]))
        report["reveal"] = reveal_effect(dict(zip(keys, reveal["blind"])), dict(zip(keys, reveal["post"])),
                                         dict(zip(reveal["item"], reveal["model"])),
                                         dict(zip(reveal["item"], reveal["consensus"])))
    return report


def reveal_frame(session: Session, rnd: Round, run: ModelRun) -> pd.DataFrame:
    """Blind label, post-reveal label, model label shown, consensus: one row per revealed label."""
    rows = session.execute(
        select(Thread.external_id, Account.username, Label.category, Label.post_reveal_category,
               Label.revealed_model_category)
        .join(Thread, Thread.id == Label.thread_id).join(Account, Account.id == Label.reviewer_id)
        .where(Label.round_id == rnd.id, Label.post_reveal_category.is_not(None))).all()
    consensus = consensus_map(session, rnd.name)
    df = pd.DataFrame(rows, columns=["item", "reviewer", "blind", "post", "model"])
    df["consensus"] = df["item"].map(consensus)
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
    """Threads where the run and the consensus differ, with the model's rationale and any tag."""
    run = resolve_run(session, run_ref)
    rnd = _default_round(session, run, round_name)
    consensus = consensus_map(session, rnd.name)
    rows = session.execute(
        select(Thread.id, Thread.external_id, Prediction.category, Prediction.status, Prediction.rationale,
               Prediction.confidence)
        .join(Thread, Thread.id == Prediction.thread_id)
        .where(Prediction.run_id == run.id, Thread.external_id.in_(list(consensus) or ["-"]))).all()
    tags = {t.thread_id: t for t in session.execute(select(ErrorTag).where(ErrorTag.run_id == run.id)).scalars()}
    out = []
    for tid, ext, cat, status, rationale, conf in rows:
        if status == "ok" and cat == consensus[ext]:
            continue
        tag = tags.get(tid)
        out.append({"thread_pk": tid, "thread_id": ext, "consensus": consensus[ext],
                    "model": cat if status == "ok" else "(failed)", "rationale": rationale, "confidence": conf,
                    "tag": tag.tag if tag else None, "comment": tag.comment if tag else ""})
    return pd.DataFrame(out, columns=["thread_pk", "thread_id", "consensus", "model", "rationale", "confidence", "tag",
                                      "comment"])


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
