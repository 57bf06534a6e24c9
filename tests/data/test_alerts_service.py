"""Alert rules through the service (SQLite and PostgreSQL) and the `annotator alerts` command."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import Session

from annotator.errors import Conflict, InvalidInput, NotFound
from annotator.services import alerts as a
from tests.data.test_dashboard import CDS, add_codebook, add_run, add_threads, utc
from tests.factories import run_cli

MONDAY = utc(2024, 1, 1, 10)  # a Monday
WEEKS = 14
SPIKE_WEEK = 11


def build(session: Session, *, spike: bool) -> int:
    """14 weeks of 20 non-clinician threads (2 medical questions a week, 12 in week 11 if `spike`)
    and 10 clinician threads a week that are all medical questions (outside the rule's filter)."""
    add_codebook(session, {"Email": ("Administration & Workflow", "Email"), "Medical": (CDS, "Knowledge"),
                           "Other": ("", "")})
    rows, labels = [], {}
    for w in range(WEEKS):
        for i in range(30):
            ext = f"w{w:02d}-{i:02d}"
            clinician = i >= 20
            rows.append((ext, "Clinic", "Physician" if clinician else "Scheduler",
                         "clinician" if clinician else "non-clinician", f"user{i}",
                         MONDAY + timedelta(weeks=w, hours=i)))
            medical = clinician or i < (12 if spike and w == SPIKE_WEEK else 2)
            labels[ext] = "Medical" if medical else "Email"
    ids = add_threads(session, rows)
    return add_run(session, ids, labels)


def medical_rule(session: Session, **kw) -> None:
    a.create_rule(session, name=kw.pop("name", "med"), category="Medical", filters={"role_group": "non-clinician"},
                  actor="test", **kw)


def test_planted_spike_is_found(session):
    run_id = build(session, spike=True)
    medical_rule(session)
    [result] = a.evaluate_all(session, run_id=run_id)
    assert result["rule"] == "med" and result["n_periods"] == WEEKS
    assert [t["period"] for t in result["triggered"]] == [(MONDAY + timedelta(weeks=SPIKE_WEEK)).date().isoformat()]
    alert = result["triggered"][0]
    assert (alert["n_category"], alert["n_total"]) == (12, 20)
    assert "non-clinician" in result["description"]


def test_flat_series_triggers_nothing(session):
    run_id = build(session, spike=False)
    medical_rule(session)
    [result] = a.evaluate_all(session, run_id=run_id)
    assert result["triggered"] == [] and result["n_periods"] == WEEKS


def test_filter_matters_clinicians_are_not_counted(session):
    run_id = build(session, spike=False)
    a.create_rule(session, name="all roles", category="Medical", actor="test")
    series = a.rule_series(session, a.label_basis(session, run_id=run_id), a.rule_of(a.get_rule(session, "all roles")))
    assert set(series["n_total"]) == {30} and set(series["n_category"]) == {12}


def test_paused_rules_are_not_evaluated_and_crud(session):
    run_id = build(session, spike=True)
    medical_rule(session)
    rule = a.get_rule(session, "med")
    a.set_rule_active(session, rule_id=rule.id, active=False, actor="test")
    assert a.evaluate_all(session, run_id=run_id) == []
    with pytest.raises(Conflict):
        medical_rule(session)
    with pytest.raises(InvalidInput, match="not a category"):
        a.create_rule(session, name="x", category="Nope", actor="test")
    with pytest.raises(InvalidInput, match="unknown alert filter"):
        a.create_rule(session, name="x", category="Medical", filters={"shoe_size": "9"}, actor="test")
    with pytest.raises(InvalidInput, match="threshold"):
        a.create_rule(session, name="x", category="Medical", method="ratio", threshold=0.5, actor="test")
    a.delete_rule(session, rule_id=rule.id, actor="test")
    assert a.list_rules(session) == []
    with pytest.raises(NotFound):
        a.delete_rule(session, rule_id=rule.id, actor="test")


def test_cli_prints_json_and_text(db_url):
    from annotator.data.engine import make_engine

    eng = make_engine(db_url)
    with Session(eng, expire_on_commit=False) as s:
        run_id = build(s, spike=True)
        medical_rule(s)
    eng.dispose()
    res = run_cli(["alerts", "--run", run_id], db_url)
    assert res.exit_code == 0, res.output
    [rule] = json.loads(res.stdout)
    assert rule["triggered"][0]["period"] == (MONDAY + timedelta(weeks=SPIKE_WEEK)).date().isoformat()
    res = run_cli(["alerts", "--format", "text"], db_url)  # default run: the newest run over all threads
    assert res.exit_code == 0 and "[1 triggered]" in res.stdout and "rose to 60.0%" in res.stdout
    res = run_cli(["alerts", "--run", "999"], db_url)
    assert res.exit_code == 1 and "no model run 999" in res.stderr
