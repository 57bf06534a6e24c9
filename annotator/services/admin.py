"""Use cases behind the lead and admin pages: round overviews and label exports, imports of uploaded
files, the account table without secrets, and single sign-on tokens.

Pages hand these functions what the user typed or uploaded and render what comes back; nothing here
imports streamlit. Uploaded bytes go to a private temporary file whose name keeps the upload's
suffix (the importers read the format from it) and is removed afterwards.
"""

from __future__ import annotations

import logging
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from annotator.data.models import Account, CodebookVersion
from annotator.errors import InvalidInput, NotAllowed
from annotator.services import audit
from annotator.services.accounts import issue_token, list_accounts, require_account, update_account
from annotator.services.codebook import parse_codebook, save_version
from annotator.services.rounds import ReviewerProgress, labels_frame, list_rounds, round_progress
from annotator.services.tables import frame_bytes
from annotator.services.threads import ImportReport, import_threads

log = logging.getLogger(__name__)

ACCOUNT_COLUMNS = ("username", "display_name", "role", "active", "is_adjudicator", "created_at")
PROBLEM_COLUMNS = ("row", "field", "reason")
UPLOAD_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".jsonl", ".ndjson", ".xlsx", ".parquet", ".yaml", ".yml", ".json")


# --- rounds -------------------------------------------------------------------------------------

@dataclass
class RoundOverview:
    """One round as the Rounds page lists it, with every reviewer's progress."""

    name: str
    status: str
    codebook_version: int | None
    seed: int | None
    per_thread: int
    acceptance_rule: str
    reveal_enabled: bool
    created_by: str
    created_at: Any
    progress: list[ReviewerProgress]
    due_on: Any = None
    archived: bool = False

    @property
    def assigned(self) -> int:
        return sum(p.assigned for p in self.progress)

    @property
    def done(self) -> int:
        return sum(p.done for p in self.progress)


def rounds_overview(session: Session) -> list[RoundOverview]:
    """Every round, newest first, with per-reviewer progress (for leads; never shown to reviewers)."""
    versions = dict(session.execute(select(CodebookVersion.id, CodebookVersion.version)).all())
    out = [RoundOverview(name=r.name, status=r.status, codebook_version=versions.get(r.codebook_version_id),
                         seed=r.seed, per_thread=r.per_thread, acceptance_rule=r.acceptance_rule,
                         reveal_enabled=r.reveal_enabled, created_by=r.created_by, created_at=r.created_at,
                         progress=round_progress(session, r.name), due_on=r.due_on, archived=r.archived_at is not None)
           for r in list_rounds(session)]
    return out[::-1]


def overview_frame(rows: list[RoundOverview]) -> pd.DataFrame:
    """The rounds table: one row per round, reviewers' progress as 'name done/assigned'."""
    return pd.DataFrame(
        [{"round": r.name, "status": r.status + (" (archived)" if r.archived else ""), "labels": f"{r.done} / {r.assigned}",
          "reviewers": ", ".join(f"{p.reviewer} {p.done}/{p.assigned}" for p in r.progress),
          "codebook": r.codebook_version, "K": r.per_thread, "seed": r.seed, "acceptance": r.acceptance_rule,
          "reveal": r.reveal_enabled, "due": r.due_on, "created by": r.created_by, "created": r.created_at}
         for r in rows],
        columns=["round", "status", "labels", "reviewers", "codebook", "K", "seed", "acceptance", "reveal", "due",
                 "created by", "created"])


def export_labels_bytes(session: Session, round_name: str, fmt: str) -> bytes:
    """Every label of a round as CSV, JSON Lines or Parquet bytes (what `annotator export labels` writes)."""
    return frame_bytes(labels_frame(session, round_name), fmt)


def reviewer_choices(session: Session, *, passwordless: bool = False) -> list[str]:
    """Usernames a lead may pick as a round's reviewers: active reviewer accounts that can sign in.

    Left out: adjudicator accounts (a third reviewer stays independent of the round's reviewers) and
    accounts without a password — the simulated reviewers a label import creates (the demo's
    pilot-*), who cannot sign in — unless `passwordless` (single sign-on, where accounts have none).
    The command line still accepts any username.
    """
    return [a.username for a in list_accounts(session, role="reviewer")
            if a.active and not a.is_adjudicator and (passwordless or a.password_hash)]


def codebook_version_numbers(session: Session) -> list[int]:
    """Codebook version numbers, newest first."""
    return list(session.execute(select(CodebookVersion.version).order_by(CodebookVersion.version.desc())).scalars())


# --- uploads ------------------------------------------------------------------------------------

def _suffix(filename: str) -> str:
    name = Path(filename or "").name.lower()
    for suffix in sorted(UPLOAD_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise InvalidInput(f"{Path(filename or '?').name}: unsupported file type; use one of {', '.join(UPLOAD_SUFFIXES)}")


@contextmanager
def _upload_file(filename: str, data: bytes) -> Iterator[Path]:
    """The uploaded bytes in a temporary file named like the upload (same suffix), removed afterwards."""
    suffix = _suffix(filename)
    stem = Path(filename).name[: -len(suffix)] or "upload"
    with tempfile.TemporaryDirectory(prefix="annotator-upload-") as tmp:
        path = Path(tmp) / f"{stem}{suffix}"
        path.write_bytes(data)
        yield path


def import_threads_upload(engine: Engine, filename: str, data: bytes, *, mapping: dict[str, str] | None = None,
                          truncate_at: int = 32_000, strict: bool = False, actor: str,
                          on_progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import an uploaded thread export (CSV, JSONL, XLSX or Parquet) like `annotator import-threads`."""
    with _upload_file(filename, data) as path:
        return import_threads(engine, path, mapping=mapping or None, truncate_at=truncate_at, strict=strict,
                              actor=actor, on_progress=on_progress)


def problems_frame(report: ImportReport) -> pd.DataFrame:
    """The skipped rows of an import: row, field, reason."""
    return pd.DataFrame([(p.row, p.field or "", p.reason) for p in report.problems], columns=list(PROBLEM_COLUMNS))


def load_codebook_upload(session: Session, filename: str, data: bytes, *, actor: str) -> tuple[CodebookVersion, bool]:
    """Load an uploaded codebook (YAML or JSON) as a new version. Returns (version, created); commits."""
    if _suffix(filename) not in (".yaml", ".yml", ".json"):
        raise InvalidInput(f"{Path(filename).name}: a codebook is a .yaml, .yml or .json file")
    with _upload_file(filename, data) as path:
        draft = parse_codebook(path)
    return save_version(session, draft, actor=actor)


# --- accounts -----------------------------------------------------------------------------------

def accounts_frame(session: Session) -> pd.DataFrame:
    """All accounts for the admin table: never the password hash, lockout state or session epoch."""
    rows = [{c: getattr(a, c) for c in ACCOUNT_COLUMNS} for a in list_accounts(session)]
    return pd.DataFrame(rows, columns=list(ACCOUNT_COLUMNS))


def update_account_as(session: Session, *, actor: str, username: str, role: str, active: bool,
                      is_adjudicator: bool) -> Account:
    """Apply the admin form's role, active and adjudicator values (commits).

    An admin cannot demote or deactivate their own account (the last admin could lock everyone out).
    Deactivation is passed on only when it changes, since it signs the account out everywhere.
    """
    acc = require_account(session, username)
    if acc.username == actor and (role != "admin" or not active):
        raise NotAllowed("you cannot remove your own admin role or deactivate yourself; ask another admin")
    return update_account(session, username=username, actor=actor, role=role,
                          active=active if bool(active) != bool(acc.active) else None, is_adjudicator=is_adjudicator)


# --- single sign-on -----------------------------------------------------------------------------

def sso_identities(user_info: Mapping[str, Any]) -> list[str]:
    """The identity provider's names for a user that may match an account: email, then preferred_username."""
    names: list[str] = []
    for key in ("email", "preferred_username"):
        value = str(user_info.get(key) or "").strip()
        if value and value.casefold() not in {n.casefold() for n in names}:
            names.append(value)
    return names


def token_for_sso(session: Session, *, username: str, secret: str) -> str:
    """A session token for the active account whose username equals (ignoring case) an SSO identity.

    Accounts are never created here: an admin creates them with the identity's email or username.
    The sign-in is audited; the identity itself is only logged as the matched account name.
    """
    name = (username or "").strip()
    acc = session.execute(select(Account).where(func.lower(Account.username) == name.lower())).scalars().first() \
        if name else None
    if acc is None or not acc.active:
        raise NotAllowed(f"no active account for '{name}': ask an admin to create one with this username")
    audit.record(session, actor=acc.username, action="sign_in_sso", entity="account", entity_id=acc.username)
    session.commit()
    log.info("single sign-on for account %s", acc.username)
    return issue_token(acc, secret=secret)
