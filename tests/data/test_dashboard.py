"""Dashboard aggregates on a small hand-made corpus, on SQLite and PostgreSQL: exact counts with
consensus overriding the model, filters, weeks across dialects, shares, renames, exports."""

from __future__ import annotations

import io
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
from sqlmodel import Session

from annotator.data.models import ModelRun, Prediction, Thread
from annotator.errors import InvalidInput, NotFound
from annotator.services import dashboard as d
from annotator.services.codebook import CategoryDraft, CodebookDraft, get_version, save_version
from annotator.services.rounds import import_labels

CDS = "Clinical Decision Support"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def add_codebook(session: Session, names: dict[str, tuple[str, str]], renames: dict[str, str] | None = None) -> None:
    """A codebook version: name -> (MedHELM category, subcategory)."""
    draft = CodebookDraft(name="test", note="", renames=renames or {},
                          categories=[CategoryDraft(name=n, definition=f"About {n}.", medhelm_category=m,
                                                    medhelm_subcategory=sub) for n, (m, sub) in names.items()])
    save_version(session, draft, actor="test")


def add_threads(session: Session, rows: list[tuple]) -> dict[str, int]:
    """rows: (external_id, department, role, role_group, user_id, created_at); returns external id -> row id."""
    threads = [Thread(external_id=e, text=f"text of {e}", char_count=10, department=dep, role=role, role_group=rg,
                      user_id=user, created_at=at) for e, dep, role, rg, user, at in rows]
    session.add_all(threads)
    session.commit()
    return {t.external_id: t.id for t in threads}


def add_run(session: Session, ids: dict[str, int], labels: dict[str, str | None], *, scope: str = "all") -> int:
    """A finished run with one prediction per listed thread (None: a failed prediction)."""
    run = ModelRun(backend="local", model="test", codebook_version_id=get_version(session).id, scope=scope,
                   status="done")
    session.add(run)
    session.flush()
    for ext, cat in labels.items():
        session.add(Prediction(run_id=run.id, thread_id=ids[ext], category=cat, status="ok" if cat else "failed"))
    session.commit()
    return run.id


def add_consensus(session: Session, tmp_path: Path, round_name: str, labels: dict[str, str]) -> None:
    """A round where two reviewers agree on every thread (unanimous consensus)."""
    path = tmp_path / f"{round_name}.csv"
    pd.DataFrame([{"thread_id": t, "reviewer": r, "category": c} for t, c in labels.items() for r in ("ann", "bob")]) \
        .to_csv(path, index=False)
    import_labels(session, path, round_name=round_name, actor="test")


@pytest.fixture
def corpus(session: Session, tmp_path: Path) -> dict:
    add_codebook(session, {"Email": ("Administration & Workflow", "Email writing"), "Medical": (CDS, "Knowledge"),
                           "Patient letters": ("Patient Communication", "Messaging"), "Other": ("", "")})
    add_codebook(session, {"Email": ("Administration & Workflow", "Email writing"), "Medical": (CDS, "Knowledge"),
                           "Messaging": ("Patient Communication", "Messaging"), "Other": ("", "")},
                 renames={"Patient letters": "Messaging"})
    ids = add_threads(session, [
        ("t01", "Card", "Physician", "clinician", "u1", utc(2024, 5, 6, 9)),
        ("t02", "Card", "Physician", "clinician", "u1", utc(2024, 5, 7, 9)),
        ("t03", "Card", "Registered Nurse", "non-clinician", "u1", utc(2024, 5, 8, 9)),
        ("t04", "Onc", "Registered Nurse", "non-clinician", "u1", utc(2024, 5, 12, 23, 30)),  # Sunday
        ("t05", "Onc", "Scheduler", "non-clinician", "u1", utc(2024, 5, 13, 0, 10)),  # Monday
        ("t06", "Onc", "Scheduler", "non-clinician", "u1", utc(2024, 5, 14, 9)),
        ("t07", "Onc", "Scheduler", "non-clinician", "u2", utc(2024, 5, 20, 9)),
        ("t08", "HR", None, None, "u3", utc(2024, 5, 21, 9)),
        ("t09", "HR", "Manager", "non-clinician", "u3", utc(2024, 5, 22, 9)),
        ("t10", "HR", "Manager", "non-clinician", "u4", utc(2024, 5, 23, 9)),
        ("t11", "HR", "Manager", "non-clinician", "u4", None),
        ("t12", "Card", "Physician", "clinician", "u2", utc(2024, 5, 24, 9)),
    ])
    run_id = add_run(session, ids, {"t01": "Email", "t02": "Medical", "t03": "Medical", "t04": "Email", "t05": "Other",
                                    "t06": "Email", "t07": "Patient letters", "t08": "Email", "t09": None,
                                    "t11": "Email", "t12": "Messaging"})
    add_consensus(session, tmp_path, "r1", {"t02": "Email", "t06": "Email", "t09": "Other"})
    add_consensus(session, tmp_path, "r2", {"t06": "Medical"})  # newer round wins
    return {"ids": ids, "run_id": run_id}


def counts(dist: pd.DataFrame) -> dict[str, tuple[int, int, int]]:
    return {r.category: (r.n, r.n_consensus, r.n_model) for r in dist.itertuples() if r.n}


def test_consensus_overrides_model_and_renames_apply(session, corpus):
    dist = d.category_distribution(session, run_id=corpus["run_id"])
    assert counts(dist) == {"Email": (5, 1, 4), "Medical": (2, 1, 1), "Messaging": (2, 0, 2), "Other": (2, 1, 1)}
    assert list(dist["category"]) == ["Email", "Medical", "Messaging", "Other"]
    assert dist.set_index("category").loc["Other", "medhelm_category"] == d.UNMAPPED
    assert dist["share"].sum() == pytest.approx(1.0)
    assert dist.set_index("category").loc["Email", "share"] == pytest.approx(5 / 11)


def test_without_a_run_only_consensus_counts(session, corpus):
    dist = d.category_distribution(session, run_id=None)
    assert counts(dist) == {"Email": (1, 1, 0), "Medical": (1, 1, 0), "Other": (1, 1, 0)}


def test_unknown_run_is_not_found(session, corpus):
    with pytest.raises(NotFound):
        d.category_distribution(session, run_id=999)


@pytest.mark.parametrize("filters, expected", [
    (d.Filters(role_groups=("clinician",)), {"Email": (2, 1, 1), "Messaging": (1, 0, 1)}),
    (d.Filters(role_groups=("unknown",)), {"Email": (1, 0, 1)}),
    (d.Filters(departments=("Onc",)), {"Email": (1, 0, 1), "Medical": (1, 1, 0), "Messaging": (1, 0, 1),
                                        "Other": (1, 0, 1)}),
    (d.Filters(frequent_only=True), {"Email": (3, 1, 2), "Medical": (2, 1, 1), "Other": (1, 0, 1)}),
    (d.Filters(start=date(2024, 5, 13), end=date(2024, 5, 20)), {"Medical": (1, 1, 0), "Messaging": (1, 0, 1),
                                                                   "Other": (1, 0, 1)}),
    (d.Filters(roles=("Manager",)), {"Email": (1, 0, 1), "Other": (1, 1, 0)}),
])
def test_filters(session, corpus, filters, expected):
    assert counts(d.category_distribution(session, run_id=corpus["run_id"], filters=filters)) == expected


def test_cached_cube_gives_the_same_dashboard(session, corpus):
    filters = d.Filters(start=date(2024, 5, 7), role_groups=("non-clinician", "clinician"), frequent_only=True)
    cube = d.model_cube(session, corpus["run_id"])
    with_cube = d.build_dashboard(session, run_id=corpus["run_id"], filters=filters, cube=cube)
    without = d.build_dashboard(session, run_id=corpus["run_id"], filters=filters)
    pd.testing.assert_frame_equal(with_cube.distribution, without.distribution)
    assert counts(with_cube.distribution) == {"Email": (2, 1, 1), "Medical": (2, 1, 1), "Other": (1, 0, 1)}


def test_dashboard_weeks_sources_and_shares(session, corpus):
    dash = d.build_dashboard(session, run_id=corpus["run_id"])
    weeks = dash.by_week.groupby("week")["n"].sum().to_dict()
    assert weeks == {"2024-05-06": 4, "2024-05-13": 2, "2024-05-20": 4, "(no date)": 1}
    assert (dash.n_threads, dash.n_consensus, dash.n_model, dash.n_unlabeled) == (12, 3, 8, 1)
    text = dash.labels_text()
    assert "consensus for 3 threads" in text and f"model run #{corpus['run_id']}" in text and "for 8" in text
    assert dash.offtopic["value"] == pytest.approx(2 / 11)
    assert dash.offtopic["categories"] == ["Other"]
    res = dash.clinical_from_nonclinical
    assert (res["numerator"], res["denominator"], res["categories"]) == (2, 7, ["Medical"])
    groups = dash.by_role_group.groupby("role_group")["n"].sum().to_dict()
    assert groups == {"clinician": 3, "non-clinician": 7, "unknown": 1}
    fv = dash.frequent_vs_all.set_index("category")
    assert (fv.loc["Email", "n_all"], fv.loc["Email", "n_frequent"]) == (5, 3)
    dept = d.pivot_shares(dash.by_department, "department", dash.categories)
    assert dept.loc["Onc", "n"] == 4 and dept.loc["Onc", "Medical"] == pytest.approx(0.25)


def test_weeks_cut_at_monday_utc_on_every_dialect(session, corpus):
    expr = d.period_expr(session.get_bind().dialect.name, "W")
    from sqlalchemy import select

    got = dict(session.execute(select(Thread.external_id, expr).where(Thread.external_id.in_(["t04", "t05"]))).all())
    assert got == {"t04": "2024-05-06", "t05": "2024-05-13"}
    month = d.period_expr(session.get_bind().dialect.name, "M")
    assert session.execute(select(month).where(Thread.external_id == "t12")).scalar_one() == "2024-05-01"


def test_shares_are_none_with_a_reason_when_undefined(session, corpus):
    dash = d.build_dashboard(session, run_id=corpus["run_id"], filters=d.Filters(role_groups=("clinician",)))
    res = dash.clinical_from_nonclinical
    assert res["value"] is None and "non-clinician" in res["reason"]
    empty = d.build_dashboard(session, run_id=corpus["run_id"], filters=d.Filters(departments=("Nowhere",)))
    assert empty.offtopic["value"] is None and empty.offtopic["reason"]
    assert empty.n_threads == 0 and empty.distribution["n"].sum() == 0


def test_bad_date_range_is_rejected():
    with pytest.raises(InvalidInput, match="starts"):
        d.Filters(start=date(2024, 6, 1), end=date(2024, 5, 1))


def test_default_run_prefers_the_setting(session, corpus):
    assert d.default_run_id(session) == corpus["run_id"]
    other = add_run(session, corpus["ids"], {"t01": "Other"}, scope="round:r1")
    assert d.default_run_id(session) == corpus["run_id"]  # only runs over all threads are picked by default
    d.set_dashboard_run(session, run_id=other, actor="test")
    assert d.default_run_id(session) == other
    with pytest.raises(NotFound):
        d.set_dashboard_run(session, run_id=12345, actor="test")


def test_exports(session, corpus):
    dash = d.build_dashboard(session, run_id=corpus["run_id"])
    png = d.figure1_png(dash.distribution)
    assert png.startswith(b"\x89PNG")
    csv = pd.read_csv(io.BytesIO(d.export_csv(dash)))
    assert set(csv["table"]) == {"distribution", "by_department", "by_role_group", "by_soc_group", "by_week", "frequent_users"}
    assert csv.query("table == 'distribution' and category == 'Email'")["n"].item() == 5
    page = d.export_html(dash, title="Usage <test>")
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert "Usage &lt;test&gt;" in page and "text of t01" not in page


def test_filter_options(session, corpus):
    opts = d.filter_options(session)
    assert opts["departments"] == ["Card", "HR", "Onc"]
    assert opts["roles"] == ["Manager", "Physician", "Registered Nurse", "Scheduler"]
    assert (opts["first"], opts["last"]) == (date(2024, 5, 6), date(2024, 5, 24))
