"""Prevalence through the service (SQLite and PostgreSQL): corrected vs naive on a hand-computable
case, a round stratified by predicted category storing its weights, and `annotator report prevalence`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from annotator.data.models import Assignment
from annotator.errors import Conflict, InvalidInput, PendingThreads
from annotator.services import prevalence as p
from annotator.services.rounds import import_labels
from tests.data.test_dashboard import CDS, add_codebook, add_run, add_threads, utc
from tests.factories import run_cli


def corpus(session: Session, n_a: int, n_b: int) -> tuple[dict[str, int], int]:
    """n_a threads the model calls A, then n_b it calls B (one run over all threads)."""
    add_codebook(session, {"A": ("Administration & Workflow", "a"), "B": (CDS, "b")})
    exts = [f"t{i:03d}" for i in range(n_a + n_b)]
    ids = add_threads(session, [(e, "D", "Scheduler", "non-clinician", "u", utc(2024, 5, 6)) for e in exts])
    run_id = add_run(session, ids, {e: ("A" if i < n_a else "B") for i, e in enumerate(exts)})
    return ids, run_id


def label(session: Session, tmp_path: Path, round_name: str, labels: dict[str, str]) -> None:
    path = tmp_path / f"{round_name}.csv"
    pd.DataFrame([{"thread_id": t, "reviewer": r, "category": c} for t, c in labels.items() for r in ("ann", "bob")]) \
        .to_csv(path, index=False)
    import_labels(session, path, round_name=round_name, actor="test")


def test_corrected_differs_from_naive_as_computed_by_hand(session, tmp_path):
    _, run_id = corpus(session, 60, 40)
    # 12 sampled threads the model calls A (humans: 9 A, 3 B), 8 it calls B (humans: all B)
    sample = {f"t{i:03d}": ("B" if i < 3 else "A") for i in range(12)} | {f"t{i:03d}": "B" for i in range(60, 68)}
    label(session, tmp_path, "srs", sample)
    res = p.prevalence_for(session, run_id=run_id)
    a, b = res["categories"]["A"], res["categories"]["B"]
    assert (a["naive_share"], b["naive_share"]) == (pytest.approx(0.6), pytest.approx(0.4))
    # PPI: theta_B = 0.40 + mean(1[human=B] - 1[model=B]) = 0.40 + 3/20
    assert (a["corrected_share"], b["corrected_share"]) == (pytest.approx(0.45), pytest.approx(0.55))
    assert b["ci"][0] < 0.55 < b["ci"][1]
    assert (res["N"], res["n"], res["rounds"], res["design"]) == (100, 20, ["srs"], "simple random sample")
    table = p.prevalence_table(res)
    assert list(table["category"]) == ["A", "B"] and table.loc[1, "corrected_share"] == pytest.approx(0.55)
    confusion = p.prevalence_for(session, run_id=run_id, method="confusion")
    # P(B | model A) = 3/12, so share_B = 0.6 * 0.25 + 0.4 * 1
    assert confusion["categories"]["B"]["corrected_share"] == pytest.approx(0.55)


def test_stratified_round_stores_weights_and_is_used_weighted(session, tmp_path):
    _, run_id = corpus(session, 85, 15)
    made = p.create_stratified_round(session, name="strat", run_id=run_id, size=30, reviewers=["ann", "bob"],
                                     per_thread=2, seed=3, min_per_stratum=15, actor="test")
    spec = made.round.sampling_spec
    assert spec["design"] == p.STRATIFIED_DESIGN and spec["run_id"] == run_id
    assert spec["weights"] == {"A": pytest.approx(85 / 15), "B": pytest.approx(1.0)}
    assert spec["strata"] == {"A": {"N": 85, "n": 15}, "B": {"N": 15, "n": 15}}
    assert made.n_threads == 30 and made.n_assignments == 60
    assert made.per_reviewer == {"ann": 30, "bob": 30}
    n_assigned = session.execute(select(func.count()).select_from(Assignment)
                                 .where(Assignment.round_id == made.round.id)).scalar_one()
    assert n_assigned == 60
    picked = session.execute(select(Assignment.thread_id).where(Assignment.round_id == made.round.id).distinct()).all()
    ext = {v: k for k, v in add_ids(session).items()}
    label(session, tmp_path, "strat", {ext[t]: "A" for (t,) in picked})  # humans say A everywhere
    res = p.prevalence_for(session, run_id=run_id, round_names=["strat"])
    assert res["design"].startswith("stratified")
    # every B-predicted thread is really A: corrected share of A is 1
    assert res["categories"]["A"]["corrected_share"] == pytest.approx(1.0)


def test_a_stratified_round_scores_the_model_design_weighted(session, tmp_path):
    from sklearn.metrics import accuracy_score, cohen_kappa_score

    from annotator.services.model_eval import compare_run

    _, run_id = corpus(session, 85, 15)
    made = p.create_stratified_round(session, name="strat", run_id=run_id, size=30, reviewers=["ann", "bob"],
                                     per_thread=2, seed=3, min_per_stratum=15, actor="test")
    picked = sorted(session.execute(select(Assignment.thread_id).where(Assignment.round_id == made.round.id)
                                    .distinct()).scalars())
    ext = {v: k for k, v in add_ids(session).items()}
    # humans: the model's A threads are A except every third; its B threads are B
    truth = {t: ("B" if i % 3 == 0 else "A") if int(ext[t][1:]) < 85 else "B" for i, t in enumerate(picked)}
    label(session, tmp_path, "strat", {ext[t]: c for t, c in truth.items()})
    rep = compare_run(session, run_id, round_name="strat", n_boot=200)
    model = {t: "A" if int(ext[t][1:]) < 85 else "B" for t in picked}
    weights = [85 / 15 if model[t] == "A" else 1.0 for t in picked]
    y_true, y_pred = [truth[t] for t in picked], [model[t] for t in picked]
    assert rep["weighting"] == "design-weighted" and rep["n"] == 30
    assert rep["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred, sample_weight=weights))
    assert rep["accuracy"] != pytest.approx(accuracy_score(y_true, y_pred))  # the unweighted figure differs
    assert rep["cohen_kappa"] == pytest.approx(cohen_kappa_score(y_true, y_pred, sample_weight=weights))
    from annotator.reports.model import render_model_report

    md = render_model_report(rep, "md", title="t")
    assert "| Accuracy (design-weighted) |" in md and "design-weighted" in md.split("\n")[2]


def add_ids(session: Session) -> dict[str, int]:
    from annotator.data.models import Thread

    return dict(session.execute(select(Thread.external_id, Thread.id)).all())


def test_pooling_random_and_stratified_rounds_is_refused(session, tmp_path):
    _, run_id = corpus(session, 40, 20)
    label(session, tmp_path, "srs", {"t000": "A", "t050": "B"})
    p.create_stratified_round(session, name="strat", run_id=run_id, size=10, reviewers=["ann", "bob"], per_thread=1,
                              seed=1, min_per_stratum=2, actor="test")
    with pytest.raises(InvalidInput, match="cannot pool"):
        p.prevalence_for(session, run_id=run_id)
    other = add_run(session, add_ids(session), {"t000": "A"})
    with pytest.raises(InvalidInput, match="stratified by the predictions of run"):
        p.prevalence_for(session, run_id=other, round_names=["strat"])
    with pytest.raises(Conflict):
        p.create_stratified_round(session, name="strat", run_id=run_id, size=10, reviewers=["ann"], per_thread=1,
                                  seed=1, actor="test")
    with pytest.raises(InvalidInput, match="per thread"):
        p.create_stratified_round(session, name="x", run_id=run_id, size=10, reviewers=["ann"], per_thread=2,
                                  seed=1, actor="test")


def test_no_round_or_no_decided_thread_is_refused_never_computed_on_nothing(session, tmp_path):
    _, run_id = corpus(session, 5, 5)
    with pytest.raises(InvalidInput, match="no round yet"):
        p.prevalence_for(session, run_id=run_id)
    path = tmp_path / "split.csv"
    pd.DataFrame([("t000", "ann", "A"), ("t000", "bob", "B")], columns=["thread_id", "reviewer", "category"]) \
        .to_csv(path, index=False)
    import_labels(session, path, round_name="split", actor="test")
    with pytest.raises(PendingThreads, match=r"round 'split': 1 of 1 sampled threads are pending"):
        p.prevalence_for(session, run_id=run_id)
    with pytest.raises(PendingThreads, match="has a final label yet"):
        p.prevalence_for(session, run_id=run_id, allow_pending=True)


def test_cli_report_prevalence_formats(db_url, tmp_path):
    from annotator.data.engine import make_engine

    eng = make_engine(db_url)
    with Session(eng, expire_on_commit=False) as s:
        _, run_id = corpus(s, 60, 40)
        label(s, tmp_path, "srs", {f"t{i:03d}": ("B" if i < 3 else "A") for i in range(12)}
              | {f"t{i:03d}": "B" for i in range(60, 68)})
    eng.dispose()
    res = run_cli(["report", "prevalence", "--run", run_id, "--format", "json"], db_url)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["categories"]["B"]["corrected_share"] == pytest.approx(0.55)
    res = run_cli(["report", "prevalence", "--run", "latest", "--round", "srs", "--format", "md"], db_url)
    assert res.exit_code == 0 and "| B | 40.0% | 55.0% |" in res.stdout
    out = tmp_path / "prev.html"
    res = run_cli(["report", "prevalence", "--format", "html", "--method", "confusion", "--out", out], db_url)
    assert res.exit_code == 0 and out.read_text().startswith("<!DOCTYPE html>")
    res = run_cli(["report", "prevalence", "--round", "nope"], db_url)
    assert res.exit_code == 1 and "no round named 'nope'" in res.stderr


def test_plan_sample_service_and_cli(db_url, tmp_path):
    from annotator.data.engine import make_engine
    from annotator.services.planning import plan_sample

    eng = make_engine(db_url)
    with Session(eng, expire_on_commit=False) as s:
        _, run_id = corpus(s, 60, 40)
        label(s, tmp_path, "srs", {f"t{i:03d}": ("B" if i < 3 else "A") for i in range(12)}
              | {f"t{i:03d}": "B" for i in range(60, 68)})
        plan = plan_sample(s, run_id=run_id, category="B", width=0.2)
        assert plan["labelled_so_far"] == 20 and plan["N"] == 100
        assert 1 <= plan["stratified_neyman"] <= plan["N"] and 1 <= plan["srs"] <= plan["N"]
        assert sum(plan["allocation"].values()) == plan["stratified_neyman"]
        with pytest.raises(InvalidInput, match="not a category"):
            plan_sample(s, run_id=run_id, category="Nope", width=0.1)
        with pytest.raises(InvalidInput, match="width"):
            plan_sample(s, run_id=run_id, category="B", width=2)
    eng.dispose()
    res = run_cli(["plan-sample", "--run", "latest", "--category", "B", "--width", "0.1"], db_url)
    assert res.exit_code == 0, res.output
    assert "simple random sample" in res.stdout and "Neyman" in res.stdout
    res = run_cli(["plan-sample", "--category", "B", "--width", "0.1", "--format", "json"], db_url)
    assert res.exit_code == 0 and json.loads(res.stdout)["category"] == "B"
    res = run_cli(["plan-sample", "--category", "B", "--width", "5"], db_url)
    assert res.exit_code == 1 and "width" in res.stderr


def test_threads_without_a_prediction_stay_in_the_frame(session, tmp_path):
    add_codebook(session, {"A": ("Administration & Workflow", "a"), "B": (CDS, "b")})
    exts = [f"t{i:03d}" for i in range(100)]
    ids = add_threads(session, [(e, "D", "Scheduler", "non-clinician", "u", utc(2024, 5, 6)) for e in exts])
    # the model labelled 80 threads (60 A, 20 B); 20 have no prediction
    run_id = add_run(session, {e: ids[e] for e in exts[:80]}, {e: ("A" if i < 60 else "B") for i, e in enumerate(exts[:80])})
    label(session, tmp_path, "srs", {e: "A" for e in exts[:8]} | {e: "B" for e in exts[60:64]} | {e: "B" for e in exts[80:84]})
    res = p.prevalence_for(session, run_id=run_id)
    assert res["N"] == 100 and res["n_failed"] == 20 and res["n"] == 16
    assert res["categories"]["B"]["naive_share"] == pytest.approx(0.2)
    # difference estimator: 0.2 + (4 threads without prediction labelled B) / 16
    assert res["categories"]["B"]["corrected_share"] == pytest.approx(0.2 + 4 / 16)
    assert any("no model label" in note for note in res["notes"])
