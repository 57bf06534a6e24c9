"""What the database holds, at a glance (`annotator status`, the home page)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from annotator.data.models import Account, Label, Round, Thread
from annotator.services.codebook import get_version


def status(session: Session) -> dict:
    count = lambda stmt: int(session.execute(stmt).scalar_one())  # noqa: E731
    version = get_version(session)
    rounds = session.execute(select(Round.status, func.count()).group_by(Round.status)).all()
    return {
        "threads": count(select(func.count()).select_from(Thread)),
        "truncated_threads": count(select(func.count()).select_from(Thread).where(Thread.truncated == True)),  # noqa: E712
        "rounds": sum(n for _, n in rounds),
        "open_rounds": sum(n for s, n in rounds if s == "open"),
        "labels": count(select(func.count()).select_from(Label)),
        "reviewers": count(select(func.count()).select_from(Account).where(Account.role == "reviewer")),
        "accounts": count(select(func.count()).select_from(Account)),
        "codebook_version": version.version if version else None,
    }
