"""A model run against a round's consensus (`report model`, compare_run), run against run, the
predictions export, and error analysis (disagreements, tag_error, error_tags).

The consensus comes from an imported labels CSV in which three reviewers agree; the model's answers
are forced with `[[category: NAME]]` markers answered by the loopback server, so every expected figure
is computed here with scikit-learn from the same pairs.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, f1_score
from sqlalchemy import select
from sqlmodel import Session

from annotator.data.models import AuditEvent, ErrorTag, Thread
from annotator.errors import InvalidInput, NotFound
from annotator.services.model_eval import compare_run, disagreements, error_tags, tag_error
from tests.factories import make_codebook, make_threads, run_cli

# (consensus, model answer) per thread; "Astrology" is outside the codebook: asked twice, then stored failed.
CASES = [
    ("Coding", "Coding"), ("Coding", "Coding"), ("Coding", "Research"), ("Research", "Research"),
    ("Research", "Research"), ("Research", "Other"), ("Patient communication", "Patient communication"),
    ("Patient communication", "Clinical documentation"), ("Clinical documentation", "Clinical documentation"),
    ("Clinical documentation", "Clinical documentation"), ("Other", "Other"), ("Other", "Coding"),
    ("Coding", "Astrology"),
]
REVIEWERS = ("ana", "ben", "cy")


pytestmark = pytest.mark.usefixtures("llm_env")


def seed_round(session: Session, db_url: str, tmp_path, cases=CASES, *, round_name: str = "r1") -> list[Thread]:
    """Threads with forced model answers and a unanimous consensus imported from a labels CSV."""
    make_codebook(session)
    texts = [f"thread {i}: help me [[category: {model}]]" for i, (_, model) in enumerate(cases)]
    threads = make_threads(session, len(cases), seed=11, text=texts)
    lines = ["thread_id,reviewer,category"] + [f"{t.external_id},{r},{c}" for t, (c, _) in zip(threads, cases)
                                               for r in REVIEWERS]
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = run_cli(["import-labels", path, "--round", round_name], db_url)
    assert res.exit_code == 0, res.output
    return threads


@pytest.fixture
def classified(db_url, session, tmp_path, fake):
    """The hand-made case, classified once over the round."""
    threads = seed_round(session, db_url, tmp_path)
    res = run_cli(["classify", "--round", "r1", "--base-url", fake.base_url, "--concurrency", "1"], db_url)
    assert res.exit_code == 0 and "12 ok, 1 failed" in res.stdout, res.output
    return threads


def _scored_pairs(cases=CASES) -> tuple[list[str], list[str]]:
    pairs = [(c, m) for c, m in cases if m != "Astrology"]
    return [c for c, _ in pairs], [m for _, m in pairs]


def test_report_model_json_equals_sklearn(db_url, classified):
    res = run_cli(["report", "model", "--run", "latest", "--format", "json", "--boot", "200"], db_url)

    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    y_true, y_pred = _scored_pairs()
    assert (rep["n"], rep["n_failed"], rep["n_consensus"], rep["round"]) == (12, 1, 13, "r1")
    assert rep["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
    assert rep["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"), abs=1e-12)
    assert rep["weighted_f1"] == pytest.approx(f1_score(y_true, y_pred, average="weighted"), abs=1e-12)
    assert rep["cohen_kappa"] == pytest.approx(cohen_kappa_score(y_true, y_pred), abs=1e-12)
    assert rep["accuracy"] == pytest.approx(8 / 12)
    labels = rep["confusion_matrix"]["labels"]
    assert set(labels) == set(y_true) | set(y_pred)
    assert rep["confusion_matrix"]["matrix"] == confusion_matrix(y_true, y_pred, labels=labels).tolist()
    f1_each = f1_score(y_true, y_pred, labels=labels, average=None)
    for name, f1 in zip(labels, f1_each):
        assert rep["per_category"][name]["f1"] == pytest.approx(f1, abs=1e-12), name
        assert rep["per_category"][name]["support"] == y_true.count(name)
    low, high = rep["accuracy_ci95"]
    assert low <= rep["accuracy"] <= high
    # as another reviewer: the reviewers agreed perfectly (kappa 1 for every pair); the model's kappa with each
    # reviewer is its kappa with the consensus they made, so the difference is that kappa minus 1
    a = rep["as_reviewer"]
    assert a["n_threads"] == 12 and a["reviewer_mean_kappa"] == pytest.approx(1.0)
    assert [r["kappa"] for r in a["reviewers"]] == pytest.approx([cohen_kappa_score(y_true, y_pred)] * 3)
    assert a["kappa_difference"] == pytest.approx(cohen_kappa_score(y_true, y_pred) - 1)
    assert a["claim"] in ("contradicted", "not_shown")
    assert {r: v["accuracy"] for r, v in rep["reviewers_vs_others"].items()} == dict.fromkeys(REVIEWERS, 1.0)
    assert rep["pending"] == 0 and rep["weighting"] == "unweighted" and "human_ceiling" not in json.dumps(rep)


def test_report_model_html_is_self_contained(db_url, classified, tmp_path):
    out = tmp_path / "report.html"
    res = run_cli(["report", "model", "--format", "html", "--boot", "0", "--out", out], db_url)
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert "Accuracy" in html and "r1" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html, re.I)  # nothing fetched from elsewhere
    assert "<link" not in html.lower() and "@import" not in html


def test_report_model_for_a_run_over_all_threads_needs_a_round(db_url, session, tmp_path, fake):
    seed_round(session, db_url, tmp_path, CASES[:4])
    assert run_cli(["classify", "--all", "--base-url", fake.base_url], db_url).exit_code == 0
    res = run_cli(["report", "model", "--format", "json"], db_url)
    assert res.exit_code == 1 and "name the round to compare with (--round NAME)" in res.stderr
    res = run_cli(["report", "model", "--round", "r1", "--format", "json", "--boot", "0"], db_url)
    assert res.exit_code == 0 and json.loads(res.stdout)["accuracy"] == pytest.approx(3 / 4)


def test_report_model_without_runs_says_so(db_url, session):
    make_codebook(session)
    res = run_cli(["report", "model"], db_url)
    assert res.exit_code == 1 and "no model runs yet" in res.stderr


def test_report_model_on_a_pending_batch_run_is_refused_in_one_line(db_url, session, tmp_path, fake):
    seed_round(session, db_url, tmp_path, CASES[:4])
    res = run_cli(["classify", "--round", "r1", "--base-url", fake.base_url, "--batch", "--no-wait"], db_url)
    assert res.exit_code == 0 and "(batch_pending)" in res.stdout, res.output
    for fmt in ("json", "html"):
        res = run_cli(["report", "model", "--format", fmt, "--boot", "0"], db_url)
        assert res.exit_code == 1 and res.stdout == ""
        assert res.stderr.strip().splitlines() == [
            "error: run 1 has no prediction for the threads of round 'r1' (its batch is still pending): classify "
            "the round first ('annotator classify --round NAME')"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_predictions_columns(db_url, classified, tmp_path, fmt):
    out = tmp_path / f"p.{fmt}"
    res = run_cli(["export", "predictions", "--run", "latest", "--format", fmt, "--out", out], db_url)
    assert res.exit_code == 0, res.output
    df = {"csv": lambda: pd.read_csv(out), "jsonl": lambda: pd.read_json(out, lines=True),
          "parquet": lambda: pd.read_parquet(out)}[fmt]()
    assert {"thread_id", "category", "status", "rationale", "confidence", "prompt_tokens",
            "completion_tokens"} <= set(df.columns)
    assert len(df) == len(CASES)
    by_id = df.set_index("thread_id")
    for i, t in enumerate(classified):
        model = CASES[i][1]
        if model == "Astrology":
            assert by_id.at[t.external_id, "status"] == "failed" and pd.isna(by_id.at[t.external_id, "category"])
        else:
            assert (by_id.at[t.external_id, "category"], by_id.at[t.external_id, "status"]) == (model, "ok")
    assert (df["prompt_tokens"] > 0).all()


def test_compare_run_service_matches_the_cli(db_url, classified, engine):
    with Session(engine) as s:
        rep = compare_run(s, "latest", n_boot=0)
    assert rep["accuracy"] == pytest.approx(8 / 12) and rep["n_unclassified"] == 0 and rep["reveal"] is None
    with Session(engine) as s, pytest.raises(NotFound):
        compare_run(s, 99)
    with Session(engine) as s, pytest.raises(InvalidInput, match="not a number or 'latest'"):
        compare_run(s, "newest")


def test_compare_two_runs(db_url, classified, engine, fake):
    fake.answer = lambda user, names: "Coding"  # a second model that always answers Coding
    res = run_cli(["classify", "--round", "r1", "--base-url", fake.base_url, "--model", "other-model"], db_url)
    assert res.exit_code == 0, res.output
    res = run_cli(["report", "model", "--run", "1", "--against-run", "2"], db_url)
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    first = [m for _, m in CASES if m != "Astrology"]
    assert (rep["run_a"], rep["run_b"], rep["model_b"], rep["n"], rep["n_failed_a"]) == (1, 2, "other-model", 12, 1)
    assert rep["percent_agreement"] == pytest.approx(100 * first.count("Coding") / 12)
    assert rep["cohen_kappa"] == pytest.approx(cohen_kappa_score(first, ["Coding"] * 12), abs=1e-12)


# -- error analysis ------------------------------------------------------------------------------------------


def test_disagreements_list_every_wrong_or_failed_prediction(classified, engine):
    with Session(engine) as s:
        df = disagreements(s, "latest")
    expected = {t.external_id: (c, "(failed)" if m == "Astrology" else m)
                for t, (c, m) in zip(classified, CASES) if c != m}
    assert {r.thread_id: (r.consensus, r.model) for r in df.itertuples()} == expected
    assert len(df) == 5
    assert df["tag"].isna().all() and (df["comment"] == "").all()
    assert set(df.loc[df["model"] != "(failed)", "rationale"]) == {"Deterministic test answer."}
    by_ext = {t.external_id: t.id for t in classified}
    assert all(by_ext[r.thread_id] == r.thread_pk for r in df.itertuples())


def test_tag_error_upserts_one_row_and_audits_each_change(classified, engine):
    with Session(engine) as s:
        row = disagreements(s, "latest").iloc[0]
        first = tag_error(s, run_id=1, thread_id=int(row.thread_pk), tag="model_error", comment="  wrong  ",
                          category=row.consensus, actor="lead1")
        second = tag_error(s, run_id=1, thread_id=int(row.thread_pk), tag="ambiguous_definition",
                           comment="definition overlaps", category=row.consensus, actor="lead2")
        assert first.id == second.id
        tags = list(s.execute(select(ErrorTag)).scalars())
        events = list(s.execute(select(AuditEvent).where(AuditEvent.action == "tag_model_error")
                                .order_by(AuditEvent.id)).scalars())
        listed = disagreements(s, "latest")
    assert [(t.tag, t.comment, t.tagged_by, t.category) for t in tags] == \
        [("ambiguous_definition", "definition overlaps", "lead2", row.consensus)]
    assert [(e.actor, e.entity_id, e.detail) for e in events] == [
        ("lead1", f"1/{row.thread_pk}", {"from": None, "to": "model_error"}),
        ("lead2", f"1/{row.thread_pk}", {"from": "model_error", "to": "ambiguous_definition"})]
    tagged = listed[listed["thread_pk"] == row.thread_pk].iloc[0]
    assert (tagged["tag"], tagged["comment"]) == ("ambiguous_definition", "definition overlaps")


def test_tag_error_refuses_an_unknown_tag(classified, engine):
    with Session(engine) as s:
        row = disagreements(s, "latest").iloc[0]
        with pytest.raises(InvalidInput, match="tag must be one of model_error, ambiguous_definition, consensus_error"):
            tag_error(s, run_id=1, thread_id=int(row.thread_pk), tag="bad", comment="", category=None, actor="x")
        assert s.execute(select(ErrorTag)).first() is None


def test_error_tags_filter_by_category_and_tag(classified, engine):
    with Session(engine) as s:
        df = disagreements(s, "latest").sort_values("thread_id")
        # by thread: Coding/Research, Research/Other, Patient/Clinical, Other/Coding, Coding/(failed)
        verdicts = ["model_error", "ambiguous_definition", "consensus_error", "ambiguous_definition", "model_error"]
        for row, tag in zip(df.itertuples(), verdicts):
            tag_error(s, run_id=1, thread_id=int(row.thread_pk), tag=tag, comment=f"c {row.thread_id}",
                      category=row.consensus, actor="lead1")
        everything = error_tags(s)
        ambiguous = error_tags(s, tag="ambiguous_definition")
        coding = error_tags(s, category="Coding")
        coding_model = error_tags(s, category="Coding", tag="model_error")
    pairs = {(r.thread_id, r.consensus, tag) for r, tag in zip(df.itertuples(), verdicts)}
    assert {(e["thread_id"], e["category"], e["tag"]) for e in everything} == pairs
    assert {(e["thread_id"], e["category"], e["tag"]) for e in ambiguous} == {p for p in pairs if p[2] == "ambiguous_definition"}
    assert {(e["thread_id"], e["category"], e["tag"]) for e in coding} == {p for p in pairs if p[1] == "Coding"}
    assert len(coding) == 2 and len(ambiguous) == 2
    assert {(e["thread_id"], e["tag"]) for e in coding_model} == \
        {(p[0], p[2]) for p in pairs if p[1] == "Coding" and p[2] == "model_error"}
    assert len(coding_model) == 2
    assert all(e["run_id"] == 1 and e["tagged_by"] == "lead1" and e["comment"] == f"c {e['thread_id']}"
               for e in everything)


def test_a_reviewer_who_shares_too_few_threads_is_named_unless_every_thread_has_one_label(db_url, session, tmp_path,
                                                                                            fake):
    threads = seed_round(session, db_url, tmp_path)
    extra = tmp_path / "extra.csv"  # a misspelt reviewer name adds a fourth reviewer with one label
    extra.write_text(f"thread_id,reviewer,category\n{threads[0].external_id},Ana,{CASES[0][0]}\n")
    assert run_cli(["import-labels", extra, "--round", "r1"], db_url).exit_code == 0
    assert run_cli(["classify", "--round", "r1", "--base-url", fake.base_url], db_url).exit_code == 0
    res = run_cli(["report", "model", "--allow-pending", "--boot", 0], db_url)
    assert res.exit_code == 1 and res.stderr.strip().startswith(
        "error: reviewer 'Ana' shares fewer than 2 threads with any other reviewer (1)")
    assert "--exclude-reviewer Ana" in res.stderr
    rep = json.loads(run_cli(["report", "model", "--allow-pending", "--boot", 0, "--exclude-reviewer", "Ana"],
                             db_url).stdout)
    assert rep["excluded_reviewers"] == ["Ana"] and [r["reviewer"] for r in rep["as_reviewer"]["reviewers"]] == \
        list(REVIEWERS)


def test_a_round_with_one_label_per_thread_is_scored_without_the_reviewer_comparison(db_url, session, tmp_path,
                                                                                      fake):
    make_codebook(session)
    threads = make_threads(session, 6, seed=13, text=[f"t {i} [[category: Coding]]" for i in range(6)])
    path = tmp_path / "single.csv"
    path.write_text("thread_id,reviewer,category\n" + "".join(
        f"{t.external_id},{REVIEWERS[i % 3]},{'Coding' if i % 2 else 'Research'}\n" for i, t in enumerate(threads)))
    assert run_cli(["import-labels", path, "--round", "single"], db_url).exit_code == 0
    assert run_cli(["classify", "--round", "single", "--base-url", fake.base_url], db_url).exit_code == 0
    rep = json.loads(run_cli(["report", "model", "--boot", 0], db_url).stdout)
    assert rep["n"] == 6 and rep["accuracy"] == pytest.approx(0.5)
    assert rep["as_reviewer"]["kappa_difference"] is None
    assert rep["undefined"]["as_reviewer.kappa_difference"] == "no thread has a model label and two reviewer labels"
    res = run_cli(["report", "agreement", "--round", "single"], db_url)
    assert res.exit_code == 1 and "shares fewer than 2 threads with any other reviewer (0)" in res.stderr
