"""The codebook page's editor (pages/codebook.py) driven through the real router with AppTest: leads edit,
rename, merge, see changes, propose and vote on candidates, review Other threads, compare versions;
reviewers are refused."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from annotator.data.models import Account, Assignment, CandidateVote, CodebookVersion
from annotator.services.codebook import category_names, list_categories, require_version
from annotator.services.labeling import submit_label
from annotator.services.rounds import require_round
from tests.fake_openai import FakeOpenAI
from tests.pages.conftest import main_elements, open_page, page_text

PAGE = "codebook.py"


def buttons(at, label: str) -> list:
    return [b for b in at.button if b.label == label]


def flashed(at) -> list[str]:
    return [e.value for e in at.success] + [e.value for e in at.error]


def tab(at, name: str):
    """Open a tab of the editor (the tabs keep their state; only the open tab runs)."""
    at.session_state["codebook.tab"] = name
    return at.run()


def edit(at, category: str):
    """Pick the category the Edit tab shows."""
    return at.selectbox(key="codebook.edit_category").set_value(category).run()


def versions(db) -> list[int]:
    db.expire_all()
    return [v for v in db.execute(select(CodebookVersion.version).order_by(CodebookVersion.version)).scalars()]


def test_reviewer_is_not_allowed(app, world):
    at = open_page(app(world.reviewer), PAGE)
    shown = main_elements(at)
    assert not at.exception and len(shown) == 1 and shown[0].value.startswith("Not allowed")


def test_lead_edits_a_definition_then_renames_and_merges(app, world, db):
    at = open_page(app(world.lead), PAGE)
    assert not at.exception, at.exception
    assert [t.label for t in at.tabs] == ["Edit", "Changes", "Candidate examples", "Other review",
                                         "Versions compared", "Load / export"]
    at = edit(at, "Research")
    at.text_area(key="codebook.v1.2.definition").set_value("Study design, literature and grants.")
    at.text_input(key="codebook.v1.2.note").set_value("per meeting 3")
    at = buttons(at, "Save changes")[0].click().run()
    assert "Saved as codebook version 2." in flashed(at)
    v2 = require_version(db)
    research = next(c for c in list_categories(db, v2.id) if c.name == "Research")
    assert research.definition == "Study design, literature and grants."
    assert v2.note == "edit 'Research' (definition): per meeting 3" and v2.created_by == "lead1"

    assert at.selectbox(key="codebook.edit_category").value == "Research"  # still on the category just saved
    at = edit(at, "Coding")
    at.text_input(key="codebook.v2.3.new_name").set_value("Programming")
    at = buttons(at, "Rename")[0].click().run()
    assert "Saved as codebook version 3." in flashed(at)
    at.multiselect(key="codebook.v3.merge.sources").set_value(["Clinical documentation", "Patient communication"])
    at.text_input(key="codebook.v3.merge.into").set_value("Clinical writing")
    at = buttons(at, "Merge")[0].click().run()
    assert "Saved as codebook version 4." in flashed(at)
    assert category_names(db, require_version(db).id) == ["Clinical writing", "Research", "Programming", "Other"]

    at = tab(at, "Changes")
    diff = next(h.proto.body for h in at.get("html") if "cbdiff" in h.proto.body)  # right after the save: 3 -> 4
    assert "version 3 → version 4" in diff and "<td>Clinical writing</td><td>merged</td>" in diff
    at.selectbox(key="codebook.diff_a.4").set_value(1)
    at = at.selectbox(key="codebook.diff_b.4").set_value(4).run()
    diff = next(h.proto.body for h in at.get("html") if "cbdiff" in h.proto.body)
    for row in ("<td>Programming</td><td>renamed</td>", "<td>Clinical writing</td><td>merged</td>",
                "<td>Research</td><td>changed</td><td>definition</td>"):
        assert row in diff
    assert "<del>" in diff and "<ins>" in diff and "grants.</ins>" in diff  # word-level marks
    at = tab(at, "Edit")
    at.text_input(key="codebook.v4.add.name").set_value("programming")
    at = buttons(at, "Add category")[0].click().run()
    assert any(m.startswith("the codebook already has a category 'Programming'") for m in flashed(at))
    assert versions(db) == [1, 2, 3, 4]


def test_old_versions_are_read_only(app, world, db):
    at = open_page(app(world.lead), PAGE)
    assert at.selectbox(key="codebook.edit_category").value == "Clinical documentation"  # the first by default
    at.text_input(key="codebook.v1.0.new_name").set_value("Notes")
    at = buttons(at, "Rename")[0].click().run()
    at = at.selectbox(key="codebook.edit_version.2").set_value(1).run()
    assert not buttons(at, "Save changes") and not buttons(at, "Merge")
    assert "Threads about research." in page_text(at)


@pytest.fixture
def llm_env(monkeypatch):
    with FakeOpenAI() as fake:
        monkeypatch.setenv("ANNOTATOR_LLM_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        yield fake


def test_candidates_propose_vote_and_adopt(app, world, db, llm_env):
    at = tab(open_page(app(world.lead), PAGE), "Candidate examples")
    at = at.selectbox(key="codebook.cand.category").set_value("Coding").run()
    at = at.button(key="codebook.cand.propose").click().run()
    assert "5 new candidate(s) for 'Coding'." in flashed(at)
    text = page_text(at)
    assert "✓ classified as its category" in text and text.count("Need help with") >= 5
    vote_keys = sorted(b.key for b in at.button if (b.key or "").startswith("codebook.cand.vote."))
    assert len(vote_keys) == 5
    at = at.button(key=vote_keys[1]).click().run()
    assert "Vote recorded." in flashed(at)
    assert at.button(key=vote_keys[1]).label == "Unvote"  # still on the candidates tab after the action
    assert at.session_state["codebook.tab"] == "Candidate examples" and not buttons(at, "Save changes")
    db.expire_all()
    assert db.execute(select(CandidateVote.voter_id)).scalars().all() == [world.lead.id]
    at = at.button(key="codebook.cand.adopt").click().run()
    assert "Saved as codebook version 2." in flashed(at)
    coding = next(c for c in list_categories(db, require_version(db).id) if c.name == "Coding")
    assert len(coding.examples) == 1 and coding.examples[0].startswith("Need help with")


def test_candidates_without_an_llm_endpoint_say_so(app, world, monkeypatch):
    for var in ("OPENAI_API_KEY", "ANNOTATOR_OPENAI_API_KEY", "ANNOTATOR_LLM_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    at = tab(open_page(app(world.lead), PAGE), "Candidate examples")
    at = at.button(key="codebook.cand.propose").click().run()
    assert any("needs an LLM endpoint" in m for m in flashed(at))


def test_other_review_names_groups_and_creates_a_category(app, world, db):
    rnd = require_round(db, world.round_name)
    for tid, rid in db.execute(select(Assignment.thread_id, Assignment.reviewer_id)
                               .where(Assignment.round_id == rnd.id)).all():
        submit_label(db, round_id=rnd.id, thread_id=tid, reviewer_id=rid, category="Other", actor="t")
    at = tab(open_page(app(world.lead), PAGE), "Other review")
    at = at.radio(key="codebook.other.backend").set_value("local").run()
    at = at.button(key="codebook.other.suggest").click().run()
    assert "round:r1: 6 Other threads, 6 named now, 0 named before, 0 failed." in flashed(at)
    create = buttons(at, "Create category")
    assert create, page_text(at)
    at.text_input(key="codebook.other.group.round:r1.0.name").set_value("Personal use")
    at = create[0].click().run()
    assert "Saved as codebook version 2." in flashed(at)
    cats = list_categories(db, require_version(db).id)
    assert [c.name for c in cats][-2:] == ["Personal use", "Other"] and cats[-2].examples


def test_versions_compared_table_and_chart(app, world, db):
    rnd = require_round(db, world.round_name)
    names = {a.id: a.username for a in db.execute(select(Account)).scalars()}
    for tid, rid in db.execute(select(Assignment.thread_id, Assignment.reviewer_id)
                               .where(Assignment.round_id == rnd.id)).all():
        submit_label(db, round_id=rnd.id, thread_id=tid, reviewer_id=rid,
                     category="Coding" if names[rid] != "rev3" or tid % 2 else "Research", actor="t")
    at = tab(open_page(app(world.lead), PAGE), "Versions compared")
    at = at.button(key="codebook.compare").click().run()
    assert not at.exception, at.exception
    # rev3 disagrees on half the threads and nobody adjudicated: the model column would rest on a biased subset
    (warning,) = [w.value for w in at.warning]
    assert warning.startswith("round 'r1': 3 of 6 sampled threads are pending") and "tick the box" in warning
    assert "--allow-pending" not in warning and not at.get("image")
    at.checkbox(key="codebook.compare_pending").check()
    at = at.button(key="codebook.compare").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[-1].value
    assert list(table["version"]) == [1] and table["rounds"][0] == "r1" and table["alpha"][0] < 1
    assert len(at.get("image")) == 1


def test_reviewer_votes_on_the_candidates_page(world, db, app_db):
    from streamlit.testing.v1 import AppTest

    from annotator.data.models import CandidateExample
    from tests.pages.conftest import ROOT, token_for

    version = require_version(db)
    db.add_all([CandidateExample(codebook_version_id=version.id, category="Coding", text=f"fix my script {i}",
                                 classified_as="Coding") for i in range(3)])
    db.commit()
    at = AppTest.from_file(str(ROOT / "pages" / "candidates.py"), default_timeout=30)
    at.session_state["auth.token"] = token_for(world.reviewer)
    at = at.run()
    at = at.selectbox(key="candidates.category").set_value("Coding").run()
    assert "fix my script 2" in page_text(at) and "vote(s)" not in page_text(at)  # no counts shown: no nudging
    ids = sorted(b.key for b in at.button)
    at = at.button(key=ids[0]).click().run()
    assert at.button(key=ids[0]).label == "Unvote"
    db.expire_all()
    assert db.execute(select(CandidateVote.voter_id)).scalars().all() == [world.reviewer.id]
    at = at.button(key=ids[0]).click().run()
    db.expire_all()
    assert db.execute(select(CandidateVote)).scalars().all() == []


def test_changes_right_after_a_save_show_that_save(app, world, db):
    """The Changes tab compares the newest version with the one before as soon as a save made it."""
    at = tab(open_page(app(world.lead), PAGE), "Changes")
    assert "No differences" not in page_text(at) and "both are 1" in page_text(at)  # one version only
    at = tab(at, "Edit")
    at = edit(at, "Research")
    at.text_area(key="codebook.v1.2.definition").set_value("Threads about <b>clinical</b> research.")
    at = buttons(at, "Save changes")[0].click().run()
    at = tab(at, "Changes")
    assert at.selectbox(key="codebook.diff_a.2").value == 1 and at.selectbox(key="codebook.diff_b.2").value == 2
    diff = next(h.proto.body for h in at.get("html") if "cbdiff" in h.proto.body)
    assert "Threads about <ins>&lt;b&gt;clinical&lt;/b&gt; </ins>research." in diff  # escaped, word level
