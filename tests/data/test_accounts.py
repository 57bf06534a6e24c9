"""Accounts, password sign-in with the per-(name, address) throttle, and server-side sessions, on SQLite
and PostgreSQL: the parallel lockout race (20 threads, at most the limit of password checks), the same
message for unknown and blocked names, no lockout of an account from another address, admin unlock,
sessions ended by sign-out, password reset and deactivation, NUL bytes refused in one line."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from annotator.data.models import Account, AuditEvent, SignInThrottle, WebSession
from annotator.errors import Conflict, InvalidInput, NotAllowed
from annotator.services import accounts as acc

SECRET = "Zq8v-0kYtR3wLmN5pXc7Hs2JdF9gBa4UeIo6Ty1Vn_Qr" + "Ws"
pytestmark = pytest.mark.usefixtures("fast_password_hashing")
BLOCKED = "too many failed sign-ins for this username from this computer"
T0 = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


@pytest.fixture
def s(session):
    return session


def test_created_account_can_sign_in_and_password_is_hashed(s):
    created = acc.create_account(s, username="lead1", role="lead", password="correct horse")
    assert created.password_hash and "correct horse" not in created.password_hash
    assert acc.authenticate(s, username="lead1", password="correct horse").username == "lead1"


@pytest.mark.parametrize("kwargs, error, message", [
    ({"username": "two words"}, InvalidInput, "not valid"),
    ({"username": "a,b"}, InvalidInput, "not valid"),
    ({"username": ""}, InvalidInput, "not valid"),
    ({"username": "tab\tname"}, InvalidInput, "not valid"),
    ({"username": "nul\x00name"}, InvalidInput, "^a username cannot contain a NUL character$"),
    ({"username": "ok", "display_name": "Dr\x00X"}, InvalidInput, "NUL character"),
    ({"username": "ok", "role": "boss"}, InvalidInput, "role 'boss' is not one of reviewer, lead, admin"),
    ({"username": "ok", "password": "short"}, InvalidInput, "at least 8 characters"),
    ({"username": "ok", "password": ""}, InvalidInput, "^a password is required"),
    ({"username": "ok", "password": "Password1!"}, InvalidInput, "most common passwords"),
    ({"username": "ok", "password": "Summer2026!!"}, InvalidInput, "common word"),
    ({"username": "margaret", "password": "margaret-2026"}, InvalidInput, "must not contain the username"),
])
def test_bad_account_details_are_rejected(s, kwargs, error, message):
    with pytest.raises(error, match=message):
        acc.create_account(s, **kwargs)
    s.rollback()
    assert acc.list_accounts(s) == []


def test_duplicate_username_is_a_conflict(s):
    acc.create_account(s, username="ana")
    with pytest.raises(Conflict, match="already exists"):
        acc.create_account(s, username="ana")


def test_wrong_password_and_unknown_user_give_the_same_message(s):
    acc.create_account(s, username="ana", password="violet-harbour-7")
    for name, pw in [("ana", "wrong-password"), ("nobody", "violet-harbour-7")]:
        with pytest.raises(NotAllowed, match="^wrong username or password$"):
            acc.authenticate(s, username=name, password=pw)


def test_account_without_password_cannot_sign_in(s):
    acc.ensure_reviewers(s, ["rev1"], actor="test")
    s.commit()
    assert acc.get_account(s, "rev1").password_hash is None
    with pytest.raises(NotAllowed, match="^wrong username or password$"):
        acc.authenticate(s, username="rev1", password="")


def test_nul_bytes_in_a_sign_in_are_one_clear_line(s):
    with pytest.raises(InvalidInput, match="^a username or password cannot contain a NUL character$"):
        acc.authenticate(s, username="ana\x00", password="whatever-1")
    with pytest.raises(InvalidInput, match="NUL character"):
        acc.authenticate(s, username="ana", password="pass\x00word")


def test_repeated_failures_pause_this_name_from_this_address_with_a_growing_pause(s):
    acc.create_account(s, username="ana", password="violet-harbour-7")
    for _ in range(3):
        with pytest.raises(NotAllowed, match="^wrong username or password$"):
            acc.authenticate(s, username="ana", password="nope-nope", client="10.0.0.9", max_failed=3, now=T0)
    with pytest.raises(NotAllowed, match=f"^{BLOCKED}; try again in 15 minute"):
        acc.authenticate(s, username="ana", password="violet-harbour-7", client="10.0.0.9", max_failed=3,
                         now=T0 + timedelta(seconds=30))
    # the owner, elsewhere, is not locked out: nobody can lock an account by guessing from their own machine
    assert acc.authenticate(s, username="ana", password="violet-harbour-7", client="10.0.0.2", max_failed=3,
                            now=T0 + timedelta(minutes=1)).username == "ana"
    later = T0 + timedelta(minutes=16)  # the block is over: three more tries, then a pause twice as long
    for i in range(3):
        with pytest.raises(NotAllowed, match="^wrong username or password$"):
            acc.authenticate(s, username="ana", password="nope-nope", client="10.0.0.9", max_failed=3,
                             now=later + timedelta(seconds=i))
    with pytest.raises(NotAllowed, match=f"^{BLOCKED}; try again in 30 minute"):
        acc.authenticate(s, username="ana", password="violet-harbour-7", client="10.0.0.9", max_failed=3,
                         now=later + timedelta(seconds=10))
    much_later = later + timedelta(minutes=31)
    assert acc.authenticate(s, username="ana", password="violet-harbour-7", client="10.0.0.9", max_failed=3,
                            now=much_later).failed_logins == 0
    row = s.execute(select(SignInThrottle).where(SignInThrottle.client == "10.0.0.9")).scalar_one()
    assert (row.failures, row.lockouts, row.blocked_until) == (0, 0, None)  # a right password clears the record


def test_unknown_and_existing_names_are_paused_alike(s):
    acc.create_account(s, username="ana", password="violet-harbour-7")
    messages = {}
    for name in ("ana", "nobody"):
        for _ in range(3):
            with pytest.raises(NotAllowed):
                acc.authenticate(s, username=name, password="nope-nope", max_failed=3, now=T0)
        with pytest.raises(NotAllowed) as exc:
            acc.authenticate(s, username=name, password="violet-harbour-7", max_failed=3, now=T0)
        messages[name] = str(exc.value)
    assert messages["ana"] == messages["nobody"] and messages["ana"].startswith(BLOCKED)


def test_an_admin_lifts_every_pause_of_an_account(s):
    acc.create_account(s, username="ana", password="violet-harbour-7")
    now = datetime.now(timezone.utc)
    for client in ("10.0.0.1", "10.0.0.2"):
        for _ in range(3):
            with pytest.raises(NotAllowed):
                acc.authenticate(s, username="ana", password="nope-nope", client=client, max_failed=3, now=now)
    assert acc.blocked_counts(s) == {"ana": 2}
    assert acc.get_account(s, "ana").failed_logins == 6
    assert acc.unlock_account(s, username="ana", actor="admin1") == 2
    assert acc.blocked_counts(s) == {}
    assert acc.authenticate(s, username="ana", password="violet-harbour-7", client="10.0.0.1", max_failed=3).username == "ana"
    event = s.execute(select(AuditEvent).where(AuditEvent.action == "unlock_account")).scalar_one()
    assert (event.actor, event.detail) == ("admin1", {"blocked_addresses": 2})


def test_parallel_wrong_passwords_check_at_most_the_limit(engine, monkeypatch):
    """The attack: 20 parallel wrong passwords used to be checked all and never lock (read-increment-write)."""
    with Session(engine) as s:
        acc.create_account(s, username="victim", password="violet-harbour-7")
    checks = []
    hasher = acc._hasher

    class Counting:
        def hash(self, password):
            return hasher.hash(password)

        def verify(self, hash_, password):
            checks.append(password)
            return hasher.verify(hash_, password)

    monkeypatch.setattr(acc, "_hasher", Counting())
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def attempt(i: int) -> None:
        with Session(engine) as s:
            barrier.wait()
            try:
                acc.authenticate(s, username="victim", password=f"guess-{i:02d}-wrong", client="203.0.113.7",
                                 max_failed=5)
            except NotAllowed as exc:
                outcomes.append(str(exc))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 20
    assert len(checks) <= 5, f"{len(checks)} passwords were checked"
    assert sum(o == "wrong username or password" for o in outcomes) == len(checks)
    assert sum(o.startswith(BLOCKED) for o in outcomes) == 20 - len(checks)
    with Session(engine) as s:
        row = s.execute(select(SignInThrottle)).scalar_one()
        assert row.blocked_until is not None and row.lockouts == 1
        assert s.execute(select(Account.failed_logins)).scalar_one() == len(checks)
        with pytest.raises(NotAllowed, match=BLOCKED):  # the right password waits for the pause to end
            acc.authenticate(s, username="victim", password="violet-harbour-7", client="203.0.113.7")


def test_failed_sign_in_is_audited_without_the_password(s):
    acc.create_account(s, username="ana", password="violet-harbour-7")
    with pytest.raises(NotAllowed):
        acc.authenticate(s, username="ana", password="hunter2-secret")
    events = s.execute(select(AuditEvent).where(AuditEvent.action == "sign_in_failed")).scalars().all()
    assert len(events) == 1 and "hunter2" not in repr(events[0].detail)


def test_a_session_token_names_the_account_until_signed_out(s):
    a = acc.create_account(s, username="ana", password="violet-harbour-7")
    token = acc.start_session(s, a, secret=SECRET, hours=1)
    other = acc.start_session(s, a, secret=SECRET, hours=1)
    assert acc.account_for_token(s, token, secret=SECRET).username == "ana"
    assert acc.account_for_token(s, token, secret=SECRET[::-1]) is None
    assert acc.account_for_token(s, token + "x", secret=SECRET) is None
    assert acc.account_for_token(s, "", secret=SECRET) is None
    stored = s.execute(select(WebSession.token_hash)).scalars().all()
    assert len(stored) == 2 and all(len(h) == 64 and h not in token for h in stored)  # only hashes are stored
    acc.end_session(s, tokens=[token, None], secret=SECRET, actor="ana")  # "Sign out": this browser only
    assert acc.account_for_token(s, token, secret=SECRET) is None
    assert acc.account_for_token(s, other, secret=SECRET).username == "ana"
    acc.sign_out_everywhere(s, username="ana")
    assert acc.account_for_token(s, other, secret=SECRET) is None


def test_an_expired_session_opens_nothing(s):
    a = acc.create_account(s, username="ana", password="violet-harbour-7")
    token = acc.start_session(s, a, secret=SECRET, hours=2, now=T0)
    assert acc.account_for_token(s, token, secret=SECRET, now=T0 + timedelta(hours=1)).username == "ana"
    assert acc.account_for_token(s, token, secret=SECRET, now=T0 + timedelta(hours=2, seconds=1)) is None


def test_password_reset_and_deactivation_end_sessions(s):
    a = acc.create_account(s, username="ana", password="violet-harbour-7")
    token = acc.start_session(s, a, secret=SECRET, hours=1)
    acc.set_password(s, username="ana", password="amber-lantern-42", actor="admin")
    assert acc.account_for_token(s, token, secret=SECRET) is None
    token = acc.start_session(s, acc.get_account(s, "ana"), secret=SECRET, hours=1)
    acc.update_account(s, username="ana", actor="admin", active=False)
    assert acc.account_for_token(s, token, secret=SECRET) is None
    with pytest.raises(NotAllowed):
        acc.authenticate(s, username="ana", password="amber-lantern-42")
    assert s.execute(select(func.count()).select_from(WebSession)).scalar_one() == 0


def test_ensure_reviewers_reuses_existing_accounts(s):
    lead = acc.create_account(s, username="lead1", role="lead")
    found = acc.ensure_reviewers(s, ["lead1", "new1"], actor="test")
    s.commit()
    assert found["lead1"].id == lead.id and found["lead1"].role == "lead"
    assert [a.username for a in acc.list_accounts(s, role="reviewer")] == ["new1"]


def test_a_nul_byte_in_any_stored_text_is_refused_before_the_database(s):
    """PostgreSQL cannot store NUL and used to answer with the SQL and its parameters; SQLite stored it."""
    from annotator.data.models import Setting

    s.add(Setting(key="note", value="before\x00after"))
    with pytest.raises(InvalidInput, match=r"^'value' contains a NUL character \(\\0\), which cannot be stored"):
        s.commit()
    s.rollback()
    assert s.get(Setting, "note") is None
