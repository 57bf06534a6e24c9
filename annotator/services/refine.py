"""Codebook refinement: editor operations, candidate examples with votes, the review of "Other" threads,
the evidence next to each category, and the comparison of codebook versions.

It follows the study's method (seed paper, Methods, "Categorization Scheme Development"): five
candidate example messages per category from a secondary LLM, classified to check alignment, two team
members keep the three most representative; threads labeled "Other" get an LLM-suggested category name
that informs the next version of the list.

Versions. Every editor operation saves a new codebook version (annotator.services.codebook.save_version)
with a change note, and writes a `codebook_edit` audit row in the same transaction. A label or prediction
keeps the version it was made under and is never rewritten. A version's `renames` hold only that step's
renames; reports follow the chain (annotator.services.codebook.codebook_renames):
- rename A -> B: old labels A are reported as B.
- merge A + B -> C (C may be A or another existing category): renames A -> C and B -> C, and the merged
  categories leave the codebook; old labels are reported as C.
- split A -> A1, A2: A stays in the new version, retired (active False), with the parts right after it.
  An old label A cannot be assigned to a part, so reports keep A for old labels (an old round's agreement
  still lists A); new rounds label with the parts only.
- retire A: A stays, inactive; old labels keep A; new rounds cannot choose it.

Candidates. The "openai" backend asks the LLM for n example messages (annotator.llm.suggest) and
classifies each with the current codebook prompt; `classified_as` records the answer. The "local"
backend takes the consensus-labeled threads of the category nearest its TF-IDF centroid (their text,
cut at 400 characters; these are real threads, so a lead reads them before adopting) and classifies
them with the local model trained on every *other* consensus thread, so a candidate never scores
itself. Voters may be reviewers or leads (one vote per account and candidate); the top three by votes,
ties by fit (classified as its own category) then id, become the next version's examples.

Other review. Names come from the LLM, or without one from the thread's top TF-IDF terms
(annotator.llm.suggest.local_names). A name is stored once per thread and source ("round:NAME" for a
round's consensus, "run:ID" for a model run), so asking again skips named threads.
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from annotator.data.models import (Account, CandidateExample, CandidateVote, CodebookVersion, Label, ModelRun,
                                   OtherSuggestion, Prediction, Thread)
from annotator.errors import AnnotatorError, Conflict, InvalidInput, NotFound
from annotator.llm.client import LLMConfig, run_classification
from annotator.llm.prompt import OTHER, CategorySpec, build_messages, category_names as prompt_names
from annotator.llm.suggest import Suggestion, local_names, propose_examples, suggest_names
from annotator.services import audit
from annotator.services.adjudication import definition_problems
from annotator.services.agreement import agreement_for_rounds
from annotator.services.classify import specs_for
from annotator.services.codebook import (CategoryDraft, chain_renames, CodebookDraft, codebook_renames, draft_of,
                                         list_versions, require_version, save_version)
from annotator.services.consensus import read_consensus
from annotator.services.model_eval import compare_run, error_tags
from annotator.services.rounds import list_rounds, require_round

log = logging.getLogger(__name__)

SNIPPET_CHARS = 400
LOCAL_NAMER = "local-tfidf"
MAX_NAME = 200

Result = tuple[CodebookVersion, bool]


# --- editor operations --------------------------------------------------------------------------------

def _start(session: Session) -> tuple[CodebookVersion, CodebookDraft]:
    """The newest version and an editable copy whose renames are empty (each version holds its own step)."""
    current = require_version(session)
    draft = draft_of(session, current)
    draft.renames = {}
    return current, draft


def _index(draft: CodebookDraft, name: str, version: int) -> int:
    for i, c in enumerate(draft.categories):
        if c.name == name:
            return i
    raise NotFound(f"no category '{name}' in codebook version {version}")


def _new_name(draft: CodebookDraft, name: str, *, freed: Sequence[str] = ()) -> str:
    """A valid new category name: not empty, at most 200 characters, unlike every other name (case ignored)."""
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("a category needs a name")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"category names have at most {MAX_NAME} characters")
    taken = {c.name.casefold(): c.name for c in draft.categories if c.name not in freed}
    if name.casefold() in taken:
        raise Conflict(f"the codebook already has a category '{taken[name.casefold()]}' (retired ones count too)")
    return name


def _examples(examples: Sequence[str] | None) -> list[str]:
    return [e.strip() for e in (examples or []) if e and e.strip()]


def _key(draft: CodebookDraft) -> list:
    return [(c.as_dict(), c.active) for c in draft.categories]


def _save(session: Session, current: CodebookVersion, draft: CodebookDraft, *, op: str, summary: str,
          detail: dict, note: str, actor: str) -> Result:
    """Save `draft` as the next version with the change note "<summary>: <note>" and an audit row."""
    if not draft.renames and _key(draft) == _key(draft_of(session, current)):
        return current, False
    note = (note or "").strip()
    audit.record(session, actor=actor, action="codebook_edit", entity="codebook", entity_id=current.version + 1,
                 detail={"op": op, "from_version": current.version, **detail})
    try:
        return save_version(session, draft, actor=actor, note=f"{summary}: {note}" if note else summary)
    except IntegrityError:
        session.rollback()
        raise Conflict("another codebook version was saved meanwhile: reload the codebook and try again") from None


def edit_category(session: Session, *, name: str, definition: str | None = None, examples: Sequence[str] | None = None,
                  medhelm_category: str | None = None, medhelm_subcategory: str | None = None,
                  active: bool | None = None, note: str = "", actor: str) -> Result:
    """Change a category's definition, examples, MedHELM mapping or active flag (None leaves a field as is).

    Returns (version, created); nothing is saved when nothing changed.
    """
    current, draft = _start(session)
    cat = draft.categories[_index(draft, name, current.version)]
    changed = []
    for field, value in (("definition", definition), ("medhelm_category", medhelm_category),
                         ("medhelm_subcategory", medhelm_subcategory)):
        if value is not None and value.strip() != getattr(cat, field):
            setattr(cat, field, value.strip())
            changed.append(field)
    if examples is not None and _examples(examples) != cat.examples:
        cat.examples = _examples(examples)
        changed.append("examples")
    if active is not None and active != cat.active:
        cat.active = active
        changed.append("active")
    summary = f"edit '{name}' ({', '.join(changed)})" if changed else f"edit '{name}'"
    return _save(session, current, draft, op="edit", summary=summary, detail={"category": name, "fields": changed},
                 note=note, actor=actor)


def add_category(session: Session, *, name: str, definition: str = "", examples: Sequence[str] = (),
                 medhelm_category: str = "", medhelm_subcategory: str = "", note: str = "", actor: str) -> Result:
    """Add a category (placed before "Other" when the codebook has one, else last)."""
    current, draft = _start(session)
    name = _new_name(draft, name)
    new = CategoryDraft(name=name, definition=definition.strip(), examples=_examples(examples),
                        medhelm_category=medhelm_category.strip(), medhelm_subcategory=medhelm_subcategory.strip())
    others = [i for i, c in enumerate(draft.categories) if c.name.casefold() == OTHER.casefold()]
    draft.categories.insert(others[0] if others else len(draft.categories), new)
    return _save(session, current, draft, op="add", summary=f"add '{name}'", detail={"category": name},
                 note=note, actor=actor)


def rename_category(session: Session, *, old: str, new: str, note: str = "", actor: str) -> Result:
    """Rename a category; the version records renames[old] = new, so old labels are reported as `new`."""
    current, draft = _start(session)
    cat = draft.categories[_index(draft, old, current.version)]
    new = _new_name(draft, new, freed=[old])
    if new == old:
        return current, False
    cat.name = new
    draft.renames = {old: new}
    return _save(session, current, draft, op="rename", summary=f"rename '{old}' to '{new}'",
                 detail={"renames": draft.renames}, note=note, actor=actor)


def merge_categories(session: Session, *, sources: Sequence[str], into: str, definition: str | None = None,
                     note: str = "", actor: str) -> Result:
    """Merge `sources` into `into` (a new name, one of the sources, or another existing category).

    The merged category takes the first involved category's place; its definition is `definition`, else
    the target's when it exists, else the sources' definitions joined; examples are pooled (no repeats).
    """
    current, draft = _start(session)
    sources = list(dict.fromkeys(s for s in sources if s))
    for s in sources:
        _index(draft, s, current.version)
    existing = next((c for c in draft.categories if c.name == into), None)
    involved = sources + ([into] if existing is not None and into not in sources else [])
    if len(involved) < 2:
        raise InvalidInput("a merge needs at least two categories (sources plus an existing target)")
    if existing is None:
        into = _new_name(draft, into, freed=sources)
    parts = [c for c in draft.categories if c.name in involved]
    base = existing or parts[0]
    merged = CategoryDraft(
        name=into,
        definition=(definition.strip() if definition and definition.strip() else
                    base.definition if existing is not None else
                    " ".join(c.definition for c in parts if c.definition)),
        examples=list(dict.fromkeys(e for c in ([base] + [p for p in parts if p is not base]) for e in c.examples)),
        medhelm_category=base.medhelm_category, medhelm_subcategory=base.medhelm_subcategory)
    first = min(i for i, c in enumerate(draft.categories) if c.name in involved)
    draft.categories = [merged if i == first else c for i, c in enumerate(draft.categories)
                        if i == first or c.name not in involved]
    draft.renames = {s: into for s in involved if s != into}
    summary = f"merge {', '.join(repr(s) for s in involved)} into '{into}'"
    return _save(session, current, draft, op="merge", summary=summary,
                 detail={"renames": draft.renames}, note=note, actor=actor)


def split_category(session: Session, *, name: str, parts: Sequence[CategoryDraft], note: str = "",
                   actor: str) -> Result:
    """Split a category into two or more new ones: it is retired (kept, inactive) and the parts follow it.

    Old labels keep the old name (no rename can say which part they belong to).
    """
    current, draft = _start(session)
    at = _index(draft, name, current.version)
    if len(parts) < 2:
        raise InvalidInput("a split needs at least two new categories")
    new: list[CategoryDraft] = []
    for p in parts:
        clean = _new_name(CodebookDraft("", "", draft.categories + new), p.name)
        new.append(CategoryDraft(name=clean, definition=p.definition.strip(), examples=_examples(p.examples),
                                 medhelm_category=p.medhelm_category.strip(),
                                 medhelm_subcategory=p.medhelm_subcategory.strip()))
    draft.categories[at].active = False
    draft.categories[at + 1:at + 1] = new
    names = [p.name for p in new]
    return _save(session, current, draft, op="split", summary=f"split '{name}' into {', '.join(map(repr, names))}",
                 detail={"category": name, "into": names}, note=note, actor=actor)


def parse_parts(text: str) -> list[CategoryDraft]:
    """New categories for a split, one per line as "Name: definition" (the definition may be left out)."""
    parts = []
    for line in (text or "").splitlines():
        name, _, definition = line.partition(":")
        if name.strip():
            parts.append(CategoryDraft(name=name.strip(), definition=definition.strip()))
    return parts


def retire_category(session: Session, *, name: str, note: str = "", actor: str) -> Result:
    """Retire a category (active False): new rounds cannot choose it; old labels keep it."""
    current, draft = _start(session)
    cat = draft.categories[_index(draft, name, current.version)]
    if not cat.active:
        raise InvalidInput(f"'{name}' is already retired")
    cat.active = False
    return _save(session, current, draft, op="retire", summary=f"retire '{name}'", detail={"category": name},
                 note=note, actor=actor)


# --- differences between versions ---------------------------------------------------------------------

def _chain(steps: Sequence[Mapping[str, str] | None]) -> dict[str, str]:
    return chain_renames(steps)


def _fields(c: CategoryDraft) -> dict[str, str]:
    return {"definition": c.definition, "examples": "\n".join(c.examples),
            "medhelm": " / ".join(x for x in (c.medhelm_category, c.medhelm_subcategory) if x),
            "active": "yes" if c.active else "no (retired)"}


def diff_versions(session: Session, a: int, b: int) -> list[dict]:
    """What changed from version min(a, b) to max(a, b), one row per category and field.

    Row keys: category (its name in the newer version, or the old name when removed), change (added,
    removed, renamed, merged, changed), field (name, definition, examples, medhelm, active), old, new.
    Unchanged categories are left out.
    """
    old_v, new_v = require_version(session, min(a, b)), require_version(session, max(a, b))
    steps = [v.renames for v in list_versions(session) if old_v.version < v.version <= new_v.version]
    chain = _chain(steps)
    old = {c.name: c for c in draft_of(session, old_v).categories}
    new = {c.name: c for c in draft_of(session, new_v).categories}
    targets = Counter(chain.get(n, n) for n in old)
    rows: list[dict] = []
    matched: set[str] = set()
    for name, cat in old.items():
        target = chain.get(name, name)
        if target not in new:
            rows.append({"category": name, "change": "removed", "field": "name", "old": name, "new": None})
            continue
        matched.add(target)
        if target != name:
            change = "merged" if targets[target] > 1 or target in old else "renamed"
            rows.append({"category": target, "change": change, "field": "name", "old": name, "new": target})
        if target != name and target in old:
            continue  # merged into a category that already existed: its own row reports its field changes
        before, after = _fields(cat), _fields(new[target])
        rows.extend({"category": target, "change": "changed", "field": f, "old": before[f], "new": after[f]}
                    for f in before if before[f] != after[f])
    for name, cat in new.items():
        if name not in matched:
            rows.extend({"category": name, "change": "added", "field": f, "old": None, "new": v}
                        for f, v in _fields(cat).items() if v)
    return rows


# --- evidence -----------------------------------------------------------------------------------------

def _reported_as(session: Session, category: str) -> list[str]:
    """`category` and every older name that reports as it."""
    return [category] + sorted(old for old, new in codebook_renames(session).items() if new == category)


def category_evidence(session: Session, category: str) -> dict[str, list[dict]]:
    """Adjudication cases tagged 'definition problem' and model errors tagged 'ambiguous_definition' for a
    category (under its current or any earlier name), newest first."""
    names = _reported_as(session, category)
    newest = lambda rows: sorted(rows, key=lambda r: r["at"], reverse=True)  # noqa: E731
    return {"definition_problems": newest([r for n in names for r in definition_problems(session, n)]),
            "ambiguous_definition": newest([r for n in names
                                            for r in error_tags(session, category=n, tag="ambiguous_definition")])}


# --- candidate examples -------------------------------------------------------------------------------

def _snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def _classify_llm(cfg: LLMConfig, specs: list[CategorySpec], texts: list[str],
                  client_factory: Callable | None) -> list[str | None]:
    answers: dict[int, str | None] = {}
    run_classification(((str(i), build_messages(specs, t)) for i, t in enumerate(texts)), cfg,
                       category_names=prompt_names(specs), concurrency=max(1, min(8, len(texts))),
                       on_result=lambda i, o: answers.__setitem__(int(i), o.category if o.status == "ok" else None),
                       total=len(texts), client_factory=client_factory)
    return [answers.get(i) for i in range(len(texts))]


def consensus_texts(session: Session, *, closed_only: bool = False) -> dict[int, tuple[str, str]]:
    """thread id -> (text, final label under today's names), over every round's decided threads (a thread
    decided in several rounds: the newest); ``closed_only`` keeps closed rounds only."""
    labels = read_consensus(session, closed_only=closed_only).latest_labels()
    ids = sorted(labels)
    texts: dict[int, str] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        texts.update(dict(session.execute(select(Thread.id, Thread.text).where(Thread.id.in_(chunk))).all()))
    return {t: (texts[t], labels[t]) for t in ids if t in texts}


def _local_candidates(session: Session, category: str, n: int, seed: int) -> tuple[list[str], list[str | None]]:
    from annotator.llm.local import nearest_to_centroid, train_local_model

    data = consensus_texts(session)
    ids = list(data)
    texts, labels = [data[e][0] for e in ids], [data[e][1] for e in ids]
    if category not in labels:
        raise InvalidInput(f"no consensus-labeled thread of '{category}' yet: adjudicate a round first")
    try:
        chosen = nearest_to_centroid(texts, labels, category, k=n)
    except ValueError as exc:
        raise InvalidInput(f"cannot rank the threads of '{category}': {exc}") from None
    held = set(chosen)
    rest = [i for i in range(len(ids)) if i not in held]
    try:
        model = train_local_model([texts[i] for i in rest], [labels[i] for i in rest], seed=seed)
        classified: list[str | None] = [c for c, _ in model.predict([texts[i] for i in chosen])]
    except ValueError as exc:  # too few categories left once the candidates are held out
        log.info("candidates left unclassified: %s", exc)
        classified = [None] * len(chosen)
    return [_snippet(texts[i]) for i in chosen], classified


def propose_candidates(session: Session, *, category: str, version: int | None = None, backend: str = "openai",
                       cfg: LLMConfig | None = None, n: int = 5, actor: str, seed: int = 0,
                       client_factory: Callable | None = None) -> list[CandidateExample]:
    """Propose `n` candidate examples for an active category of a version (default newest) and store them.

    Candidates already stored for the category and version (same text) are not stored twice.
    """
    if backend not in ("openai", "local"):
        raise InvalidInput("backend must be 'openai' or 'local'")
    if not 1 <= n <= 20:
        raise InvalidInput("propose between 1 and 20 candidates")
    cb = require_version(session, version)
    specs = specs_for(session, cb.id)
    spec = next((s for s in specs if s.name == category), None)
    if spec is None:
        raise NotFound(f"no active category '{category}' in codebook version {cb.version}")
    if backend == "openai":
        if cfg is None:
            raise InvalidInput("the openai backend needs an LLM endpoint: set OPENAI_API_KEY or a base URL")
        answer: Suggestion = propose_examples(cfg, spec, specs, n=n, client_factory=client_factory)
        if answer.status != "ok":
            raise AnnotatorError(f"the LLM gave no usable example messages ({answer.error}); try again")
        texts = answer.values
        classified = _classify_llm(cfg, specs, texts, client_factory)
    else:
        texts, classified = _local_candidates(session, category, n, seed)
    seen = set(session.execute(select(CandidateExample.text).where(
        CandidateExample.codebook_version_id == cb.id, CandidateExample.category == category)).scalars())
    rows = [CandidateExample(codebook_version_id=cb.id, category=category, text=t, source="llm" if backend == "openai"
                             else "local", classified_as=c, created_by=actor)
            for t, c in zip(texts, classified) if t not in seen]
    session.add_all(rows)
    audit.record(session, actor=actor, action="candidates_proposed", entity="category", entity_id=category,
                 detail={"version": cb.version, "backend": backend, "n": len(rows),
                         "fit": sum(c == category for c in classified)})
    session.commit()
    return rows


def list_candidates(session: Session, category: str) -> list[dict]:
    """Candidates of a category (under its current or an earlier name) with votes, voters and fit, by id."""
    renames = codebook_renames(session)
    names = _reported_as(session, category)
    cands = session.execute(select(CandidateExample).where(CandidateExample.category.in_(names))
                            .order_by(CandidateExample.id)).scalars().all()
    voters: dict[int, list[str]] = {}
    for cid, username in session.execute(
            select(CandidateVote.candidate_id, Account.username).join(Account, Account.id == CandidateVote.voter_id)
            .where(CandidateVote.candidate_id.in_([c.id for c in cands] or [-1])).order_by(Account.username)).all():
        voters.setdefault(cid, []).append(username)
    return [{"id": c.id, "text": c.text, "source": c.source, "classified_as": c.classified_as,
             "fits": c.classified_as is not None and renames.get(c.classified_as, c.classified_as) == category,
             "votes": len(voters.get(c.id, [])), "voters": voters.get(c.id, []), "version_id": c.codebook_version_id}
            for c in cands]


def top_candidates(session: Session, category: str, k: int = 3) -> list[dict]:
    """The `k` best candidates: most votes, then those classified as their own category, then oldest."""
    ranked = sorted(list_candidates(session, category), key=lambda c: (-c["votes"], not c["fits"], c["id"]))
    return ranked[:k]


def vote(session: Session, candidate_id: int, voter_id: int) -> tuple[CandidateVote, bool]:
    """Mark a candidate as representative (reviewers and leads may vote). Idempotent: (vote, created)."""
    if session.get(CandidateExample, candidate_id) is None:
        raise NotFound(f"no candidate example {candidate_id}")
    voter = session.get(Account, voter_id)
    if voter is None or not voter.active:
        raise NotFound("no such active account")
    query = select(CandidateVote).where(CandidateVote.candidate_id == candidate_id, CandidateVote.voter_id == voter_id)
    found = session.execute(query).scalars().first()
    if found is not None:
        return found, False
    row = CandidateVote(candidate_id=candidate_id, voter_id=voter_id)
    session.add(row)
    audit.record(session, actor=voter.username, action="candidate_vote", entity="candidate_example",
                 entity_id=candidate_id)
    try:
        session.commit()
    except IntegrityError:  # a concurrent click of the same voter won the race
        session.rollback()
        return session.execute(query).scalars().one(), False
    return row, True


def unvote(session: Session, candidate_id: int, voter_id: int) -> bool:
    """Take a vote back; False when there was none."""
    voter = session.get(Account, voter_id)
    gone = session.execute(delete(CandidateVote).where(CandidateVote.candidate_id == candidate_id,
                                                       CandidateVote.voter_id == voter_id)).rowcount
    if gone:
        audit.record(session, actor=voter.username if voter else "", action="candidate_unvote",
                     entity="candidate_example", entity_id=candidate_id)
    session.commit()
    return bool(gone)


def adopt_top_examples(session: Session, category: str, *, actor: str, k: int = 3, note: str = "") -> Result:
    """Make the top `k` voted candidates the category's examples in a new version (only voted ones count)."""
    chosen = [c for c in top_candidates(session, category, k=10**6) if c["votes"] > 0][:k]
    if not chosen:
        raise InvalidInput(f"no candidate of '{category}' has a vote yet")
    version, created = edit_category(session, name=category, examples=[c["text"] for c in chosen],
                                     note=note or f"adopted {len(chosen)} voted candidate examples", actor=actor)
    return version, created


# --- the "Other" review -------------------------------------------------------------------------------

@dataclass(frozen=True)
class OtherNaming:
    """What suggest_other_names did for one source."""

    source: str
    n_other: int
    n_cached: int
    n_new: int
    n_failed: int
    requests: int


def other_threads(session: Session, *, round_name: str | None = None,
                  run_id: int | None = None) -> tuple[str, int, list[tuple[int, str]]]:
    """(source, codebook version id, [(thread pk, text)]) of the threads labeled Other by a round's consensus
    or a run's predictions (names followed through later renames)."""
    if (round_name is None) == (run_id is None):
        raise InvalidInput("name exactly one of a round or a model run")
    renames = codebook_renames(session)
    is_other = lambda c: c is not None and renames.get(c, c).casefold() == OTHER.casefold()  # noqa: E731
    if round_name is not None:
        rnd = require_round(session, round_name)
        ids = [r.thread_id for r in read_consensus(session, [round_name]).decided() if is_other(r.category)]
        rows = session.execute(select(Thread.id, Thread.text).where(Thread.id.in_(ids or [-1]))
                               .order_by(Thread.id)).all()
        return f"round:{round_name}", rnd.codebook_version_id, [(i, t) for i, t in rows]
    run = session.get(ModelRun, run_id)
    if run is None:
        raise NotFound(f"no model run {run_id}")
    rows = session.execute(select(Thread.id, Thread.text, Prediction.category)
                           .join(Prediction, Prediction.thread_id == Thread.id)
                           .where(Prediction.run_id == run_id, Prediction.status == "ok").order_by(Thread.id)).all()
    return f"run:{run_id}", run.codebook_version_id, [(i, t) for i, t, c in rows if is_other(c)]


def suggest_other_names(session: Session, *, round_name: str | None = None, run_id: int | None = None,
                        cfg: LLMConfig | None = None, backend: str = "openai", actor: str, concurrency: int = 4,
                        client_factory: Callable | None = None) -> OtherNaming:
    """Suggest a category name for each thread labeled Other (a round's consensus or a run's predictions).

    Names already stored for the source are kept and not asked again; each new name is committed as it
    arrives, so an interrupted call resumes. Backend "local" names a thread by its top TF-IDF terms.
    """
    if backend not in ("openai", "local"):
        raise InvalidInput("backend must be 'openai' or 'local'")
    source, version_id, threads = other_threads(session, round_name=round_name, run_id=run_id)
    named = set(session.execute(select(OtherSuggestion.thread_id).where(OtherSuggestion.source == source)).scalars())
    todo = [(tid, text) for tid, text in threads if tid not in named]
    stored = {"new": 0, "failed": 0, "requests": 0}

    def store(thread_id: int, name: str | None, model: str) -> None:
        if not name:
            stored["failed"] += 1
            return
        session.add(OtherSuggestion(thread_id=thread_id, source=source, suggested_name=name[:MAX_NAME], model=model))
        try:
            session.commit()
            stored["new"] += 1
        except IntegrityError:  # named meanwhile by another call
            session.rollback()

    if todo and backend == "local":
        names = dict(zip((tid for tid, _ in threads), local_names([t for _, t in threads])))
        for tid, _ in todo:
            store(tid, names[tid], LOCAL_NAMER)
    elif todo:
        if cfg is None:
            raise InvalidInput("the openai backend needs an LLM endpoint: set OPENAI_API_KEY or a base URL")
        counts = suggest_names(((str(tid), text) for tid, text in todo), specs_for(session, version_id), cfg,
                               on_result=lambda i, s: store(int(i), s.values[0] if s.status == "ok" else None,
                                                            cfg.model),
                               concurrency=concurrency, client_factory=client_factory)
        stored["requests"] = counts["requests"]
    audit.record(session, actor=actor, action="other_names_suggested", entity="other_review", entity_id=source,
                 detail={"backend": backend, "n_other": len(threads), "n_new": stored["new"],
                         "n_failed": stored["failed"]})
    session.commit()
    return OtherNaming(source, len(threads), len(threads) - len(todo), stored["new"], stored["failed"],
                       stored["requests"])


def suggestion_sources(session: Session) -> list[str]:
    """Sources that have suggested names, e.g. "round:r1", "run:3"."""
    return list(session.execute(select(OtherSuggestion.source).distinct().order_by(OtherSuggestion.source)).scalars())


def _features(names: list[str], texts: list[str], use_text: bool):
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    parts = [TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, lowercase=True)
             .fit_transform(names)]
    if use_text:
        try:
            parts.append(0.5 * TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts))
        except ValueError:  # no usable word in any thread: names alone
            pass
    return normalize(hstack(parts).tocsr())


def _cluster(x, n_distinct: int, k: int | None, seed: int, max_k: int) -> tuple[np.ndarray, float | None, str | None]:
    """Labels, the silhouette of the chosen k (None with a reason when not computed)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = x.shape[0]
    fit = lambda kk: KMeans(n_clusters=kk, random_state=seed, n_init=10).fit_predict(x)  # noqa: E731
    if k is not None:
        kk = max(1, min(k, n_distinct))
        labels = fit(kk) if kk > 1 else np.zeros(n, dtype=int)
        ok = 2 <= kk <= n - 1
        return labels, (float(silhouette_score(x, labels)) if ok else None), \
            (None if ok else "silhouette needs 2 <= groups <= threads - 1")
    candidates = range(2, min(n_distinct, n // 2, max_k) + 1)
    if not candidates:
        return np.zeros(n, dtype=int), None, "fewer than 4 threads or fewer than 2 distinct names: one group"
    best = max(((float(silhouette_score(x, labels := fit(kk))), -kk, labels) for kk in candidates),
               key=lambda t: (t[0], t[1]))
    return best[2], best[0], None


def group_suggestions(session: Session, source: str, k: int | None = None, *, seed: int = 0, max_k: int = 10,
                      use_text: bool = False) -> list[dict]:
    """Cluster a source's suggested names into proposed new categories, largest group first.

    Features: TF-IDF of the names (character 3-5-grams within words, so "game" and "games" meet),
    optionally plus the threads' word TF-IDF at half weight, rows L2-normalised. Clustering: k-means
    (seeded, 10 starts); without `k`, the k in 2..min(distinct names, threads // 2, max_k) with the
    highest silhouette (Rousseeuw 1987; ties: fewer groups). The threads // 2 cap keeps two threads per
    group on average: on a handful of names silhouette otherwise favours singletons, and a category
    proposed by one thread is weak evidence. Each group: name (its most common suggested name, ties
    alphabetical), n, names [(name, count)], threads (external ids, nearest the group centre first),
    examples (snippets of the three nearest), source, k and silhouette (None with a reason).
    """
    rows = session.execute(select(Thread.external_id, OtherSuggestion.suggested_name, Thread.text)
                           .join(Thread, Thread.id == OtherSuggestion.thread_id)
                           .where(OtherSuggestion.source == source).order_by(Thread.external_id)).all()
    if not rows:
        return []
    ext, names, texts = [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
    x = _features(names, texts, use_text)
    n_distinct = len({n.casefold() for n in names}) if not use_text else len(rows)
    labels, sil, reason = _cluster(x, n_distinct, k, seed, max_k)
    dense = x.toarray()
    groups = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        centre = dense[members].mean(axis=0)
        order = members[np.lexsort((members, -(dense[members] @ centre)))]
        counts = Counter(names[i] for i in members)
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        groups.append({"name": top[0][0], "n": int(members.size), "names": top,
                       "threads": [ext[i] for i in order], "examples": [_snippet(texts[i]) for i in order[:3]],
                       "source": source, "k": int(len(np.unique(labels))), "silhouette": sil,
                       "silhouette_note": reason})
    return sorted(groups, key=lambda g: (-g["n"], g["name"]))


def create_category_from_group(session: Session, group: Mapping[str, Any], *, name: str | None = None,
                               definition: str | None = None, actor: str, note: str = "") -> Result:
    """Add a category proposed by a group of Other threads (a `group_suggestions` item) to a new version.

    Examples are snippets of the group's three most central threads; without `definition`, a draft one
    names the suggested names it came from (edit it before classifying with it).
    """
    name = name or group["name"]
    names = ", ".join(f"{n} ({c})" for n, c in list(group["names"])[:5])
    draft_definition = (f"Draft from {group['n']} threads labeled Other ({group['source']}); "
                        f"suggested names: {names}.")
    return add_category(session, name=name, definition=definition or draft_definition,
                        examples=list(group["examples"])[:3],
                        note=note or f"from the Other review of {group['source']}", actor=actor)


# --- versions compared --------------------------------------------------------------------------------

COMPARISON_COLUMNS = ["version", "name", "rounds", "n_items", "alpha", "alpha_ci_low", "alpha_ci_high", "run_id",
                      "model", "model_round", "n_scored", "accuracy", "macro_f1", "kappa", "note"]


def _model_row(session: Session, runs: list[ModelRun], rounds: list[str], *,
               allow_pending: bool = False) -> tuple[dict, str | None]:
    """Newest run of the version that shares scored threads with a round of it (the round scoring most)."""
    if not runs:
        return {}, "no finished model run with this version"
    if not rounds:
        return {}, "no round to compare the model with"
    last_reason = None
    for run in runs:
        best = None
        for name in rounds:
            try:
                rep = compare_run(session, run.id, round_name=name, n_boot=0, allow_pending=allow_pending)
            except (ValueError, AnnotatorError) as exc:
                log.info("run %s vs round %s not comparable: %s", run.id, name, exc)
                last_reason = f"run {run.id} vs round '{name}': {exc}"
                continue
            if rep["n"] and (best is None or rep["n"] > best["n"]):
                best = rep
        if best is not None:
            pending = (f"{best['pending']} pending thread(s) left out: the decided subset, not a random sample"
                       if best.get("pending") else None)
            weighted = "design-weighted" if best.get("weighting") == "design-weighted" else None
            return {"run_id": run.id, "model": run.model, "model_round": best["round"], "n_scored": best["n"],
                    "accuracy": best["accuracy"], "macro_f1": best["macro_f1"], "kappa": best["cohen_kappa"]}, \
                "; ".join(x for x in (weighted, pending) if x) or None
    return {}, last_reason or "no run of this version has predictions on a round's consensus threads"


def version_comparison(session: Session, *, n_boot: int = 500, seed: int = 0,
                       allow_pending: bool = False) -> pd.DataFrame:
    """One row per codebook version: reviewers' nominal Krippendorff's alpha with its 95% percentile
    bootstrap CI (`agreement_for_rounds` over the rounds labeled under the version, pooled; `n_boot`
    resamples, `seed`), and the model against the final labels (accuracy, macro F1, Cohen's kappa; see
    `compare_run`: out of fold, design-weighted where the round was stratified) for the newest finished
    run made with the version that can be compared, against the version's round where it scores most
    threads. Undefined values are None, with reasons in `note`.

    Refuses (``PendingThreads``) while a sampled thread of a labeled round is pending, unless
    ``allow_pending`` (then the model figures use the decided threads and the note says so).
    """
    labeled = set(session.execute(select(Label.round_id).distinct()).scalars())
    rounds_of: dict[int, list[str]] = {}
    for rnd in list_rounds(session):
        if rnd.id in labeled:
            rounds_of.setdefault(rnd.codebook_version_id, []).append(rnd.name)
    read_consensus(session, round_ids=sorted(labeled)).check_pending(allow_pending=allow_pending,
                                                                     what="the version comparison")
    runs_of: dict[int, list[ModelRun]] = {}
    done = select(ModelRun).where(ModelRun.status == "done").order_by(ModelRun.id.desc())
    for run in session.execute(done).scalars():
        runs_of.setdefault(run.codebook_version_id, []).append(run)
    out = []
    for v in list_versions(session):
        rounds = rounds_of.get(v.id, [])
        row: dict[str, Any] = dict.fromkeys(COMPARISON_COLUMNS)
        row.update({"version": v.version, "name": v.name, "rounds": ", ".join(rounds)})
        notes = []
        if rounds:
            try:
                rep = agreement_for_rounds(session, rounds, n_boot=n_boot, seed=seed)
            except AnnotatorError as exc:
                notes.append(f"alpha: {exc}")
            else:
                low, high = rep["krippendorff_alpha_ci95"]
                row.update({"n_items": rep["n_items_pairable"], "alpha": rep["krippendorff_alpha"],
                            "alpha_ci_low": low, "alpha_ci_high": high})
                if rep["krippendorff_alpha"] is None:
                    notes.append(f"alpha: {rep['undefined'].get('krippendorff_alpha', 'undefined')}")
        else:
            notes.append("alpha: no round labeled under this version")
        model, reason = _model_row(session, runs_of.get(v.id, []), rounds, allow_pending=allow_pending)
        row.update(model)
        if reason:
            notes.append(f"model: {reason}")
        row["note"] = "; ".join(notes)
        out.append(row)
    return pd.DataFrame(out, columns=COMPARISON_COLUMNS)


def comparison_chart_png(table: pd.DataFrame) -> bytes | None:
    """Alpha (with its 95% CI) and macro F1 per version as a PNG; None when neither is defined anywhere."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if table.empty or (table["alpha"].isna().all() and table["macro_f1"].isna().all()):
        return None
    x = table["version"].astype(int).to_numpy()
    fig = Figure(figsize=(6, 3.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    alpha = table["alpha"].astype(float)
    low = (alpha - table["alpha_ci_low"].astype(float)).clip(lower=0).fillna(0)
    high = (table["alpha_ci_high"].astype(float) - alpha).clip(lower=0).fillna(0)
    ax.errorbar(x, alpha, yerr=[low, high], fmt="o-", capsize=4, label="Krippendorff's α (95% CI)")
    ax.plot(x, table["macro_f1"].astype(float), "s--", label="model macro F1")
    ax.set_xticks(x, [f"v{v}" for v in x])
    ax.set_ylim(min(0.0, float(np.nanmin(np.r_[alpha.to_numpy(), [0.0]]))), 1.0)
    ax.set_xlabel("codebook version")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def version_categories(session: Session, version: int) -> list[CategoryDraft]:
    """Every category of a version (retired ones included), in order."""
    return draft_of(session, require_version(session, version)).categories
