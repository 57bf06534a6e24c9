"""Concurrent submits on SQLite and PostgreSQL: double clicks from two tabs never make two labels."""

from __future__ import annotations

import random
import threading
from collections import Counter

from sqlalchemy import func, select
from sqlmodel import Session

from annotator.data.models import Assignment, AuditEvent, Label
from annotator.services.labeling import submit_label
from tests.factories import make_round

WORKERS = 20
REVIEWERS = [f"rev{i:02d}" for i in range(WORKERS // 2)]  # two workers (two browser tabs) per reviewer


def test_concurrent_double_submits_store_exactly_one_label_per_assignment(engine, session):
    rnd = make_round(session, size=12, reviewers=REVIEWERS, per_thread=3, seed=11).round
    assignments = session.execute(select(Assignment.thread_id, Assignment.reviewer_id)
                                  .where(Assignment.round_id == rnd.id)).all()
    by_reviewer: dict[int, list[int]] = {}
    for thread_id, reviewer_id in assignments:
        by_reviewer.setdefault(reviewer_id, []).append(thread_id)
    jobs = [(rid, threads) for rid, threads in sorted(by_reviewer.items()) for _ in range(2)]
    assert len(jobs) == WORKERS

    start = threading.Barrier(WORKERS)
    errors: list[BaseException] = []
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def work(worker: int, reviewer_id: int, threads: list[int]) -> None:
        order = [t for t in threads for _ in range(2)]  # every assigned thread twice: a double submit
        random.Random(worker).shuffle(order)
        try:
            start.wait(timeout=30)
            with Session(engine, expire_on_commit=False) as s:
                for thread_id in order:
                    _, outcome = submit_label(s, round_id=rnd.id, thread_id=thread_id, reviewer_id=reviewer_id,
                                              category="Other", actor=f"worker{worker}")
                    with lock:
                        outcomes[outcome] += 1
        except BaseException as exc:  # noqa: BLE001  (collected and reported by the main thread)
            with lock:
                errors.append(exc)

    pool = [threading.Thread(target=work, args=(i, rid, threads)) for i, (rid, threads) in enumerate(jobs)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in pool), "a worker hung"
    assert errors == [], f"{len(errors)} worker errors, first: {errors[:1]!r}"

    with Session(engine) as s:
        stored = s.execute(select(func.count()).select_from(Label).where(Label.round_id == rnd.id)).scalar_one()
        created = s.execute(select(func.count()).select_from(AuditEvent)
                            .where(AuditEvent.action == "label_created")).scalar_one()
    assert stored == len(assignments) == 36
    assert outcomes == {"created": 36, "unchanged": 4 * 36 - 36}
    assert created == 36  # a lost race leaves no audit row behind
