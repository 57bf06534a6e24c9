"""A methodologist's round in the order of real work, through the command line, on SQLite and PostgreSQL.

Import a codebook and threads, draw a round, import three reviewers' labels (with disagreements and
"unsure"), train the local model, ask for the model, prevalence and agreement reports before
adjudication (refused, naming the round, the pending threads and the ways out; figures with
--allow-pending say so first), settle the pending threads with a meeting sheet (export consensus,
fill in, import-decisions), train again, and ask again: the model report's figures are the out-of-fold
ones (equal to scikit-learn's own K-fold evaluation, not the in-sample 100%), reviewers are scored
against references without them, and the model is compared with the reviewers as one of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sqlalchemy import select, update
from sqlmodel import Session

from annotator.data.models import Assignment, ModelRun, Round, Thread, TrainingThread
from annotator.llm.local import build_pipeline
from tests.factories import run_cli

CATEGORIES = ["Coding", "Research", "Email", "Other"]
WORDS = {
    "Coding": "python script sql function bug error query code".split(),
    "Research": "study cohort trial statistics paper abstract grant data".split(),
    "Email": "email reply letter draft manager meeting invite colleague".split(),
    "Other": "recipe holiday weather football movie garden music travel".split(),
}
FILLER = "please help me with this the a for and today quickly can you".split()
REVIEWERS = ("ann", "ben", "cas")


def ok(result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stdout}{result.stderr}"
    return result.stdout


def corpus(n: int, seed: int) -> pd.DataFrame:
    """Threads whose words mostly come from their true category, some from another (hard threads)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        truth = CATEGORIES[int(rng.choice(4, p=[0.4, 0.25, 0.25, 0.1]))]
        other = CATEGORIES[int(rng.integers(4))]
        words = list(rng.choice(WORDS[truth], 3)) + list(rng.choice(WORDS[other], int(rng.integers(0, 3)))) \
            + list(rng.choice(FILLER, 4))
        rng.shuffle(words)
        rows.append({"thread_id": f"T{i:04d}", "text": "user: " + " ".join(words), "truth": truth,
                     "created_at": f"2024-0{1 + i % 6}-1{i % 9}T10:00:00Z", "department": "ED", "role": "Physician"})
    return pd.DataFrame(rows)


def reviewer_labels(threads: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Each reviewer right with probability 0.85 (cas 0.7), else a random category; a few marked unsure."""
    rng = np.random.default_rng(seed)
    rows = []
    for tid, truth in zip(threads["thread_id"], threads["truth"]):
        for reviewer in REVIEWERS:
            right = rng.random() < (0.7 if reviewer == "cas" else 0.85)
            cat = truth if right else CATEGORIES[int(rng.integers(4))]
            rows.append({"thread_id": tid, "reviewer": reviewer, "category": cat,
                         "unsure": "yes" if rng.random() < 0.03 else ""})
    return pd.DataFrame(rows)


@pytest.fixture
def study(db_url, tmp_path) -> dict:
    """Codebook, 240 threads, a 90-thread round labelled by three reviewers (imported from their sheet)."""
    codebook = tmp_path / "codebook.json"
    codebook.write_text(json.dumps({"name": "study", "categories": [{"name": c} for c in CATEGORIES]}))
    ok(run_cli(["import-codebook", codebook], db_url))
    threads = corpus(240, seed=1)
    threads.drop(columns="truth").to_csv(tmp_path / "threads.csv", index=False)
    ok(run_cli(["import-threads", tmp_path / "threads.csv"], db_url))
    ok(run_cli(["sample", "--round", "pilot", "--size", 90, "--reviewers", ",".join(REVIEWERS), "--per-thread", 3,
                "--seed", 7], db_url))
    from annotator.data.engine import make_engine

    engine = make_engine(db_url)
    with Session(engine) as s:
        rnd = s.execute(select(Round).where(Round.name == "pilot")).scalars().one()
        sampled = set(s.execute(select(Thread.external_id).join(Assignment, Assignment.thread_id == Thread.id)
                                .where(Assignment.round_id == rnd.id)).scalars())
    engine.dispose()
    labels = reviewer_labels(threads[threads["thread_id"].isin(sampled)], seed=2)
    labels.to_csv(tmp_path / "labels.csv", index=False)
    ok(run_cli(["import-labels", tmp_path / "labels.csv", "--round", "pilot"], db_url))
    return {"threads": threads.set_index("thread_id"), "sampled": sorted(sampled), "labels": labels}


def report(db_url, *args) -> dict:
    return json.loads(ok(run_cli(["report", *map(str, args), "--format", "json"], db_url)))


def test_a_round_before_and_after_adjudication(db_url, study, tmp_path):
    # -- the local model, trained on what is decided so far (the unanimous threads) ---------------------
    ok(run_cli(["classify", "--all", "--backend", "local"], db_url))

    # -- reports before adjudication ------------------------------------------------------------------------
    for args in (["report", "model", "--round", "pilot"], ["report", "prevalence"], ["versions"]):
        res = run_cli(args, db_url)
        assert res.exit_code == 1 and res.stdout == "", args
        [line] = res.stderr.strip().splitlines()
        assert line.startswith("error: round 'pilot': ") and "of 90 sampled threads are pending (" in line, line
        assert "first: T" in line and "'annotator import-decisions FILE --round pilot'" in line
        assert "--allow-pending" in line and "Adjudicate page" in line
    agreement = report(db_url, "agreement", "--round", "pilot", "--boot", 200)
    pending = agreement["consensus_pending"]
    assert 10 < pending < 90
    assert f"{pending} of 90 threads await adjudication" in agreement["resolution"]
    loo = agreement["per_reviewer_vs_others"]
    assert loo["cas"]["accuracy"] < loo["ann"]["accuracy"] < 1 and all(r["n"] > 40 for r in loo.values())
    md = ok(run_cli(["report", "agreement", "--round", "pilot", "--format", "md", "--boot", 0], db_url))
    methods = md.split("## Methods\n\n", 1)[1].split("\n", 1)[0]
    assert f"{pending} of 90 threads await adjudication" in methods and "were decided by" not in methods
    early = report(db_url, "model", "--round", "pilot", "--allow-pending", "--boot", 100)
    assert early["pending"] == pending and early["n"] == 90 - pending
    md = ok(run_cli(["report", "model", "--round", "pilot", "--allow-pending", "--boot", 0, "--format", "md"], db_url))
    assert md.split("\n")[2].startswith(f"Caution: {pending} sampled thread(s) of the round still await a decision")
    prevalence = report(db_url, "prevalence", "--allow-pending")
    assert prevalence["pending"] == pending and "simple random sample" not in prevalence["design"]
    assert "a simple random sample of" not in prevalence["method_description"]
    assert "not a random sample themselves" in prevalence["method_description"]
    md = ok(run_cli(["report", "prevalence", "--allow-pending", "--format", "md"], db_url))
    assert md.split("\n")[2].startswith(f"Caution: {pending} sampled thread(s) still await a decision")
    assert "(simple random sample)" not in md

    # -- the consensus meeting: export, fill in the pending rows, import ---------------------------------------
    sheet_path = tmp_path / "meeting.csv"
    ok(run_cli(["export", "consensus", "--round", "pilot", "--out", sheet_path], db_url))
    sheet = pd.read_csv(sheet_path, dtype=str, keep_default_na=False)
    todo = sheet["status"] == "pending"
    assert int(todo.sum()) == pending
    sheet.loc[todo, "category"] = [study["threads"].at[t, "truth"] for t in sheet.loc[todo, "thread_id"]]
    sheet.loc[todo, "decided_by"] = "panel"
    sheet.to_csv(sheet_path, index=False)
    out = ok(run_cli(["import-decisions", sheet_path, "--round", "pilot"], db_url))
    assert out.strip().endswith("0 threads still pending") and f"{pending} decisions recorded" in out

    # -- the local model again, now on every final label --------------------------------------------------
    ok(run_cli(["classify", "--all", "--backend", "local"], db_url))
    final = pd.read_csv(sheet_path, dtype=str, keep_default_na=False).set_index("thread_id")["category"]
    ids = study["sampled"]  # thread ids sort like the database's row ids here (imported in order)
    texts = [study["threads"].at[t, "text"] for t in ids]
    labels = [final[t] for t in ids]
    independent = cross_val_predict(build_pipeline(seed=0), texts, labels,
                                    cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=0))
    in_sample = build_pipeline(seed=0).fit(texts, labels).predict(texts)

    # -- reports after adjudication -------------------------------------------------------------------------
    model = report(db_url, "model", "--round", "pilot", "--boot", 300, "--seed", 4)
    assert model["pending"] == 0 and model["n"] == 90
    assert model["accuracy"] == pytest.approx(accuracy_score(labels, independent), abs=1e-12)
    assert model["cohen_kappa"] == pytest.approx(cohen_kappa_score(labels, independent), abs=1e-12)
    assert model["accuracy"] < accuracy_score(labels, in_sample) == pytest.approx(1.0)
    assert "out-of-fold prediction (5-fold cross-fitting" in " ".join(model["notes"])
    a = model["as_reviewer"]
    assert a["n_threads"] == 90 and len(a["reviewers"]) == 3 and len(a["pairs"]) == 3
    low, high = a["kappa_difference_ci95"]
    assert low < a["kappa_difference"] < high
    assert a["claim"] == ("supported" if low >= 0 else "contradicted" if high < 0 else "not_shown")
    assert set(model["reviewers_vs_others"]) == set(REVIEWERS)
    md = ok(run_cli(["report", "model", "--round", "pilot", "--boot", 200, "--format", "md"], db_url))
    assert "The comparison that can support \"the model labels as well as a reviewer\"" in md
    assert "ceiling" not in md.lower() and "above the range" not in md
    prevalence = report(db_url, "prevalence")
    assert prevalence["pending"] == 0 and prevalence["design"] == "simple random sample" and prevalence["n"] == 90
    assert any("cross-prediction-powered" in note for note in prevalence["notes"])
    agreement = report(db_url, "agreement", "--round", "pilot", "--boot", 0)
    assert "await adjudication" not in agreement["resolution"]
    assert f"were decided by a lead ({pending} threads)" in agreement["resolution"]
    versions = json.loads(ok(run_cli(["versions", "--format", "json", "--n-boot", 0], db_url)))
    assert versions[0]["accuracy"] is not None and versions[0]["note"] == ""


def test_a_run_trained_in_sample_before_cross_fitting_is_refused(db_url, study, engine):
    """A local run from before this version stored in-sample predictions for its training round."""
    with Session(engine) as s:
        rnd = s.execute(select(Round).where(Round.name == "pilot")).scalars().one()
        rnd.acceptance_rule = "majority"
        s.add(rnd)
        s.commit()
    ok(run_cli(["classify", "--round", "pilot", "--backend", "local"], db_url))
    with engine.begin() as conn:
        conn.execute(update(ModelRun).values(params={"train_rounds": ["pilot"], "n_train": 80}))
        conn.execute(TrainingThread.__table__.delete())
    res = run_cli(["report", "model", "--round", "pilot", "--allow-pending"], db_url)
    assert res.exit_code == 1
    assert res.stderr.strip() == (
        "error: run 1 was trained on the final labels of round 'pilot' without out-of-fold predictions (a local run "
        "made before annotator cross-fitted), so its figures there would be in-sample: train a new local run "
        "('annotator classify --backend local ...') and use that one")
    res = run_cli(["report", "prevalence", "--run", 1, "--allow-pending"], db_url)
    assert res.exit_code == 1 and "would be in-sample" in res.stderr


def test_an_llm_prompt_with_examples_taken_from_the_rounds_threads_says_so(db_url, study, engine, fake, tmp_path,
                                                                           monkeypatch):
    from annotator.services.consensus import read_consensus
    from annotator.services.refine import edit_category

    monkeypatch.setenv("OPENAI_API_KEY", "test")
    with Session(engine) as s:
        decided = {r.external_id for r in read_consensus(s, ["pilot"]).decided()}
    taken = sorted(decided)[:2]  # two decided threads whose text becomes a codebook example
    with Session(engine) as s:
        texts = dict(s.execute(select(Thread.external_id, Thread.text).where(Thread.external_id.in_(taken))).all())
        edit_category(s, name="Coding", examples=[texts[taken[0]] + " …", "Fix my SQL"], actor="lead")
        edit_category(s, name="Email", examples=[texts[taken[1]].upper()], actor="lead")
    ok(run_cli(["classify", "--round", "pilot", "--base-url", fake.base_url], db_url))
    rep = report(db_url, "model", "--round", "pilot", "--allow-pending", "--boot", 0)
    assert rep["n_prompt_example_threads"] == 2
    assert rep["notes"][0].startswith("The prompt's codebook examples contain the text of 2 thread(s) of this round "
                                      "(examples of Coding, Email)")
    assert rep["n_consensus"] == len(decided) - 2  # the two threads shown as examples are left out
    md = ok(run_cli(["report", "model", "--round", "pilot", "--allow-pending", "--boot", 0, "--format", "md"], db_url))
    assert "codebook examples contain the text of 2 thread(s)" in md.split("\n")[2]
    prevalence = report(db_url, "prevalence", "--run", rep["run_id"], "--allow-pending")
    assert any("shows the text of 2 sampled thread(s)" in note for note in prevalence["notes"])
