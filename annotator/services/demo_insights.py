"""Demo insights: a model run over all demo threads as the dashboard's run, a default alert rule,
and (only if the data do not already trigger it) an explicitly planted, labelled spike."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from annotator.data.models import ModelRun, Prediction, Thread, utcnow
from annotator.roles import role_group
from annotator.services import alerts as alert_service
from annotator.services import audit
from annotator.services.dashboard import CLINICAL_MEDHELM, codebook_frame, default_run_id, set_dashboard_run

log = logging.getLogger(__name__)

DEMO_RULE = "Medical questions from non-clinical roles, weekly z > 3 vs 8-week baseline"
SPIKE_PREFIX = "DEMO-SPIKE-"
SPIKE_SIZE = 40
_SPIKE_ROLES = ("Medical Assistant", "Scheduler", "Patient Services Coordinator", "Administrative Assistant")
_DRUGS = ("amoxicillin", "ibuprofen", "cetirizine", "methylphenidate", "insulin glargine", "albuterol", "ondansetron")
_CONDITIONS = ("croup", "strep throat", "bronchiolitis", "otitis media", "asthma", "influenza", "impetigo")
_QUESTIONS = (
    "What is the usual pediatric dose of {drug}?",
    "What are the common side effects of {drug}?",
    "What is the first-line treatment for {condition}?",
    "How long is {condition} contagious?",
    "Can {drug} be given with food?",
)
_FOLLOW_UPS = ("And the dose for a {age}-year-old weighing {kg} kg?", "Are there any red flags?",
               "What about in infants?", "The family asked me and I want to be sure before I answer.", "")


def _spike_week(session: Session) -> pd.Timestamp | None:
    """A Monday (UTC) two thirds into the corpus, with at least 9 weeks of history before it."""
    first = session.execute(select(Thread.created_at).where(Thread.created_at.is_not(None))
                            .order_by(Thread.created_at).limit(1)).scalar()
    last = session.execute(select(Thread.created_at).where(Thread.created_at.is_not(None))
                           .order_by(Thread.created_at.desc()).limit(1)).scalar()
    if first is None or (last - first).days < 7 * 10:
        return None
    first, last = (pd.Timestamp(t).tz_localize(None) if pd.Timestamp(t).tzinfo is None
                   else pd.Timestamp(t).tz_convert("UTC").tz_localize(None) for t in (first, last))
    day = (first + (last - first) * 2 / 3).normalize()
    return day - pd.Timedelta(days=day.day_of_week)


def plant_spike(engine: Engine, *, run_id: int, seed: int, size: int = SPIKE_SIZE) -> int:
    """Insert ``size`` synthetic threads (external ids ``DEMO-SPIKE-001``...) from non-clinical roles
    asking medical questions within one week, each with the run's local-model prediction. Returns the
    number inserted (0 if already planted or the corpus spans under ten weeks). The threads say what
    they are: ``meta = {"synthetic": True, "demo_spike": True}``."""
    with Session(engine) as s:
        if s.execute(select(Thread.id).where(Thread.external_id.like(f"{SPIKE_PREFIX}%")).limit(1)).first():
            return 0
        week = _spike_week(s)
        run = s.get(ModelRun, run_id)
        departments = [d for (d,) in s.execute(select(Thread.department).where(Thread.role_group == "non-clinician",
                                                                                Thread.department.is_not(None))
                                               .distinct().order_by(Thread.department)).all()]
        if week is None or run is None or run.local_model is None:
            return 0
        from annotator.llm.local import LocalModel  # scikit-learn: imported only when a spike is planted

        model = LocalModel.from_bytes(run.local_model)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(size):
        role = _SPIKE_ROLES[int(rng.integers(len(_SPIKE_ROLES)))]
        slots = {"drug": _DRUGS[int(rng.integers(len(_DRUGS)))], "condition": _CONDITIONS[int(rng.integers(len(_CONDITIONS)))],
                 "age": int(rng.integers(2, 15)), "kg": int(rng.integers(12, 50))}
        first = _QUESTIONS[int(rng.integers(len(_QUESTIONS)))].format(**slots)
        follow = _FOLLOW_UPS[int(rng.integers(len(_FOLLOW_UPS)))].format(**slots)
        text = f"user: {first}" + (f"\nuser: {follow}" if follow else "")
        when = week + timedelta(days=int(rng.integers(0, 5)), hours=int(rng.integers(8, 17)), minutes=int(rng.integers(60)))
        rows.append({"external_id": f"{SPIKE_PREFIX}{i + 1:03d}", "text": text, "char_count": len(text),
                     "truncated": False, "user_id": f"DEMO-SPIKE-U{int(rng.integers(1, 9)):02d}", "role": role,
                     "role_group": role_group(role),
                     "department": departments[int(rng.integers(len(departments)))] if departments else None,
                     "created_at": when.tz_localize("UTC").to_pydatetime(),
                     "meta": {"synthetic": True, "demo_spike": True}})
    preds = model.predict([r["text"] for r in rows])
    with engine.begin() as conn:
        conn.execute(insert(Thread), rows)
        ids = dict(conn.execute(select(Thread.external_id, Thread.id)
                                .where(Thread.external_id.like(f"{SPIKE_PREFIX}%"))).all())
        conn.execute(insert(Prediction), [dict(run_id=run_id, thread_id=ids[r["external_id"]], category=cat, status="ok",
                                               rationale="local model", confidence=conf, cache_key="", cached=False,
                                               created_at=utcnow()) for r, (cat, conf) in zip(rows, preds)])
        audit.record(conn, actor="demo", action="demo_spike_planted", entity="thread", entity_id=SPIKE_PREFIX,
                     detail={"n": size, "week": week.date().isoformat(), "run_id": run_id})
    return size


def load_demo_insights(engine: Engine, *, seed: int = 20240422) -> dict[str, Any]:
    """Make the demo dashboard meaningful; idempotent.

    1. Train the local model on the consensus labels (the fully labelled 'pilot' round), classify
       every thread, and make that run the dashboard's run (skipped when a run over all threads exists).
    2. Create the alert rule "Medical questions from non-clinical roles, weekly z > 3 vs 8-week
       baseline" (the codebook category mapped to MedHELM 'Clinical Decision Support', role group
       non-clinician).
    3. If no week triggers it, plant a spike honestly: ``SPIKE_SIZE`` extra synthetic threads
       (``DEMO-SPIKE-...``, see :func:`plant_spike`) in one week, predicted by the same local run.

    Returns ``{"run_id", "rule", "planted", "triggered": [ISO weeks]}`` (``triggered`` None on a restart,
    when the run and the rule exist already and nothing is evaluated again).
    """
    from annotator.services.classify import classify_local

    with Session(engine) as s:
        run_id = default_run_id(s)
        codebook = codebook_frame(s)
        if run_id is not None and alert_service.get_rule(s, DEMO_RULE) is not None:
            # A restart: the run, the rule and (if it was needed) the spike are there from the first start.
            return {"run_id": run_id, "rule": DEMO_RULE, "planted": 0, "triggered": None}
    if run_id is None:
        run_id = classify_local(engine, seed=seed, actor="demo").run_id
    with Session(engine, expire_on_commit=False) as s:
        set_dashboard_run(s, run_id=run_id, actor="demo")
        clinical = list(codebook.loc[codebook["medhelm_category"] == CLINICAL_MEDHELM, "category"])
        if not clinical:
            log.warning("demo insights: no codebook category is mapped to %s; no alert rule", CLINICAL_MEDHELM)
            return {"run_id": run_id, "rule": None, "planted": 0, "triggered": []}
        rule = alert_service.get_rule(s, DEMO_RULE) or alert_service.create_rule(
            s, name=DEMO_RULE, category=clinical[0], window="W", baseline_periods=8, method="calibrated", threshold=2.0,
            direction="up", min_count=5, filters={"role_group": "non-clinician"}, actor="demo")
        fired = alert_service.evaluate_all(s, run_id=run_id, rules=[rule])[0]["triggered"]
    planted = 0
    if not fired:
        planted = plant_spike(engine, run_id=run_id, seed=seed)
        with Session(engine) as s:
            fired = alert_service.evaluate_all(s, run_id=run_id, rules=[alert_service.get_rule(s, DEMO_RULE)])[0][
                "triggered"]
    log.info("demo insights: run %s, %d spike threads planted, %d triggered week(s)", run_id, planted, len(fired))
    return {"run_id": run_id, "rule": DEMO_RULE, "planted": planted, "triggered": [a["period"] for a in fired]}
