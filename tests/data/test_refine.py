"""Codebook refinement (annotator.services.refine) on SQLite and PostgreSQL: editor operations keep old
labels and keep reports consistent, candidate examples and votes, the Other review, version comparison."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
from sqlalchemy import select

from annotator.data.models import (Account, AuditEvent, CandidateExample, CodebookVersion, Label, ModelRun,
                                   OtherSuggestion, Prediction, Thread)
from annotator.errors import AnnotatorError, Conflict, InvalidInput, NotFound, PendingThreads
from annotator.llm.client import LLMConfig
from annotator.services import refine
from annotator.services.adjudication import tag_definition_problem
from annotator.services.agreement import agreement_for_rounds
from annotator.services.codebook import codebook_renames
from annotator.services.consensus import read_consensus
from annotator.services.codebook import CategoryDraft, category_names, list_categories, require_version
from annotator.services.labeling import submit_label
from annotator.services.model_eval import compare_run, tag_error
from annotator.services.rounds import require_round
from annotator.stats.agreement import krippendorff_alpha_nominal
from tests.factories import count_rows, make_codebook, make_round, make_threads
from tests.fake_openai import FakeOpenAI

REVIEWERS = ("alice", "bob", "carol")
CODING = ("Clinical documentation", "Patient communication", "Coding", "Research", "Other")


def label_round(session, name: str, choose: Callable[[str, str], str]) -> None:
    """Every assigned reviewer labels every thread of the round with choose(thread external id, reviewer)."""
    from annotator.data.models import Assignment

    rnd = require_round(session, name)
    rows = session.execute(select(Assignment.thread_id, Thread.external_id, Account.id, Account.username)
                           .join(Thread, Thread.id == Assignment.thread_id)
                           .join(Account, Account.id == Assignment.reviewer_id)
                           .where(Assignment.round_id == rnd.id)).all()
    for tid, ext, rid, username in rows:
        submit_label(session, round_id=rnd.id, thread_id=tid, reviewer_id=rid, category=choose(ext, username),
                     actor=username)


def stored_labels(engine) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(Label.__table__)).all())


def mixed(ext: str, reviewer: str) -> str:
    """A labeling with real disagreement between the first two categories and a little Coding."""
    i = int(ext.rsplit("-", 1)[1])
    if i % 3 == 0:
        return "Coding"
    if reviewer == "carol" and i % 2:
        return "Patient communication"
    return "Clinical documentation" if i % 2 else "Patient communication"


@pytest.fixture
def labeled(session):
    """Codebook v1 (CODING), 12 threads, round r1 labeled by three reviewers under v1."""
    make_codebook(session, CODING)
    make_round(session, name="r1", size=12, reviewers=REVIEWERS, per_thread=3, seed=5)
    label_round(session, "r1", mixed)
    return session


# --- editor operations ----------------------------------------------------------------------------------

def test_rename_keeps_old_labels_and_reports_the_new_name(labeled, engine):
    before = stored_labels(engine)
    version, created = refine.rename_category(labeled, old="Coding", new="Programming", note="clearer", actor="lead")
    assert created and version.version == 2 and version.renames == {"Coding": "Programming"}
    assert version.note == "rename 'Coding' to 'Programming': clearer"
    assert stored_labels(engine) == before
    report = agreement_for_rounds(labeled, ["r1"], n_boot=0)
    assert "Programming" in report["per_category"] and "Coding" not in report["per_category"]
    assert report["per_category"]["Programming"]["n_ratings"] == 4 * 3
    assert category_names(labeled, version.id)[2] == "Programming"
    audit = labeled.execute(select(AuditEvent).where(AuditEvent.action == "codebook_edit")).scalars().one()
    assert audit.detail["op"] == "rename" and audit.entity_id == "2"


def test_merge_reports_the_merged_name_for_a_round_made_under_the_old_version(labeled, engine):
    before = stored_labels(engine)
    old_alpha = agreement_for_rounds(labeled, ["r1"], n_boot=0)["krippendorff_alpha"]
    version, _ = refine.merge_categories(labeled, sources=["Clinical documentation", "Patient communication"],
                                         into="Clinical writing", note="reviewers could not tell them apart",
                                         actor="lead")
    assert version.renames == {"Clinical documentation": "Clinical writing",
                               "Patient communication": "Clinical writing"}
    assert category_names(labeled, version.id) == ["Clinical writing", "Coding", "Research", "Other"]
    assert stored_labels(engine) == before  # the rows still say what reviewers chose under v1
    report = agreement_for_rounds(labeled, ["r1"], n_boot=0)
    assert report["per_category"]["Clinical writing"]["n_ratings"] == 8 * 3
    assert not {"Clinical documentation", "Patient communication"} & set(report["per_category"])
    ratings = read_consensus(labeled, ["r1"]).ratings()  # the stored labels, mapped through the renames
    assert set(ratings["category"]) == {"Clinical writing", "Coding"}
    assert report["krippendorff_alpha"] == pytest.approx(krippendorff_alpha_nominal(ratings)) == pytest.approx(1.0)
    assert old_alpha < 1.0  # the disagreement was only between the merged categories


def test_merge_into_one_of_the_sources_keeps_its_place_and_pools_examples(labeled):
    refine.edit_category(labeled, name="Patient communication", examples=["Reply to a patient"], actor="lead")
    refine.edit_category(labeled, name="Clinical documentation", examples=["Draft a discharge note"], actor="lead")
    version, _ = refine.merge_categories(labeled, sources=["Patient communication", "Clinical documentation"],
                                         into="Clinical documentation", actor="lead")
    cats = list_categories(labeled, version.id)
    assert [c.name for c in cats] == ["Clinical documentation", "Coding", "Research", "Other"]
    assert cats[0].examples == ["Draft a discharge note", "Reply to a patient"]
    assert cats[0].definition == "Threads about clinical documentation."
    assert version.renames == {"Patient communication": "Clinical documentation"}
    with pytest.raises(InvalidInput):
        refine.merge_categories(labeled, sources=["Coding"], into="Coding", actor="lead")


def test_split_retires_the_category_and_old_labels_keep_its_name(labeled, engine):
    before = stored_labels(engine)
    version, _ = refine.split_category(labeled, name="Coding", parts=[
        CategoryDraft("Writing code", "New code."), CategoryDraft("Fixing code", "Debugging.", ["fix my regex"])],
        note="two tasks", actor="lead")
    everything = list_categories(labeled, version.id, active_only=False)
    assert [(c.name, c.active) for c in everything] == [
        ("Clinical documentation", True), ("Patient communication", True), ("Coding", False),
        ("Writing code", True), ("Fixing code", True), ("Research", True), ("Other", True)]
    assert "Coding" not in category_names(labeled, version.id)
    assert version.renames is None and stored_labels(engine) == before
    report = agreement_for_rounds(labeled, ["r1"], n_boot=0)
    assert report["per_category"]["Coding"]["n_ratings"] == 12
    with pytest.raises(InvalidInput):
        refine.split_category(labeled, name="Research", parts=[CategoryDraft("Only one")], actor="lead")
    with pytest.raises(Conflict):
        refine.split_category(labeled, name="Research", parts=[CategoryDraft("coding"), CategoryDraft("B")],
                              actor="lead")


def test_edit_retire_add_and_validation(labeled, engine):
    v2, created = refine.edit_category(labeled, name="Research", definition="Study design, literature, grants.",
                                       medhelm_category="Clinical Research", actor="lead")
    assert created and v2.version == 2 and v2.note == "edit 'Research' (definition, medhelm_category)"
    assert refine.edit_category(labeled, name="Research", definition=" Study design, literature, grants. ",
                                actor="lead") == (v2, False)
    v3, _ = refine.retire_category(labeled, name="Research", actor="lead")
    assert "Research" not in category_names(labeled, v3.id)
    with pytest.raises(InvalidInput, match="already retired"):
        refine.retire_category(labeled, name="Research", actor="lead")
    v4, _ = refine.add_category(labeled, name="Scheduling", definition="Shifts and rotas.", actor="lead")
    assert category_names(labeled, v4.id)[-2:] == ["Scheduling", "Other"]
    v5, _ = refine.edit_category(labeled, name="Research", active=True, actor="lead")
    assert "Research" in category_names(labeled, v5.id)
    n_versions = count_rows(engine, CodebookVersion)
    with pytest.raises(Conflict, match="already has a category 'Coding'"):
        refine.add_category(labeled, name="  coding ", actor="lead")
    with pytest.raises(Conflict):
        refine.rename_category(labeled, old="Research", new="Other", actor="lead")
    with pytest.raises(NotFound):
        refine.edit_category(labeled, name="Nope", definition="x", actor="lead")
    with pytest.raises(InvalidInput):
        refine.add_category(labeled, name=" ", actor="lead")
    assert count_rows(engine, CodebookVersion) == n_versions


def test_renames_chain_through_rename_then_merge(labeled):
    refine.rename_category(labeled, old="Coding", new="Programming", actor="lead")
    refine.merge_categories(labeled, sources=["Programming", "Research"], into="Technical", actor="lead")
    assert codebook_renames(labeled) == {"Coding": "Technical", "Programming": "Technical", "Research": "Technical"}
    assert agreement_for_rounds(labeled, ["r1"], n_boot=0)["per_category"]["Technical"]["n_ratings"] == 12


def test_diff_versions_lists_changes_side_by_side(labeled):
    refine.edit_category(labeled, name="Research", definition="Study design.", examples=["Power calculation"],
                         actor="lead")
    refine.rename_category(labeled, old="Coding", new="Programming", actor="lead")
    refine.merge_categories(labeled, sources=["Patient communication"], into="Clinical documentation", actor="lead")
    refine.add_category(labeled, name="Scheduling", definition="Rotas.", actor="lead")
    rows = refine.diff_versions(labeled, 5, 1)  # order does not matter: older -> newer
    got = {(r["category"], r["change"], r["field"]): (r["old"], r["new"]) for r in rows}
    assert got == {
        ("Research", "changed", "definition"): ("Threads about research.", "Study design."),
        ("Research", "changed", "examples"): ("", "Power calculation"),
        ("Programming", "renamed", "name"): ("Coding", "Programming"),
        ("Clinical documentation", "merged", "name"): ("Patient communication", "Clinical documentation"),
        ("Scheduling", "added", "definition"): (None, "Rotas."),
        ("Scheduling", "added", "active"): (None, "yes"),
    }
    assert refine.diff_versions(labeled, 2, 2) == []
    retired = refine.retire_category(labeled, name="Research", actor="lead")[0]
    assert refine.diff_versions(labeled, 5, retired.version) == [
        {"category": "Research", "change": "changed", "field": "active", "old": "yes", "new": "no (retired)"}]


def test_evidence_follows_the_category_through_a_rename(labeled):
    rnd = require_round(labeled, "r1")
    tid = labeled.execute(select(Thread.id).where(Thread.external_id == "t5-000003")).scalar_one()
    from annotator.services.adjudication import resolve

    resolve(labeled, round_id=rnd.id, thread_id=tid, category="Coding", rationale="agreed", actor="lead")
    tag_definition_problem(labeled, round_id=rnd.id, thread_id=tid, flag=True, comment="scripts vs macros?",
                           actor="lead")
    run = ModelRun(backend="local", model="m", codebook_version_id=rnd.codebook_version_id, status="done")
    labeled.add(run)
    labeled.commit()
    tag_error(labeled, run_id=run.id, thread_id=tid, tag="ambiguous_definition", comment="Excel formulas?",
              category="Coding", actor="lead")
    tag_error(labeled, run_id=run.id, thread_id=tid + 1, tag="model_error", comment="", category="Coding", actor="lead")
    refine.rename_category(labeled, old="Coding", new="Programming", actor="lead")
    evidence = refine.category_evidence(labeled, "Programming")
    assert [e["comment"] for e in evidence["definition_problems"]] == ["scripts vs macros?"]
    assert [e["comment"] for e in evidence["ambiguous_definition"]] == ["Excel formulas?"]
    assert refine.category_evidence(labeled, "Research") == {"definition_problems": [], "ambiguous_definition": []}


# --- candidate examples ---------------------------------------------------------------------------------

def llm(fake: FakeOpenAI) -> LLMConfig:
    return LLMConfig(base_url=fake.base_url, api_key="test", timeout=5.0, max_retries=1)


def test_llm_candidates_are_classified_votes_pick_the_examples(labeled, engine):
    accounts = dict(labeled.execute(select(Account.username, Account.id)).all())
    with FakeOpenAI() as fake:
        rows = refine.propose_candidates(labeled, category="Coding", backend="openai", cfg=llm(fake), n=5,
                                         actor="lead")
        kinds = [r.attrs["task"] for r in fake.chat_requests()]
    assert kinds == ["propose"] + [None] * 5  # one proposal, then each candidate classified
    assert len(rows) == 5 and {r.classified_as for r in rows} == {"Coding"} and {r.source for r in rows} == {"llm"}
    with FakeOpenAI(answer=lambda user, names: "Research") as fake:  # the same five texts come back
        more = refine.propose_candidates(labeled, category="Coding", backend="openai", cfg=llm(fake), n=5,
                                         actor="lead")
    assert more == []  # the same five texts are not stored twice
    c = [r.id for r in rows]
    labeled.add(CandidateExample(codebook_version_id=rows[0].codebook_version_id, category="Coding", text="misfit",
                                 classified_as="Research"))
    labeled.commit()
    misfit = labeled.execute(select(CandidateExample.id).where(CandidateExample.text == "misfit")).scalar_one()
    assert refine.vote(labeled, c[3], accounts["alice"])[1] is True
    assert refine.vote(labeled, c[3], accounts["alice"])[1] is False  # idempotent
    refine.vote(labeled, c[3], accounts["bob"])
    refine.vote(labeled, misfit, accounts["alice"])
    refine.vote(labeled, c[4], accounts["bob"])
    refine.vote(labeled, c[1], accounts["carol"])
    assert refine.unvote(labeled, c[1], accounts["carol"]) and not refine.unvote(labeled, c[1], accounts["carol"])
    top = refine.top_candidates(labeled, "Coding", k=3)
    assert [t["id"] for t in top] == [c[3], c[4], misfit]  # 2 votes; then 1 vote, fitting before misfit
    assert top[0]["voters"] == ["alice", "bob"] and top[0]["fits"] and not top[2]["fits"]
    version, created = refine.adopt_top_examples(labeled, "Coding", actor="lead")
    coding = next(cat for cat in list_categories(labeled, version.id) if cat.name == "Coding")
    assert created and coding.examples == [t["text"] for t in top]
    with pytest.raises(InvalidInput, match="no candidate of 'Research' has a vote"):
        refine.adopt_top_examples(labeled, "Research", actor="lead")
    with pytest.raises(NotFound):
        refine.vote(labeled, 10**6, accounts["alice"])


def test_llm_candidates_need_an_endpoint_and_a_known_category(labeled):
    with pytest.raises(InvalidInput, match="needs an LLM endpoint"):
        refine.propose_candidates(labeled, category="Coding", backend="openai", cfg=None, actor="lead")
    with pytest.raises(NotFound):
        refine.propose_candidates(labeled, category="Astrology", backend="local", actor="lead")
    with FakeOpenAI() as fake:
        fake.queue_faults(["malformed", "malformed"])
        with pytest.raises(AnnotatorError, match="no usable example messages"):
            refine.propose_candidates(labeled, category="Coding", backend="openai", cfg=llm(fake), actor="lead")
    assert count_rows(labeled.get_bind(), CandidateExample) == 0


TOPICS = {
    "Coding": "please fix my python script error in the sql query loop",
    "Clinical documentation": "draft a discharge summary note for the chart of this patient",
    "Patient communication": "write a kind reply to the patient about their appointment",
}


def test_local_candidates_are_threads_near_the_centroid_classified_by_a_held_out_model(session):
    make_codebook(session, CODING)
    names = list(TOPICS) * 4
    texts = [f"{TOPICS[n]} case {i}" for i, n in enumerate(names)]
    texts[0] = "python " + texts[0]
    make_threads(session, len(texts), seed=9, text=texts)
    make_round(session, name="r1", size=len(texts), reviewers=REVIEWERS, per_thread=3, seed=9)
    label_round(session, "r1", lambda ext, _r: names[int(ext.rsplit("-", 1)[1])])
    rows = refine.propose_candidates(session, category="Coding", backend="local", n=2, actor="lead", seed=0)
    assert len(rows) == 2 and {r.source for r in rows} == {"local"}
    assert all("python script" in r.text for r in rows) and {r.classified_as for r in rows} == {"Coding"}
    with pytest.raises(InvalidInput, match="no consensus-labeled thread of 'Research'"):
        refine.propose_candidates(session, category="Research", backend="local", actor="lead")


# --- the Other review -----------------------------------------------------------------------------------

OTHER_TEXTS = {0: "what is tesla stock today [[name: Stock prices]]", 1: "price of apple shares [[name: Stock price]]",
               2: "baby shower game ideas [[name: Party games]]", 3: "fun party game for kids [[name: Party games]]",
               4: "stock market tips please [[name: Stock market]]",
               5: "birthday party game [[name: Party game ideas]]"}


@pytest.fixture
def others(session):
    """r1: threads 0-5 labeled Other by everyone, threads 6-9 Coding."""
    make_codebook(session, CODING)
    texts = [OTHER_TEXTS.get(i, f"fix my python code number {i}") for i in range(10)]
    make_threads(session, 10, seed=4, text=texts)
    make_round(session, name="r1", size=10, reviewers=REVIEWERS, per_thread=3, seed=4)
    label_round(session, "r1", lambda ext, _r: "Other" if int(ext.rsplit("-", 1)[1]) < 6 else "Coding")
    return session


def test_other_names_from_the_llm_are_cached_and_grouped(others):
    with FakeOpenAI() as fake:
        first = refine.suggest_other_names(others, round_name="r1", cfg=llm(fake), actor="lead")
        again = refine.suggest_other_names(others, round_name="r1", cfg=llm(fake), actor="lead")
        asked = fake.count("chat")
    assert (first.source, first.n_other, first.n_cached, first.n_new, first.n_failed) == ("round:r1", 6, 0, 6, 0)
    assert (again.n_cached, again.n_new) == (6, 0) and asked == 6
    stored = others.execute(select(OtherSuggestion.suggested_name, OtherSuggestion.model)).all()
    assert sorted(n for n, _ in stored)[:2] == ["Party game ideas", "Party games"]
    assert {m for _, m in stored} == {"gpt-4o"}
    groups = refine.group_suggestions(others, "round:r1", seed=0)
    assert [(g["name"], g["n"]) for g in groups] == [("Party games", 3), ("Stock market", 3)]  # ties: alphabetical
    party = groups[0]
    assert {n for n, _ in party["names"]} == {"Party games", "Party game ideas"} and party["k"] == 2
    assert party["silhouette"] is not None and len(party["examples"]) == 3 and len(party["threads"]) == 3
    assert refine.group_suggestions(others, "round:r1", seed=0) == groups  # seeded: the same groups
    assert [g["n"] for g in refine.group_suggestions(others, "round:r1", k=1)] == [6]
    version, created = refine.create_category_from_group(others, party, actor="lead")
    cats = list_categories(others, version.id)
    assert created and [c.name for c in cats][-2:] == ["Party games", "Other"]
    assert cats[-2].examples == party["examples"] and "suggested names: Party games (2)" in cats[-2].definition
    assert "from the Other review of round:r1" in version.note


def test_other_names_locally_and_for_a_model_run(others):
    version_id = require_version(others).id
    run = ModelRun(backend="local", model="m", codebook_version_id=version_id, status="done")
    others.add(run)
    others.flush()
    ids = others.execute(select(Thread.id).order_by(Thread.id)).scalars().all()
    others.add_all([Prediction(run_id=run.id, thread_id=t, category="Other" if i in (2, 3) else "Coding")
                    for i, t in enumerate(ids[:9])] + [Prediction(run_id=run.id, thread_id=ids[9], status="failed")])
    others.commit()
    result = refine.suggest_other_names(others, run_id=run.id, backend="local", actor="lead")
    assert (result.source, result.n_other, result.n_new, result.requests) == (f"run:{run.id}", 2, 2, 0)
    names = dict(others.execute(select(OtherSuggestion.thread_id, OtherSuggestion.suggested_name)
                                .where(OtherSuggestion.source == f"run:{run.id}")).all())
    assert set(names) == {ids[2], ids[3]} and all(" / " in n for n in names.values())
    assert "baby" in names[ids[2]] and "kids" in names[ids[3]]
    groups = refine.group_suggestions(others, f"run:{run.id}")
    assert len(groups) == 1 and groups[0]["silhouette"] is None and "one group" in groups[0]["silhouette_note"]
    assert refine.suggestion_sources(others) == [f"run:{run.id}"]
    with pytest.raises(InvalidInput):
        refine.suggest_other_names(others, round_name="r1", run_id=run.id, backend="local", actor="lead")
    with pytest.raises(NotFound):
        refine.suggest_other_names(others, run_id=10**6, backend="local", actor="lead")
    assert refine.group_suggestions(others, "round:none") == []


# --- versions compared ----------------------------------------------------------------------------------

def add_run(session, version_id: int, predict: Callable[[str], str | None], scope: str = "round:r1") -> ModelRun:
    run = ModelRun(backend="local", model="tfidf", codebook_version_id=version_id, scope=scope, status="done")
    session.add(run)
    session.flush()
    for tid, ext in session.execute(select(Thread.id, Thread.external_id)).all():
        cat = predict(ext)
        session.add(Prediction(run_id=run.id, thread_id=tid, category=cat, status="ok" if cat else "failed"))
    session.commit()
    return run


def test_version_comparison_reports_alpha_and_model_per_version(labeled):
    v1 = require_version(labeled)
    run = add_run(labeled, v1.id,
                  lambda ext: "Coding" if int(ext.rsplit("-", 1)[1]) % 3 == 0 else "Clinical documentation")
    refine.merge_categories(labeled, sources=["Clinical documentation", "Patient communication"],
                            into="Clinical writing", actor="lead")
    make_round(labeled, name="r2", size=12, reviewers=REVIEWERS, per_thread=3, seed=6)
    label_round(labeled, "r2", lambda ext, r: "Coding" if r != "carol" else "Research")
    make_round(labeled, name="unlabeled", size=3, reviewers=REVIEWERS, per_thread=3, seed=8)
    # r1 and r2 hold disagreements nobody has adjudicated: the model column would rest on the easy threads only
    with pytest.raises(PendingThreads, match=r"round 'r1': 4 of 12 sampled threads are pending .*round 'r2'"):
        refine.version_comparison(labeled, n_boot=200, seed=3)
    table = refine.version_comparison(labeled, n_boot=200, seed=3, allow_pending=True)
    assert list(table.columns) == refine.COMPARISON_COLUMNS and list(table["version"]) == [1, 2]
    one, two = table.iloc[0], table.iloc[1]
    expected = agreement_for_rounds(labeled, ["r1"], n_boot=200, seed=3)
    assert one["rounds"] == "r1" and one["alpha"] == pytest.approx(expected["krippendorff_alpha"])
    assert [one["alpha_ci_low"], one["alpha_ci_high"]] == pytest.approx(expected["krippendorff_alpha_ci95"])
    model = compare_run(labeled, run.id, round_name="r1", n_boot=0, allow_pending=True)
    assert (one["run_id"], one["model_round"], one["n_scored"]) == (run.id, "r1", model["n"]) == (run.id, "r1", 8)
    assert one["accuracy"] == pytest.approx(model["accuracy"]) == pytest.approx(1.0)  # merged names agree
    assert one["macro_f1"] == pytest.approx(model["macro_f1"]) and one["kappa"] == pytest.approx(model["cohen_kappa"])
    assert one["note"] == "model: 4 pending thread(s) left out: the decided subset, not a random sample"
    assert two["rounds"] == "r2" and two["alpha"] < 0 and pd.isna(two["accuracy"])
    assert "model: no finished model run with this version" in two["note"]
    png = refine.comparison_chart_png(table)
    assert png is not None and png.startswith(b"\x89PNG")
    assert refine.comparison_chart_png(table.assign(alpha=None, macro_f1=None)) is None


def test_version_comparison_without_rounds_explains_the_gaps(session):
    make_codebook(session, CODING)
    table = refine.version_comparison(session, n_boot=0)
    assert table["alpha"].isna().all()
    assert table.iloc[0]["note"] == ("alpha: no round labeled under this version; "
                                     "model: no finished model run with this version")


# --- command line ---------------------------------------------------------------------------------------

def test_cli_candidates_suggest_other_and_versions(others, db_url, monkeypatch):
    from tests.factories import run_cli

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANNOTATOR_OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANNOTATOR_LLM_BASE_URL", raising=False)
    res = run_cli(["suggest-other", "--round", "r1", "--backend", "local"], db_url)
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("round:r1: 6 threads labeled Other, 0 named before, 6 named now, 0 failed;")
    with FakeOpenAI() as fake:
        res = run_cli(["candidates", "--category", "Coding", "-n", "3", "--base-url", fake.base_url], db_url)
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "3 new candidates for 'Coding' (openai); 3 classified as 'Coding'" and len(lines) == 4
    assert lines[1].startswith("  #1 [Coding] Need help with")
    res = run_cli(["candidates", "--category", "Coding"], db_url)
    assert res.exit_code == 1 and res.stderr.startswith("error: no API key")
    res = run_cli(["suggest-other", "--backend", "local"], db_url)
    assert res.exit_code == 2 and "exactly one of --round NAME or --run ID" in res.stderr
    res = run_cli(["versions", "--n-boot", "50"], db_url)
    assert res.exit_code == 0, res.stderr
    out = res.stdout.splitlines()
    assert out[0].split()[:2] == ["version", "alpha"] and out[1].split()[0] == "1" and "r1 / no run" in out[1]
    assert out[2].strip() == "model: no finished model run with this version"
    res = run_cli(["versions", "--format", "csv", "--n-boot", "0"], db_url)
    assert res.stdout.splitlines()[0] == ",".join(refine.COMPARISON_COLUMNS)
