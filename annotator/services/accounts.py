"""Accounts, password sign-in with per-account rate limiting, and signed expiring session tokens."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlmodel import Session, select

from annotator.data.models import Account, Role
from annotator.errors import Conflict, InvalidInput, NotAllowed, NotFound
from annotator.services import audit

log = logging.getLogger(__name__)
_hasher = PasswordHasher()
ROLES = tuple(r.value for r in Role)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=timezone.utc) if dt is not None and dt.tzinfo is None else dt


def get_account(session: Session, username: str) -> Account | None:
    return session.exec(select(Account).where(Account.username == username)).first()


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
    username = (username or "").strip()
    if not username or len(username) > 100 or any(c.isspace() for c in username) or "," in username:
        raise InvalidInput(f"username '{username}' is not valid: 1-100 characters, no spaces or commas")
    return username


def create_account(session: Session, *, username: str, role: str = "reviewer", password: str | None = None,
                   display_name: str = "", is_adjudicator: bool = False, actor: str = "cli") -> Account:
    """Create an account (commits). A password-less account can be labeled for but cannot sign in."""
    username = _check_username(username)
    if role not in ROLES:
        raise InvalidInput(f"role '{role}' is not one of {', '.join(ROLES)}")
    if get_account(session, username):
        raise Conflict(f"account '{username}' already exists")
    if password is not None and len(password) < 8:
        raise InvalidInput("password must have at least 8 characters")
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


def set_password(session: Session, *, username: str, password: str, actor: str) -> None:
    if len(password) < 8:
        raise InvalidInput("password must have at least 8 characters")
    acc = require_account(session, username)
    acc.password_hash = hash_password(password)
    acc.failed_logins, acc.locked_until = 0, None
    acc.session_epoch += 1  # a reset signs the account out everywhere
    session.add(acc)
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
        acc.session_epoch += 1
    if is_adjudicator is not None:
        acc.is_adjudicator = is_adjudicator
    session.add(acc)
    audit.record(session, actor=actor, action="update_account", entity="account", entity_id=username,
                 detail={"role": role, "active": active, "is_adjudicator": is_adjudicator})
    session.commit()
    return acc


def authenticate(session: Session, *, username: str, password: str, max_failed: int = 5,
                 lockout_minutes: float = 15.0, now: datetime | None = None) -> Account:
    """Check a password. After `max_failed` failures in a row the account is locked for a while."""
    now = now or datetime.now(timezone.utc)
    acc = get_account(session, (username or "").strip())
    generic = NotAllowed("wrong username or password")
    if acc is None or not acc.active or not acc.password_hash:
        _hasher.hash(password or "x")  # same cost either way: no timing hint that the account exists
        raise generic
    locked = _aware(acc.locked_until)
    if locked and locked > now:
        minutes = max(1, int((locked - now).total_seconds() // 60) + 1)
        raise NotAllowed(f"too many failed attempts; try again in {minutes} minute(s) or ask an admin to reset the password")
    try:
        _hasher.verify(acc.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        acc.failed_logins += 1
        if acc.failed_logins >= max_failed:
            acc.locked_until = now + timedelta(minutes=lockout_minutes)
            acc.failed_logins = 0
        session.add(acc)
        audit.record(session, actor=acc.username, action="sign_in_failed", entity="account", entity_id=acc.username)
        session.commit()
        raise generic from None
    acc.failed_logins, acc.locked_until = 0, None
    session.add(acc)
    audit.record(session, actor=acc.username, action="sign_in", entity="account", entity_id=acc.username)
    session.commit()
    return acc


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="annotator.session")


def issue_token(account: Account, *, secret: str) -> str:
    """A signed token naming the account and its session epoch (sign-out everywhere bumps the epoch)."""
    return _serializer(secret).dumps({"u": account.username, "e": account.session_epoch, "n": secrets.token_hex(4)})


def account_for_token(session: Session, token: str | None, *, secret: str, max_age_hours: float) -> Account | None:
    """The account a token names, if the token is genuine, not expired and not signed out."""
    if not token:
        return None
    try:
        data = _serializer(secret).loads(token, max_age=int(max_age_hours * 3600))
    except (BadSignature, SignatureExpired):
        return None
    acc = get_account(session, data.get("u", ""))
    if acc is None or not acc.active or acc.session_epoch != data.get("e"):
        return None
    return acc


def sign_out_everywhere(session: Session, *, username: str) -> None:
    acc = require_account(session, username)
    acc.session_epoch += 1
    session.add(acc)
    audit.record(session, actor=username, action="sign_out", entity="account", entity_id=username)
    session.commit()


def change_own_password(session: Session, *, username: str, current: str, new: str) -> None:
    """A user changes their own password after proving the current one."""
    acc = require_account(session, username)
    try:
        _hasher.verify(acc.password_hash or "", current or "")
    except (VerificationError, InvalidHashError):
        raise NotAllowed("the current password is wrong") from None
    set_password(session, username=username, password=new, actor=username)
