"""Accounts, password sign-in with an atomic per-(name, address) throttle, and server-side sessions.

Sign-in throttle. Every attempt first reserves a slot with one atomic UPDATE of the row for (the
username as typed, the client address): the UPDATE succeeds only while fewer than ``max_failed``
attempts are counted and no block is running, so N parallel wrong passwords check at most
``max_failed`` of them, on SQLite and on PostgreSQL alike. The attempt that reaches the limit starts a
block of ``lockout_minutes`` for that name from that address, doubling with each further block (at
most a day); a right password clears the counter. Unknown usernames are counted exactly like real
ones, and a blocked name gets the same message whether or not an account exists. A block never stops
the account's owner signing in from another address, so nobody can lock an admin out at will; an
admin can lift every block of an account (:func:`unlock_account`).

Sessions. A sign-in creates a ``WebSession`` row; the browser holds a token signed with
``ANNOTATOR_SECRET_KEY`` that carries 32 random bytes, and the database holds only their SHA-256.
Signing out deletes the row; signing out everywhere, a password reset or a deactivation deletes all
rows of the account, which every app process sees at its next interaction.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import unicodedata
from datetime import datetime, timedelta, timezone
from typing import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, case, delete, or_, update
from sqlmodel import Session, select

from annotator.data.models import Account, Role, SignInThrottle, WebSession
from annotator.errors import Conflict, InvalidInput, NotAllowed, NotFound
from annotator.services import audit
from annotator.services.password_policy import password_problem

log = logging.getLogger(__name__)
_hasher = PasswordHasher()
ROLES = tuple(r.value for r in Role)
WRONG = "wrong username or password"
MAX_BLOCK_MINUTES = 24 * 60
STALE_THROTTLE = timedelta(days=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=timezone.utc) if dt is not None and dt.tzinfo is None else dt


def normal_username(username: str | None) -> str:
    """A username as stored and compared: Unicode NFC, surrounding whitespace removed (case kept)."""
    return unicodedata.normalize("NFC", username or "").strip()


def get_account(session: Session, username: str) -> Account | None:
    return session.exec(select(Account).where(Account.username == normal_username(username))).first()


def require_account(session: Session, username: str) -> Account:
    acc = get_account(session, username)
    if acc is None:
        raise NotFound(f"no account '{username}'")
    return acc


def list_accounts(session: Session, role: str | None = None) -> list[Account]:
    stmt = select(Account).order_by(Account.username)
    if role:
        stmt = stmt.where(Account.role == role)
    return list(session.exec(stmt))


def _check_username(username: str) -> str:
    if "\x00" in (username or ""):
        raise InvalidInput("a username cannot contain a NUL character")
    username = normal_username(username)
    if (not username or len(username) > 100 or any(c.isspace() or unicodedata.category(c) == "Cc" for c in username)
            or "," in username):
        raise InvalidInput(f"username '{username}' is not valid: 1-100 characters, no spaces or commas")
    return username


def _check_password(password: str | None, username: str) -> None:
    problem = password_problem(password, username)
    if problem:
        raise InvalidInput(problem)


def create_account(session: Session, *, username: str, role: str = "reviewer", password: str | None = None,
                   display_name: str = "", is_adjudicator: bool = False, actor: str = "cli") -> Account:
    """Create an account (commits). With ``password=None`` it can be labeled for but cannot sign in;
    an empty or weak password is refused (see :mod:`annotator.services.password_policy`)."""
    username = _check_username(username)
    if role not in ROLES:
        raise InvalidInput(f"role '{role}' is not one of {', '.join(ROLES)}")
    if "\x00" in (display_name or ""):
        raise InvalidInput("a display name cannot contain a NUL character")
    if get_account(session, username):
        raise Conflict(f"account '{username}' already exists")
    if password is not None:
        _check_password(password, username)
    acc = Account(username=username, role=role, display_name=display_name or username,
                  password_hash=hash_password(password) if password else None, is_adjudicator=is_adjudicator)
    session.add(acc)
    audit.record(session, actor=actor, action="create_account", entity="account", entity_id=username,
                 detail={"role": role})
    session.commit()
    return acc


def ensure_reviewers(session: Session, usernames: list[str], *, actor: str) -> dict[str, Account]:
    """Accounts for these usernames, creating missing ones as password-less reviewers (no commit)."""
    found = {a.username: a for a in session.exec(select(Account).where(Account.username.in_(usernames)))}
    for name in usernames:
        if name not in found:
            acc = Account(username=_check_username(name), display_name=name, role="reviewer")
            session.add(acc)
            found[name] = acc
            audit.record(session, actor=actor, action="create_account", entity="account", entity_id=name,
                         detail={"role": "reviewer", "password": False})
    session.flush()
    return found


def _end_all_sessions(session: Session, account_id: int) -> None:
    session.execute(delete(WebSession).where(WebSession.account_id == account_id))


def set_password(session: Session, *, username: str, password: str, actor: str) -> None:
    """Set a new password (commits); it ends every session of the account and lifts its sign-in blocks."""
    acc = require_account(session, username)
    _check_password(password, acc.username)
    acc.password_hash = hash_password(password)
    acc.failed_logins = 0
    session.add(acc)
    _end_all_sessions(session, acc.id)
    session.execute(delete(SignInThrottle).where(SignInThrottle.username == acc.username))
    audit.record(session, actor=actor, action="reset_password", entity="account", entity_id=username)
    session.commit()


def update_account(session: Session, *, username: str, actor: str, role: str | None = None,
                   active: bool | None = None, is_adjudicator: bool | None = None) -> Account:
    acc = require_account(session, username)
    if role is not None:
        if role not in ROLES:
            raise InvalidInput(f"role '{role}' is not one of {', '.join(ROLES)}")
        acc.role = role
    if active is not None:
        acc.active = active
        _end_all_sessions(session, acc.id)
    if is_adjudicator is not None:
        acc.is_adjudicator = is_adjudicator
    session.add(acc)
    audit.record(session, actor=actor, action="update_account", entity="account", entity_id=username,
                 detail={"role": role, "active": active, "is_adjudicator": is_adjudicator})
    session.commit()
    return acc


# --- the sign-in throttle ---------------------------------------------------------------------------

def _throttle_key(username: str, client: str | None) -> tuple[str, str]:
    return normal_username(username)[:100], (client or "unknown")[:64]


def _insert_throttle(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(SignInThrottle.__table__).on_conflict_do_nothing(index_elements=["username", "client"])


def _reserve_attempt(session: Session, name: str, client: str, *, max_failed: int, lockout_minutes: float,
                     now: datetime) -> bool:
    """Count one attempt atomically (commits); False when (name, client) is blocked right now."""
    t = SignInThrottle.__table__
    session.execute(_insert_throttle(session.get_bind().dialect.name),
                    {"username": name, "client": client, "failures": 0, "lockouts": 0, "updated_at": now})
    expired = and_(t.c.blocked_until.is_not(None), t.c.blocked_until <= now)
    row = session.execute(
        update(t).where(t.c.username == name, t.c.client == client,
                        or_(and_(t.c.blocked_until.is_(None), t.c.failures < max_failed), expired))
        .values(failures=case((expired, 1), else_=t.c.failures + 1), blocked_until=None, updated_at=now)
        .returning(t.c.failures, t.c.lockouts)).first()
    if row is not None and row.failures >= max_failed:  # this attempt reaches the limit: block further ones now
        minutes = min(MAX_BLOCK_MINUTES, lockout_minutes * 2 ** min(row.lockouts, 16))
        session.execute(update(t).where(t.c.username == name, t.c.client == client)
                        .values(blocked_until=now + timedelta(minutes=minutes), lockouts=t.c.lockouts + 1))
    session.commit()
    return row is not None


def _blocked_message(session: Session, name: str, client: str, now: datetime) -> str:
    until = _aware(session.execute(select(SignInThrottle.blocked_until).where(
        SignInThrottle.username == name, SignInThrottle.client == client)).scalar())
    minutes = max(1, int(((until or now) - now).total_seconds() // 60) + 1)
    return (f"too many failed sign-ins for this username from this computer; try again in {minutes} minute(s), "
            "or ask an admin to unlock the account")


def authenticate(session: Session, *, username: str, password: str, client: str | None = None, max_failed: int = 5,
                 lockout_minutes: float = 15.0, now: datetime | None = None) -> Account:
    """Check a password (commits). Raises NotAllowed with one message for a wrong password and an
    unknown, inactive or password-less account alike, and another for a blocked (name, address),
    again the same whether the account exists or not."""
    now = now or datetime.now(timezone.utc)
    if "\x00" in (username or "") or "\x00" in (password or ""):
        raise InvalidInput("a username or password cannot contain a NUL character")
    name, client = _throttle_key(username, client)
    if not _reserve_attempt(session, name, client, max_failed=max_failed, lockout_minutes=lockout_minutes, now=now):
        raise NotAllowed(_blocked_message(session, name, client, now))
    acc = get_account(session, name)
    if acc is None or not acc.active or not acc.password_hash:
        _hasher.hash(password or "x")  # same cost either way: no timing hint that the account exists
        raise NotAllowed(WRONG)
    try:
        _hasher.verify(acc.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        session.execute(update(Account).where(Account.id == acc.id).values(failed_logins=Account.failed_logins + 1))
        audit.record(session, actor=acc.username, action="sign_in_failed", entity="account", entity_id=acc.username,
                     detail={"client": client})
        session.commit()
        raise NotAllowed(WRONG) from None
    session.execute(update(SignInThrottle).where(SignInThrottle.username == name, SignInThrottle.client == client)
                    .values(failures=0, lockouts=0, blocked_until=None, updated_at=now))
    session.execute(delete(SignInThrottle).where(  # forget old, finished attempts of anyone
        SignInThrottle.updated_at < now - STALE_THROTTLE,
        or_(SignInThrottle.blocked_until.is_(None), SignInThrottle.blocked_until < now)))
    acc.failed_logins = 0
    session.add(acc)
    audit.record(session, actor=acc.username, action="sign_in", entity="account", entity_id=acc.username,
                 detail={"client": client})
    session.commit()
    return acc


def unlock_account(session: Session, *, username: str, actor: str) -> int:
    """Lift every sign-in block of an account (commits); returns how many addresses were blocked."""
    acc = require_account(session, username)
    now = datetime.now(timezone.utc)
    blocked = len(session.execute(select(SignInThrottle.client).where(
        SignInThrottle.username == acc.username, SignInThrottle.blocked_until > now)).all())
    session.execute(delete(SignInThrottle).where(SignInThrottle.username == acc.username))
    acc.failed_logins = 0
    session.add(acc)
    audit.record(session, actor=actor, action="unlock_account", entity="account", entity_id=acc.username,
                 detail={"blocked_addresses": blocked})
    session.commit()
    return blocked


def blocked_counts(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Username -> number of client addresses blocked right now (for the admin's account table)."""
    now = now or datetime.now(timezone.utc)
    rows = session.execute(select(SignInThrottle.username).where(SignInThrottle.blocked_until > now)).scalars()
    out: dict[str, int] = {}
    for name in rows:
        out[name] = out.get(name, 0) + 1
    return out


# --- sessions ---------------------------------------------------------------------------------------

def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="annotator.session")


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("ascii")).hexdigest()


def start_session(session: Session, account: Account, *, secret: str, hours: float, client: str | None = None,
                  now: datetime | None = None) -> str:
    """A new signed-in browser for `account` (commits); returns the signed token for its cookie."""
    now = now or datetime.now(timezone.utc)
    raw = secrets.token_urlsafe(32)
    token = _serializer(secret).dumps(raw)
    session.execute(delete(WebSession).where(WebSession.expires_at < now))  # expired sessions of anyone
    session.add(WebSession(token_hash=_digest(raw), account_id=account.id, client=(client or "")[:64], created_at=now,
                           expires_at=now + timedelta(hours=hours)))
    session.commit()
    return token


def _token_hash(token: str | None, secret: str) -> str | None:
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    try:
        raw = _serializer(secret).loads(token)
    except BadSignature:
        return None
    return _digest(raw) if isinstance(raw, str) and raw.isascii() else None


def account_for_token(session: Session, token: str | None, *, secret: str, now: datetime | None = None) -> Account | None:
    """The active account a token's session belongs to, if the token is genuine and the session open."""
    digest = _token_hash(token, secret)
    if digest is None:
        return None
    now = now or datetime.now(timezone.utc)
    return session.execute(
        select(Account).join(WebSession, WebSession.account_id == Account.id)
        .where(WebSession.token_hash == digest, WebSession.expires_at > now, Account.active == True)  # noqa: E712
    ).scalars().first()


def end_session(session: Session, *, tokens: Iterable[str | None], secret: str, actor: str) -> None:
    """Sign out this browser only: end the sessions these tokens name (a tab's and its cookie's; commits)."""
    digests = [d for d in (_token_hash(t, secret) for t in tokens) if d is not None]
    if digests:
        session.execute(delete(WebSession).where(WebSession.token_hash.in_(digests)))
    audit.record(session, actor=actor, action="sign_out", entity="account", entity_id=actor, detail={"scope": "browser"})
    session.commit()


def sign_out_everywhere(session: Session, *, username: str) -> None:
    """End every session of the account, in every browser and app process (commits)."""
    acc = require_account(session, username)
    _end_all_sessions(session, acc.id)
    audit.record(session, actor=acc.username, action="sign_out", entity="account", entity_id=acc.username,
                 detail={"scope": "everywhere"})
    session.commit()


def change_own_password(session: Session, *, username: str, current: str, new: str) -> None:
    """A user changes their own password after proving the current one."""
    acc = require_account(session, username)
    try:
        _hasher.verify(acc.password_hash or "", current or "")
    except (VerificationError, InvalidHashError):
        raise NotAllowed("the current password is wrong") from None
    set_password(session, username=username, password=new, actor=username)
