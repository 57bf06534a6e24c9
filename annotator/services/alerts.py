"""Alert rules on the usage dashboard: stored rules (CRUD) and their evaluation over weekly counts.

A rule row's ``spec`` holds the fields of :class:`annotator.stats.alerts.AlertRule` (category,
window, baseline_periods, method, threshold, direction, min_count, filters) except the name, which
is the row's. ``filters`` narrows the population to threads with the given ``department``,
``role_group`` and/or ``role``. Each rule's series (threads of the category and all threads per
period in that population, by effective label as on the dashboard: consensus where it exists, the
chosen run elsewhere) is one GROUP BY in SQL, then :func:`~annotator.stats.alerts.evaluate_rule`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from annotator.data.models import AlertRule as AlertRuleRow
from annotator.errors import Conflict, InvalidInput, NotFound
from annotator.services import audit
from annotator.services.dashboard import Filters, LabelBasis, codebook_frame, effective_cube, label_basis, model_cube, period_of
from annotator.stats.alerts import DEFAULT_LEVEL, AlertRule, describe_rule, evaluate_rules

FILTER_KEYS = ("department", "role_group", "role")
_FREQ = {"D": "D", "W": "W-MON", "M": "MS"}


def rule_of(row: AlertRuleRow) -> AlertRule:
    """The statistics rule of a stored row."""
    spec = dict(row.spec or {})
    spec["filters"] = dict(spec.get("filters") or {})
    return AlertRule(name=row.name, **spec)


def _validated(session: Session, name: str, spec: dict[str, Any]) -> AlertRule:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("an alert rule needs a name")
    filters = {k: str(v).strip() for k, v in (spec.get("filters") or {}).items() if v is not None and str(v).strip()}
    unknown = sorted(set(filters) - set(FILTER_KEYS))
    if unknown:
        raise InvalidInput(f"unknown alert filter(s) {', '.join(unknown)}; use {', '.join(FILTER_KEYS)}")
    try:
        rule = AlertRule(name=name, **{**spec, "filters": filters})
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"alert rule '{name}': {exc}") from None
    categories = set(codebook_frame(session)["category"])
    if rule.category not in categories:
        raise InvalidInput(f"alert rule '{name}': '{rule.category}' is not a category of the newest codebook")
    return rule


def create_rule(session: Session, *, name: str, category: str, actor: str, window: str = "W",
                baseline_periods: int = 8, method: str = "calibrated", threshold: float = 2.0, direction: str = "up",
                min_count: int = 5, filters: dict[str, str] | None = None, active: bool = True) -> AlertRuleRow:
    """Store a new rule (validated; the name must be unused) with an audit row."""
    spec = dict(category=category, window=window, baseline_periods=int(baseline_periods), method=method,
                threshold=float(threshold), direction=direction, min_count=int(min_count), filters=filters or {})
    rule = _validated(session, name, spec)
    if get_rule(session, rule.name) is not None:
        raise Conflict(f"an alert rule named '{rule.name}' already exists")
    stored = {k: v for k, v in asdict(rule).items() if k != "name"}
    row = AlertRuleRow(name=rule.name, spec=stored, active=active, created_by=actor)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="alert_rule_created", entity="alert_rule", entity_id=row.id,
                 detail={"name": rule.name, **stored})
    session.commit()
    return row


def get_rule(session: Session, name: str) -> AlertRuleRow | None:
    return session.execute(select(AlertRuleRow).where(AlertRuleRow.name == name)).scalars().first()


def require_rule(session: Session, rule_id: int) -> AlertRuleRow:
    row = session.get(AlertRuleRow, rule_id)
    if row is None:
        raise NotFound(f"no alert rule {rule_id}")
    return row


def list_rules(session: Session, *, active_only: bool = False) -> list[AlertRuleRow]:
    stmt = select(AlertRuleRow).order_by(AlertRuleRow.name)
    if active_only:
        stmt = stmt.where(AlertRuleRow.active == True)  # noqa: E712
    return list(session.execute(stmt).scalars())


def set_rule_active(session: Session, *, rule_id: int, active: bool, actor: str) -> AlertRuleRow:
    row = require_rule(session, rule_id)
    if row.active != active:
        row.active = active
        session.add(row)
        audit.record(session, actor=actor, action="alert_rule_active", entity="alert_rule", entity_id=rule_id,
                     detail={"active": active})
        session.commit()
    return row


def delete_rule(session: Session, *, rule_id: int, actor: str) -> None:
    row = require_rule(session, rule_id)
    audit.record(session, actor=actor, action="alert_rule_deleted", entity="alert_rule", entity_id=rule_id,
                 detail={"name": row.name, **(row.spec or {})})
    session.delete(row)
    session.commit()


def rule_series(session: Session, basis: LabelBasis, rule: AlertRule, cube: pd.DataFrame | None = None) -> pd.DataFrame:
    """``period, n_category, n_total`` per period of the rule's window in its population, zero-filled.

    ``n_total`` counts labelled threads with a date. ``cube`` is a cached model cube of the run
    (see :func:`annotator.services.dashboard.model_cube`)."""
    f = rule.filters
    filters = Filters(departments=(f["department"],) if f.get("department") else (),
                      roles=(f["role"],) if f.get("role") else (),
                      role_groups=(f["role_group"],) if f.get("role_group") else ())
    eff = effective_cube(session, basis, filters, cube)
    counts = eff[eff["category"].notna() & eff["day"].notna()].copy()
    if counts.empty:
        return pd.DataFrame({"period": pd.Series([], dtype="datetime64[ns]"), "n_category": pd.Series([], dtype="int64"),
                             "n_total": pd.Series([], dtype="int64")})
    counts["period"] = pd.to_datetime(period_of(counts["day"], rule.window))
    total = counts.groupby("period")["n"].sum()
    hits = counts[counts["category"] == rule.category].groupby("period")["n"].sum()
    index = pd.date_range(total.index.min(), total.index.max(), freq=_FREQ[rule.window], name="period")
    return pd.DataFrame({"period": index, "n_category": hits.reindex(index, fill_value=0).to_numpy("int64"),
                         "n_total": total.reindex(index, fill_value=0).to_numpy("int64")})


def evaluate_all(session: Session, *, run_id: int | None, rules: list[AlertRuleRow] | None = None,
                 cube: pd.DataFrame | None = None, control: str = "fdr",
                 level: float = DEFAULT_LEVEL) -> list[dict[str, Any]]:
    """Evaluate the rules (default: every active rule) on the effective labels of ``run_id``, together:
    false alerts are controlled over all rules x periods x tests (:func:`annotator.stats.alerts.evaluate_rules`).

    ``cube`` is a cached model cube of the run (built here when None, once for all rules).

    Returns one dict per rule: ``rule_id, rule, description, category, filters, run_id, n_periods,
    last_period, triggered, control`` where ``triggered`` lists the alert dicts (oldest first) and
    ``control`` states the multiplicity control, its level and the number of tests.
    """
    rows = list_rules(session, active_only=True) if rules is None else rules
    if not rows:
        return []
    basis = label_basis(session, run_id=run_id)
    if cube is None:
        cube = model_cube(session, run_id)
    pairs = [(rule_of(row), None) for row in rows]
    pairs = [(rule, rule_series(session, basis, rule, cube)) for rule, _ in pairs]
    result = evaluate_rules(pairs, control=control, level=level)
    out = []
    for row, (rule, series), triggered in zip(rows, pairs, result["alerts"]):
        out.append({"rule_id": row.id, "rule": rule.name, "description": describe_rule(rule),
                    "category": rule.category, "filters": dict(rule.filters), "run_id": basis.run_id,
                    "n_periods": int(len(series)),
                    "last_period": None if series.empty else series["period"].iloc[-1].date().isoformat(),
                    "triggered": triggered, "control": result["statement"]})
    return out


def alerts_text(results: list[dict[str, Any]]) -> str:
    """Plain text: one block per rule, one line per triggered period."""
    if not results:
        return "no active alert rules\n"
    lines = [results[0]["control"]]
    for r in results:
        lines.append(f"{r['description']} [{len(r['triggered'])} triggered]")
        lines.extend(f"  {a['period']}: {a['message']}" for a in r["triggered"])
    return "\n".join(lines) + "\n"
