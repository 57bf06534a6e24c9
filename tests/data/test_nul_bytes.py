"""Attack 8, NUL bytes: PostgreSQL cannot store a NUL character and answered with the SQL, its parameters and
the schema; SQLite stored it silently. On both databases a NUL in a note, a rationale or a comment is now
refused with one line naming the field, and nothing is written."""

from __future__ import annotations

import pytest
from sqlmodel import select

from annotator.data.models import Assignment
from annotator.errors import InvalidInput
from annotator.services.adjudication import resolve
from annotator.services.labeling import submit_label
from tests.factories import dump_tables, make_round


def test_a_nul_in_a_note_or_rationale_is_one_line_and_changes_nothing(engine, session):
    from annotator.services.accounts import get_account

    rnd = make_round(session, reviewers=("alice", "bob"), per_thread=2, size=2).round
    alice = get_account(session, "alice")
    thread_id = session.exec(select(Assignment.thread_id).where(Assignment.round_id == rnd.id)).first()
    before = dump_tables(engine)
    with pytest.raises(InvalidInput) as exc:
        submit_label(session, round_id=rnd.id, thread_id=thread_id, reviewer_id=alice.id, category="Coding",
                     note="dose\x00 10 mg", unsure=False, seconds_spent=3.0, actor="alice")
    message = str(exc.value)
    assert message.startswith("'note' contains a NUL character")
    assert "INSERT" not in message and "dose" not in message and "\n" not in message
    session.rollback()
    with pytest.raises(InvalidInput, match="^'rationale' contains a NUL character"):
        resolve(session, round_id=rnd.id, thread_id=thread_id, category="Coding", rationale="because\x00", actor="lead")
    session.rollback()
    assert dump_tables(engine) == before
