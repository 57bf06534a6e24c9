"""A database in which every user- and model-supplied text carries a Markdown image (and HTML) that would
make a viewer's browser fetch a URL: category names, definitions, examples, codebook name and note,
thread ids, departments, roles, display names, round names, label notes, rationales, meeting and
definition comments, error-tag comments, candidate snippets, model rationales and categories,
suggested names, alert rule names. The text-is-text tests render pages over it and check that nothing
is read as Markdown or HTML (AppTest) and that a listener at the URL receives no request (Chromium).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from annotator.data.models import CandidateExample, ModelRun, OtherSuggestion, Prediction, Thread
from annotator.services import accounts
from annotator.services.adjudication import mark_discuss, resolve, tag_definition_problem
from annotator.services.alerts import create_rule
from annotator.services.codebook import CategoryDraft, CodebookDraft, save_version
from annotator.services.labeling import submit_label
from annotator.services.model_eval import tag_error
from annotator.services.rounds import create_sampled_round
from tests.factories import make_threads

PASSWORD = "violet-harbour-7"


def payload(url: str) -> str:
    """A Markdown image, an HTML image and a bare link to `url`, in one string."""
    return f"![x]({url}/md.png) <img src='{url}/html.png'> {url}/bare.png"


@dataclass
class Hostile:
    payload: str
    round_name: str
    categories: list[str]
    lead: str = "lead1"
    admin: str = "admin1"
    reviewers: tuple[str, ...] = ("rev1", "rev2", "rev3")


def build(engine: Engine, url: str) -> Hostile:
    """Fill an empty, migrated database; every account's password is PASSWORD."""
    p = payload(url)
    bad = f"Bad {p}"
    cats = ["Coding", bad, "Other"]
    with Session(engine, expire_on_commit=False) as s:
        draft = CodebookDraft(name=f"codebook {p}", note=f"note {p}", categories=[
            CategoryDraft(name="Coding", definition=f"code {p}", examples=[f"example {p}"], medhelm_category=p,
                          medhelm_subcategory=p),
            CategoryDraft(name=bad, definition=f"definition {p}", examples=[f"example {p}", "a plain example"]),
            CategoryDraft(name="Other", definition="Anything else."),
        ])
        version, _ = save_version(s, draft, actor="test")
        n = 8
        make_threads(s, n, seed=3, thread_id=[f"T{i} {p}" for i in range(n)], department=p, role=f"Physician {p}")
        accounts.create_account(s, username="lead1", role="lead", password=PASSWORD, display_name=f"Lead {p}")
        accounts.create_account(s, username="admin1", role="admin", password=PASSWORD, display_name=f"Admin {p}")
        for r in ("rev1", "rev2", "rev3"):
            accounts.create_account(s, username=r, role="reviewer", password=PASSWORD, display_name=f"{r} {p}")
        name = f"round {p}"[:200]
        rnd = create_sampled_round(s, name=name, size=n, reviewers=["rev1", "rev2", "rev3"], per_thread=3, seed=5,
                                   actor="test").round
        threads = list(s.exec(select(Thread).order_by(Thread.id)))
        ids = {a.username: a.id for a in accounts.list_accounts(s)}
        for i, t in enumerate(threads):
            for j, r in enumerate(("rev1", "rev2", "rev3")):
                category = cats[(i + (j if i % 2 else 0)) % len(cats)]  # odd threads: three different labels
                submit_label(s, round_id=rnd.id, thread_id=t.id, reviewer_id=ids[r], category=category,
                             note=f"note {p}", unsure=j == 2, seconds_spent=12.0, actor=r)
        resolve(s, round_id=rnd.id, thread_id=threads[1].id, category=bad, rationale=f"rationale {p}", actor="lead1")
        mark_discuss(s, round_id=rnd.id, thread_id=threads[3].id, comment=f"discuss {p}", actor="lead1")
        tag_definition_problem(s, round_id=rnd.id, thread_id=threads[5].id, flag=True, comment=f"definition {p}",
                               actor="lead1")
        run = ModelRun(backend="openai", model=f"model {p}"[:200], base_url=None, codebook_version_id=version.id,
                       scope="all", status="done", prompt_template_version="v1", codebook_hash="x")
        s.add(run)
        s.flush()
        for i, t in enumerate(threads):
            s.add(Prediction(run_id=run.id, thread_id=t.id, category=cats[(i + 1) % len(cats)], status="ok",
                             rationale=f"model rationale {p}", confidence=0.5, cache_key=f"k{i}"))
            s.add(OtherSuggestion(thread_id=t.id, source="consensus", suggested_name=f"Suggested {p}"[:200], model="m"))
        s.add(CandidateExample(codebook_version_id=version.id, category=bad, text=f"candidate {p}", source="llm",
                               classified_as=bad))
        s.add(CandidateExample(codebook_version_id=version.id, category="Coding", text=f"candidate {p}", source="llm",
                               classified_as="Coding"))
        s.commit()
        tag_error(s, run_id=run.id, thread_id=threads[0].id, tag="model_error", comment=f"error {p}",
                  category="Coding", actor="lead1")
        create_rule(s, name=f"rule {p}"[:200], category=bad, baseline_periods=2, min_count=0, actor="lead1")
    return Hostile(payload=p, round_name=name, categories=cats)
