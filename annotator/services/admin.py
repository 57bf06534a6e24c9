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
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from annotator.data.models import Account, CodebookVersion
from annotator.errors import InvalidInput, NotAllowed
from annotator.services import audit
from annotator.services.accounts import (blocked_counts, list_accounts, normal_username, require_account, start_session,
                                         update_account)
from annotator.services.codebook import parse_codebook, save_version
from annotator.services.rounds import ReviewerProgress, labels_frame, list_rounds, round_progress
from annotator.services.tables import frame_bytes
from annotator.services.threads import ImportReport, import_threads

log = logging.getLogger(__name__)

ACCOUNT_COLUMNS = ("username", "display_name", "role", "active", "is_adjudicator", "created_at")
SIGN_IN_COLUMNS = ("failed_sign_ins", "blocked_addresses")
PROBLEM_COLUMNS = ("row", "field", "reason")
UPLOAD_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".tsv", ".tsv.gz", ".jsonl", ".jsonl.gz", ".jsonl.bz2",
                   ".jsonl.xz", ".ndjson", ".xlsx", ".parquet", ".yaml", ".yml", ".json", ".json.gz")


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
                          on_progress: Callable[[int], None] | None = None, messages: bool = False,
                          senders: tuple[str | None, str | None, str | None] = (None, None, None),
                          keep_assistant: bool = False, update_changed: bool = False,
                          dry_run: bool = False) -> ImportReport:
    """Import (or, with `dry_run`, preview) an uploaded thread export, message log or conversation file
    like `annotator import-threads`."""
    from annotator.importing.messages import MessageOptions, SenderValues

    options = MessageOptions(SenderValues.parse(*senders), keep_assistant)
    with _upload_file(filename, data) as path:
        return import_threads(engine, path, mapping=mapping or None, truncate_at=truncate_at, strict=strict,
                              actor=actor, on_progress=on_progress, messages=messages, options=options,
                              update_changed=update_changed, dry_run=dry_run)


def preview_tables(report: ImportReport) -> dict[str, pd.DataFrame]:
    """The preview as tables: first rows as stored, skipped rows by reason, changed texts."""
    sample = pd.DataFrame(report.sample, columns=["row", "thread_id", "text", "char_count", "truncated", "user_id",
                                                  "role", "role_group", "soc_group", "department", "created_at",
                                                  "last_message_at", "user_turns"])
    reasons = pd.DataFrame(list(report.skipped_by_reason().items()), columns=["reason", "rows"])
    changed = pd.DataFrame(report.changed, columns=["row", "thread_id"])
    return {"sample": sample, "reasons": reasons, "changed": changed}


def import_roster_upload(session: Session, filename: str, data: bytes, *, actor: str):
    """Import an uploaded staff roster like `annotator import-roster` (commits)."""
    from annotator.services.roles import import_roster

    with _upload_file(filename, data) as path:
        return import_roster(session, path, actor=actor)


def import_role_mapping_upload(session: Session, filename: str, data: bytes, *, actor: str) -> int:
    """Import an uploaded role mapping like `annotator import-role-mapping` (commits)."""
    from annotator.services.roles import import_role_mapping

    with _upload_file(filename, data) as path:
        return import_role_mapping(session, path, actor=actor)


def role_mapping_csv(session: Session) -> bytes:
    """The role mapping as CSV bytes (formulas neutralised), what `annotator export role-mapping` writes."""
    import csv
    import io

    from annotator.reports.common import csv_cell
    from annotator.services.roles import mapping_frame

    frame = mapping_frame(session)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")  # CRLF: a CR inside a cell is quoted (annotator.spreadsheet)
    writer.writerow(list(frame.columns))
    for rec in frame.itertuples(index=False, name=None):
        writer.writerow([csv_cell(v) for v in rec])
    return buf.getvalue().encode("utf-8")


def problems_csv_bytes(report: ImportReport) -> bytes:
    """The skipped rows as CSV bytes (formulas neutralised)."""
    from annotator.reports.imports import problems_csv

    return problems_csv(report.problems).encode("utf-8")


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
    """All accounts for the admin table, never the password hash: with the wrong passwords since the
    last sign-in and the number of client addresses whose sign-ins to the account are paused now."""
    blocked = blocked_counts(session)
    rows = [{**{c: getattr(a, c) for c in ACCOUNT_COLUMNS}, "failed_sign_ins": a.failed_logins,
             "blocked_addresses": blocked.get(a.username, 0)} for a in list_accounts(session)]
    return pd.DataFrame(rows, columns=[*ACCOUNT_COLUMNS, *SIGN_IN_COLUMNS])


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
    """The identity provider's names for a user that may match an account: email, then preferred_username
    (Unicode-normalised, whitespace trimmed, case kept; duplicates dropped)."""
    names: list[str] = []
    for key in ("email", "preferred_username"):
        value = normal_username(str(user_info.get(key) or ""))
        if value and "\x00" not in value and value not in names:
            names.append(value)
    return names


def token_for_sso(session: Session, *, username: str, secret: str, hours: float = 12.0, client: str | None = None) -> str:
    """A session token for the active account whose username is exactly an SSO identity.

    The match is exact after Unicode NFC normalisation and trimming: case matters ("Ada@x.org" is not
    "ada@x.org"), so an identity provider that lets users choose the case of a name cannot reach
    another account. Accounts are never created here: an admin creates them with the identity's email
    or username. The sign-in is audited; the identity itself is only logged as the matched account name.
    """
    name = normal_username(username)
    acc = session.execute(select(Account).where(Account.username == name)).scalars().first() \
        if name and "\x00" not in name else None
    if acc is None or not acc.active:
        raise NotAllowed(f"no active account for '{name}': ask an admin to create one with exactly this username")
    audit.record(session, actor=acc.username, action="sign_in_sso", entity="account", entity_id=acc.username)
    session.commit()
    log.info("single sign-on for account %s", acc.username)
    return start_session(session, acc, secret=secret, hours=hours, client=client)
