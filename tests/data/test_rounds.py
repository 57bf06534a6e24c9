"""Rounds: sampling into a round, importing labels from a spreadsheet, exporting labels, progress."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest
from sqlalchemy import select

from annotator.data.models import Account, Assignment, AuditEvent, Label, Round, Thread
from annotator.errors import Conflict, InvalidInput, RowErrors
from annotator.services.rounds import (
    create_sampled_round, import_labels, labels_frame, round_progress, set_round_status,
)
from annotator.services.tables import write_frame
from tests.factories import CATEGORIES, dump_tables, make_codebook, make_round, make_threads

REVIEWERS = ["ana", "ben", "cho", "dev"]


def pairs(session, round_id: int) -> set[tuple[int, int]]:
    return set(session.execute(select(Assignment.thread_id, Assignment.reviewer_id).where(Assignment.round_id == round_id)).all())


def test_same_seed_draws_the_same_round(session):
    make_codebook(session)
    make_threads(session, 40, seed=1)
    a = create_sampled_round(session, name="a", size=10, reviewers=REVIEWERS, per_thread=2, seed=7)
    b = create_sampled_round(session, name="b", size=10, reviewers=REVIEWERS, per_thread=2, seed=7)
    c = create_sampled_round(session, name="c", size=10, reviewers=REVIEWERS, per_thread=2, seed=8)
    assert pairs(session, a.round.id) == pairs(session, b.round.id) != pairs(session, c.round.id)
    assert a.round.seed == 7 and a.round.sampling_spec["size"] == 10


def test_round_has_k_distinct_reviewers_per_thread_and_balanced_loads(session):
    res = make_round(session, size=11, reviewers=REVIEWERS, per_thread=3, seed=2)
    got = pairs(session, res.round.id)
    per_thread = Counter(t for t, _ in got)
    assert len(per_thread) == 11 and set(per_thread.values()) == {3}
    loads = Counter(r for _, r in got)
    assert max(loads.values()) - min(loads.values()) <= 1 and res.n_assignments == 33
    queue = session.execute(select(Assignment.position).where(Assignment.round_id == res.round.id)
                            .order_by(Assignment.reviewer_id, Assignment.position)).scalars().all()
    assert sorted(queue) == sorted(p for n in res.per_reviewer.values() for p in range(n))


def test_stratified_round_keeps_the_department_mix(session):
    make_codebook(session)
    make_threads(session, 40, seed=1, department=["Emergency"] * 20 + ["Oncology"] * 12 + ["Radiology"] * 8)
    res = create_sampled_round(session, name="s", size=10, reviewers=REVIEWERS, per_thread=1, seed=3, stratify="department")
    depts = session.execute(select(Thread.department).join(Assignment, Assignment.thread_id == Thread.id)
                            .where(Assignment.round_id == res.round.id)).scalars().all()
    assert Counter(depts) == {"Emergency": 5, "Oncology": 3, "Radiology": 2}


def test_frequent_users_only_keeps_users_with_at_least_six_threads(session):
    make_codebook(session)
    users = ["five"] * 5 + ["six"] * 6 + ["seven"] * 7 + [None] * 3
    make_threads(session, len(users), seed=1, user_id=users)
    res = create_sampled_round(session, name="f", size=13, reviewers=REVIEWERS, per_thread=1, seed=1,
                               frequent_users_only=True)
    sampled = session.execute(select(Thread.user_id).join(Assignment, Assignment.thread_id == Thread.id)
                              .where(Assignment.round_id == res.round.id)).scalars().all()
    assert Counter(sampled) == {"six": 6, "seven": 7}


def test_exclude_sampled_skips_threads_already_in_a_round(session):
    first = make_round(session, name="first", size=5, reviewers=REVIEWERS, per_thread=1, seed=1)
    make_threads(session, 5, seed=2)
    second = create_sampled_round(session, name="second", size=5, reviewers=REVIEWERS, per_thread=1, seed=1,
                                  exclude_sampled=True)
    firsts = {t for t, _ in pairs(session, first.round.id)}
    seconds = {t for t, _ in pairs(session, second.round.id)}
    assert len(firsts) == 5 and len(seconds) == 5 and not firsts & seconds


@pytest.mark.parametrize("kwargs, error, message", [
    ({"per_thread": 5}, InvalidInput, r"^reviewers per thread must be between 1 and the number of reviewers \(4\)$"),
    ({"reviewers": ["ana", "ana"], "per_thread": 1}, InvalidInput, "listed twice"),
    ({"size": 0}, InvalidInput, "^the sample size must be at least 1$"),
    ({"size": 100_000}, InvalidInput, "^asked for 100,000 threads, but only 4 match the sampling criteria"),
    ({"stratify": "user_id"}, InvalidInput, "unknown column 'user_id'"),
    ({"name": "taken"}, Conflict, "round 'taken' already exists"),
])
def test_bad_sampling_requests_write_nothing(engine, session, kwargs, error, message):
    make_round(session, name="taken", size=4, reviewers=REVIEWERS, per_thread=1)
    before = dump_tables(engine)
    args = {"name": "new", "size": 3, "reviewers": REVIEWERS, "per_thread": 2, "seed": 1} | kwargs
    with pytest.raises(error, match=message):
        create_sampled_round(session, **args)
    session.rollback()
    assert dump_tables(engine) == before


# ---------------------------------------------------------------- import-labels / export labels

def labels_csv(path, rows: list[tuple[str, ...]], header: str = "thread_id,reviewer,category") -> str:
    path.write_text("\n".join([header, *(",".join(r) for r in rows)]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def threads(session):
    make_codebook(session)
    return [t.external_id for t in make_threads(session, 4, seed=1)]


def test_import_labels_creates_the_round_assignments_and_reviewers(session, tmp_path, threads):
    rows = [(threads[0], "ana", "Research"), (threads[0], "ben", "research"), (threads[1], "ana", "Other")]
    res = import_labels(session, labels_csv(tmp_path / "l.csv", rows), round_name="legacy")
    assert res.created_round and (res.inserted, res.updated, res.unchanged) == (3, 0, 0)
    assert res.new_reviewers == ["ana", "ben"]
    rnd = session.execute(select(Round).where(Round.name == "legacy")).scalar_one()
    assert rnd.per_thread == 2 and len(pairs(session, rnd.id)) == 3
    accounts = session.execute(select(Account).where(Account.username.in_(["ana", "ben"]))).scalars().all()
    assert [(a.role, a.password_hash) for a in accounts] == [("reviewer", None)] * 2
    assert sorted(labels_frame(session, "legacy")["category"]) == ["Other", "Research", "Research"]  # canonical case


def test_import_labels_lists_every_bad_row_and_writes_nothing(engine, session, tmp_path, threads):
    rows = [(threads[0], "ana", "Research"), ("nope", "ana", "Research"), (threads[1], "ben", "Astrology"),
            (threads[0], "ana", "Other"), (threads[2], "", "Other")]
    before = dump_tables(engine)
    with pytest.raises(RowErrors) as err:
        import_labels(session, labels_csv(tmp_path / "l.csv", rows), round_name="legacy")
    assert [(r, f) for r, f, _ in err.value.problems] == [(3, "thread_id"), (4, "category"), (5, "thread_id"), (6, "reviewer")]
    assert "unknown thread id 'nope'" in str(err.value) and "Astrology" in err.value.problems[1][2]
    session.rollback()
    assert dump_tables(engine) == before


def test_reimporting_the_same_labels_changes_nothing(engine, session, tmp_path, threads):
    path = labels_csv(tmp_path / "l.csv", [(t, "ana", "Other") for t in threads])
    import_labels(session, path, round_name="legacy")
    labels_before = dump_tables(engine)["label"]
    again = import_labels(session, path, round_name="legacy")
    assert (again.created_round, again.inserted, again.updated, again.unchanged) == (False, 0, 0, 4)
    assert dump_tables(engine)["label"] == labels_before


def test_reimport_with_a_changed_category_updates_and_audits(session, tmp_path, threads):
    import_labels(session, labels_csv(tmp_path / "a.csv", [(threads[0], "ana", "Other")]), round_name="legacy")
    res = import_labels(session, labels_csv(tmp_path / "b.csv", [(threads[0], "ana", "Coding")]), round_name="legacy")
    assert (res.inserted, res.updated) == (0, 1)
    assert session.execute(select(Label.category)).scalar_one() == "Coding"
    changed = session.execute(select(AuditEvent).where(AuditEvent.action == "label_changed")).scalar_one()
    assert changed.detail["from"] == "Other" and changed.detail["to"] == "Coding"


def test_closed_round_refuses_imported_labels(session, tmp_path, threads):
    path = labels_csv(tmp_path / "l.csv", [(threads[0], "ana", "Other")])
    import_labels(session, path, round_name="legacy")
    set_round_status(session, name="legacy", status="closed", actor="test")
    with pytest.raises(Conflict, match="closed"):
        import_labels(session, path, round_name="legacy")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_exported_labels_read_back_the_same(session, tmp_path, threads, fmt):
    rows = [(t, r, CATEGORIES[i % len(CATEGORIES)], f"note {i}", "yes" if i % 2 else "", str(10 + i))
            for i, (t, r) in enumerate((t, r) for t in threads for r in ("ana", "ben"))]
    import_labels(session, labels_csv(tmp_path / "l.csv", rows, "thread_id,reviewer,category,note,unsure,seconds_spent"),
                  round_name="legacy")
    frame = labels_frame(session, "legacy")
    out = write_frame(frame, fmt, tmp_path / f"labels.{fmt}")
    back = {"csv": pd.read_csv, "parquet": pd.read_parquet,
            "jsonl": lambda p: pd.read_json(p, lines=True, dtype=False)}[fmt](out)
    cols = ["round", "thread_id", "reviewer", "category", "note", "unsure", "seconds_spent"]
    expected = pd.DataFrame(
        [("legacy", t, r, c, n, u == "yes", float(s)) for t, r, c, n, u, s in sorted(rows)], columns=cols)
    pd.testing.assert_frame_equal(back[cols].reset_index(drop=True), expected, check_dtype=False)
    if fmt == "csv":  # an exported CSV imports back into the round as "unchanged"
        assert import_labels(session, out, round_name="legacy").unchanged == len(rows)


def test_round_progress_counts_assigned_and_done_per_reviewer(session, tmp_path, threads):
    import_labels(session, labels_csv(tmp_path / "l.csv", [(threads[0], "ana", "Other"), (threads[1], "ana", "Other"),
                                                           (threads[0], "ben", "Other")]), round_name="legacy")
    assert [(p.reviewer, p.assigned, p.done) for p in round_progress(session, "legacy")] == [("ana", 2, 2), ("ben", 1, 1)]
