"""The append-only audit log: one row per change, written in the same transaction as the change."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.engine import Connection
from sqlmodel import Session

from annotator.data.models import AuditEvent, utcnow


def record(db: Session | Connection, *, actor: str, action: str, entity: str = "", entity_id: object = "",
           detail: dict | None = None) -> None:
    """Append one audit row (never a thread's text, a password or a key in `detail`)."""
    row = dict(at=utcnow(), actor=actor or "", action=action, entity=entity, entity_id=str(entity_id), detail=detail)
    if isinstance(db, Session):
        db.add(AuditEvent(**row))
    else:
        db.execute(insert(AuditEvent.__table__), [row])
