"""Accounts, password sign-in with lockout, and signed session tokens (SQLite)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlmodel import Session

from annotator.data.engine import make_engine
from annotator.data.models import AuditEvent
from annotator.errors import Conflict, InvalidInput, NotAllowed
from annotator.services import accounts as acc

SECRET = "test-secret-" + "x" * 40
pytestmark = pytest.mark.usefixtures("fast_password_hashing")


@pytest.fixture
def s(sqlite_url):
    eng = make_engine(sqlite_url)
    with Session(eng, expire_on_commit=False) as session:
        yield session
    eng.dispose()


def test_created_account_can_sign_in_and_password_is_hashed(s):
    created = acc.create_account(s, username="lead1", role="lead", password="correct horse")
    assert created.password_hash and "correct horse" not in created.password_hash
    assert acc.authenticate(s, username="lead1", password="correct horse").username == "lead1"


@pytest.mark.parametrize("kwargs, error, message", [
    ({"username": "two words"}, InvalidInput, "not valid"),
    ({"username": "a,b"}, InvalidInput, "not valid"),
    ({"username": ""}, InvalidInput, "not valid"),
    ({"username": "ok", "role": "boss"}, InvalidInput, "role 'boss' is not one of reviewer, lead, admin"),
    ({"username": "ok", "password": "short"}, InvalidInput, "at least 8 characters"),
])
def test_bad_account_details_are_rejected(s, kwargs, error, message):
    with pytest.raises(error, match=message):
        acc.create_account(s, **kwargs)
    assert acc.list_accounts(s) == []


def test_duplicate_username_is_a_conflict(s):
    acc.create_account(s, username="ana")
    with pytest.raises(Conflict, match="already exists"):
        acc.create_account(s, username="ana")


def test_wrong_password_and_unknown_user_give_the_same_message(s):
    acc.create_account(s, username="ana", password="password-1")
    for name, pw in [("ana", "wrong-password"), ("nobody", "password-1")]:
        with pytest.raises(NotAllowed, match="^wrong username or password$"):
            acc.authenticate(s, username=name, password=pw)


def test_account_without_password_cannot_sign_in(s):
    acc.ensure_reviewers(s, ["rev1"], actor="test")
    s.commit()
    assert acc.get_account(s, "rev1").password_hash is None
    with pytest.raises(NotAllowed):
        acc.authenticate(s, username="rev1", password="")


def test_repeated_failures_lock_the_account_for_a_while(s):
    acc.create_account(s, username="ana", password="password-1")
    now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    for _ in range(3):
        with pytest.raises(NotAllowed, match="wrong username"):
            acc.authenticate(s, username="ana", password="nope-nope", max_failed=3, now=now)
    with pytest.raises(NotAllowed, match="too many failed attempts"):
        acc.authenticate(s, username="ana", password="password-1", max_failed=3, now=now + timedelta(minutes=1))
    later = now + timedelta(minutes=16)
    assert acc.authenticate(s, username="ana", password="password-1", max_failed=3, now=later).failed_logins == 0


def test_failed_sign_in_is_audited_without_the_password(s):
    acc.create_account(s, username="ana", password="password-1")
    with pytest.raises(NotAllowed):
        acc.authenticate(s, username="ana", password="hunter2-secret")
    events = s.execute(select(AuditEvent).where(AuditEvent.action == "sign_in_failed")).scalars().all()
    assert len(events) == 1 and "hunter2" not in repr(events[0].detail)


def test_token_names_the_account_until_signed_out_everywhere(s):
    a = acc.create_account(s, username="ana", password="password-1")
    token = acc.issue_token(a, secret=SECRET)
    assert acc.account_for_token(s, token, secret=SECRET, max_age_hours=1).username == "ana"
    assert acc.account_for_token(s, token, secret="another-secret", max_age_hours=1) is None
    assert acc.account_for_token(s, token + "x", secret=SECRET, max_age_hours=1) is None
    acc.sign_out_everywhere(s, username="ana")
    assert acc.account_for_token(s, token, secret=SECRET, max_age_hours=1) is None


def test_password_reset_and_deactivation_end_sessions(s):
    a = acc.create_account(s, username="ana", password="password-1")
    token = acc.issue_token(a, secret=SECRET)
    acc.set_password(s, username="ana", password="password-2", actor="admin")
    assert acc.account_for_token(s, token, secret=SECRET, max_age_hours=1) is None
    token = acc.issue_token(acc.get_account(s, "ana"), secret=SECRET)
    acc.update_account(s, username="ana", actor="admin", active=False)
    assert acc.account_for_token(s, token, secret=SECRET, max_age_hours=1) is None
    with pytest.raises(NotAllowed):
        acc.authenticate(s, username="ana", password="password-2")


def test_ensure_reviewers_reuses_existing_accounts(s):
    lead = acc.create_account(s, username="lead1", role="lead")
    found = acc.ensure_reviewers(s, ["lead1", "new1"], actor="test")
    s.commit()
    assert found["lead1"].id == lead.id and found["lead1"].role == "lead"
    assert [a.username for a in acc.list_accounts(s, role="reviewer")] == ["new1"]
