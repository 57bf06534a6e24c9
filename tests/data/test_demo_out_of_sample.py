"""The demo no longer shows an in-sample score: its local run predicts the pilot threads it trained on
out of fold, its model report and the dashboard's corrected share wait for the pilot's adjudication
(or say plainly that they use the decided threads only), and once the pilot is adjudicated the model
report is the out-of-fold figure."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlmodel import Session

from annotator.data.engine import ensure_schema, make_engine
from annotator.data.models import ModelRun, Prediction, TrainingThread
from annotator.errors import PendingThreads
from annotator.services import adjudication as adj
from annotator.services.dashboard import build_dashboard, default_run_id
from annotator.services.demo import PILOT_ROUND, load_demo
from annotator.services.model_eval import compare_run
from annotator.services.prevalence import prevalence_for
from annotator.services.rounds import require_round


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite3'}"
    engine = make_engine(url)
    ensure_schema(engine)
    load_demo(engine, password="demo-password-123")
    yield engine
    engine.dispose()


def test_the_demo_run_stores_out_of_fold_predictions_for_its_training_threads(demo):
    with Session(demo) as s:
        run = s.get(ModelRun, default_run_id(s))
        training = dict(s.execute(select(TrainingThread.thread_id, TrainingThread.fold)
                                  .where(TrainingThread.run_id == run.id)).all())
        rationale = dict(s.execute(select(Prediction.thread_id, Prediction.rationale)
                                   .where(Prediction.run_id == run.id)).all())
    assert run.params["cross_fit"] is True and run.params["folds"] == 5 and "5-fold" in run.params["folds_note"]
    assert len(training) == run.params["n_train"] > 50 and None not in training.values()
    assert all("out of fold" in rationale[t] for t in training)
    assert sum("out of fold" not in r for r in rationale.values()) == len(rationale) - len(training)


def test_demo_model_report_and_corrected_share_wait_for_adjudication(demo):
    with Session(demo) as s:
        run_id = default_run_id(s)
        with pytest.raises(PendingThreads, match=f"round '{PILOT_ROUND}': .* of 150 sampled threads are pending"):
            compare_run(s, run_id, round_name=PILOT_ROUND, n_boot=0)
        with pytest.raises(PendingThreads, match=f"round '{PILOT_ROUND}'"):
            prevalence_for(s, run_id=run_id, round_names=[PILOT_ROUND])
        early = compare_run(s, run_id, round_name=PILOT_ROUND, n_boot=0, allow_pending=True)
        run = s.get(ModelRun, run_id)
        dash = build_dashboard(s, run_id=run_id)
    # the decided pilot threads are exactly the ones it trained on: scored out of fold, never in sample
    assert early["n"] == run.params["n_train"] and early["pending"] > 0
    assert early["accuracy"] == pytest.approx(run.params["cv"]["accuracy"]) and early["accuracy"] < 1
    # the pilot's pending threads and the 30 threads of the demo round nobody has labelled yet
    assert f"{early['pending'] + 30} sampled thread(s) still await a final label" in dash.labels_text()


def test_after_adjudication_the_demo_model_report_is_out_of_sample(demo):
    with Session(demo, expire_on_commit=False) as s:
        rid = require_round(s, PILOT_ROUND).id
        for item in adj.disagreement_queue(s, PILOT_ROUND):
            adj.resolve(s, round_id=rid, thread_id=item.thread_id, category=item.assessment.counts[0][0],
                        rationale="most voted after review", actor="lead")
        run_id = default_run_id(s)
        rep = compare_run(s, run_id, round_name=PILOT_ROUND, n_boot=200)
        prevalence = prevalence_for(s, run_id=run_id, round_names=[PILOT_ROUND])
    assert rep["pending"] == 0 and rep["n"] == 150 and rep["accuracy"] < 1
    assert rep["as_reviewer"]["claim"] in ("supported", "not_shown", "contradicted")
    assert "model_vs_human_position" not in rep and prevalence["pending"] == 0
