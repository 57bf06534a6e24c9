"""Tables. Every change here ships an Alembic migration in db/versions (upgrade and downgrade).

Timestamps are stored in UTC. Category labels are stored by name together with the codebook
version they were made under, so a later version never rewrites an old label.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column, Date, DateTime, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default_factory=utcnow if not nullable else None,
        sa_type=DateTime(timezone=True),
        nullable=nullable,
        index=index,
    )


class Role(str, enum.Enum):
    reviewer = "reviewer"
    lead = "lead"
    admin = "admin"


class RoundStatus(str, enum.Enum):
    open = "open"
    closed = "closed"


class Thread(SQLModel, table=True):
    __table_args__ = (
        # covering index of the usage dashboard's cube (migration 0003)
        Index("ix_thread_dashboard", "department", "role_group", "created_at", "user_id", "role", "soc_group"),
    )
    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=200, unique=True, index=True)
    text: str = Field(sa_type=Text)
    char_count: int
    truncated: bool = False
    user_id: str | None = Field(default=None, max_length=200, index=True)
    role: str | None = Field(default=None, max_length=200)
    role_group: str | None = Field(default=None, max_length=40)  # from RoleMapping (or its suggestion), kept current
    soc_group: str | None = Field(default=None, max_length=10)  # 2018 SOC major group code, e.g. "43-0000"
    department: str | None = Field(default=None, max_length=200, index=True)
    created_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True), index=True)  # first message
    last_message_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    user_turns: int | None = None  # user messages assembled (message-level imports; None for thread exports)
    meta: dict | None = Field(default=None, sa_type=JSON)


class RoleMapping(SQLModel, table=True):
    """An admin's decision for one job title: its role group and SOC major group.

    Titles without a row use the suggestion of :mod:`annotator.roles`; threads carry the effective
    values in ``thread.role_group`` / ``thread.soc_group``, rewritten whenever a row changes."""

    id: int | None = Field(default=None, primary_key=True)
    title_key: str = Field(max_length=200, unique=True, index=True)  # normalised title (annotator.roles.title_key)
    title: str = Field(max_length=200)
    role_group: str | None = Field(default=None, max_length=40)  # clinician | non-clinician | None (unknown)
    soc_group: str | None = Field(default=None, max_length=10)
    updated_by: str = Field(default="", max_length=100)
    updated_at: datetime = _ts()


class RosterEntry(SQLModel, table=True):
    """One staff member's job (user id -> job title, department) over an optional date range."""

    __table_args__ = (UniqueConstraint("user_id", "start_date", name="uq_roster_user_start"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(max_length=200, index=True)
    job_title: str | None = Field(default=None, max_length=200)
    department: str | None = Field(default=None, max_length=200)
    start_date: date | None = None
    end_date: date | None = None
    source: str = Field(default="", max_length=200)
    imported_at: datetime = _ts()


class Account(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=100, unique=True, index=True)
    display_name: str = Field(default="", max_length=200)
    role: str = Field(default=Role.reviewer.value, max_length=20)
    password_hash: str | None = Field(default=None, max_length=300)
    active: bool = True
    is_adjudicator: bool = False
    failed_logins: int = 0  # wrong passwords since the last successful sign-in, from any address (shown to admins)
    created_at: datetime = _ts()


class WebSession(SQLModel, table=True):
    """A signed-in browser (server-side session, migration 0008). The cookie carries a signed random
    token; only its SHA-256 is stored. Signing out deletes the row; signing out everywhere, a password
    reset or a deactivation deletes every row of the account, in every app process at once."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    client: str = Field(default="", max_length=64)
    created_at: datetime = _ts()
    expires_at: datetime = _ts(index=True)


class SignInThrottle(SQLModel, table=True):
    """Failed sign-ins per (username as typed, client address), migration 0008.

    Counted with one atomic UPDATE before the password is checked, so parallel attempts cannot exceed
    the limit. Unknown usernames are counted exactly like real ones (nothing tells them apart). A block
    holds only that address for that name: anyone else can still sign in to the account.
    """

    username: str = Field(primary_key=True, max_length=100)
    client: str = Field(primary_key=True, max_length=64)
    failures: int = 0
    lockouts: int = 0
    blocked_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    updated_at: datetime = _ts(index=True)


class CodebookVersion(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(unique=True, index=True)
    name: str = Field(default="", max_length=200)
    note: str = Field(default="", sa_type=Text)
    renames: dict | None = Field(default=None, sa_type=JSON)  # old category name -> name in this version
    created_by: str = Field(default="", max_length=100)
    created_at: datetime = _ts()


class Category(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("codebook_version_id", "name", name="uq_category_version_name"),)
    id: int | None = Field(default=None, primary_key=True)
    codebook_version_id: int = Field(foreign_key="codebookversion.id", index=True)
    name: str = Field(max_length=200)
    definition: str = Field(default="", sa_type=Text)
    examples: list | None = Field(default=None, sa_type=JSON)
    medhelm_category: str = Field(default="", max_length=200)
    medhelm_subcategory: str = Field(default="", max_length=200)
    position: int = 0
    active: bool = True


class Round(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True, index=True)
    codebook_version_id: int = Field(foreign_key="codebookversion.id")
    seed: int | None = None
    per_thread: int = 3
    sampling_spec: dict | None = Field(default=None, sa_type=JSON)
    status: str = Field(default=RoundStatus.open.value, max_length=20)
    acceptance_rule: str = Field(default="unanimous", max_length=20)
    reveal_enabled: bool = False
    created_by: str = Field(default="", max_length=100)
    created_at: datetime = _ts()
    due_on: date | None = Field(default=None, sa_type=Date)  # optional, shown to the round's reviewers
    archived_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))  # closed and hidden from reviewers


class Assignment(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("round_id", "thread_id", "reviewer_id", name="uq_assignment"),
        Index("ix_assignment_queue", "round_id", "reviewer_id", "position"),
        Index("ix_assignment_round_thread", "round_id", "thread_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id")
    thread_id: int = Field(foreign_key="thread.id", index=True)
    reviewer_id: int = Field(foreign_key="account.id")
    position: int = 0  # queue order for this reviewer; skip moves it to the end


class Label(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("round_id", "thread_id", "reviewer_id", name="uq_label"),
        Index("ix_label_round_reviewer", "round_id", "reviewer_id"),
        Index("ix_label_round_thread", "round_id", "thread_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id")
    thread_id: int = Field(foreign_key="thread.id")
    reviewer_id: int = Field(foreign_key="account.id")
    category: str = Field(max_length=200)
    codebook_version_id: int = Field(foreign_key="codebookversion.id")
    note: str = Field(default="", sa_type=Text)
    unsure: bool = False
    seconds_spent: float | None = None
    post_reveal_category: str | None = Field(default=None, max_length=200)
    revealed_model_category: str | None = Field(default=None, max_length=200)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Decision(SQLModel, table=True):
    """The adjudicated outcome for one thread of a round (absent while nothing was decided)."""

    __table_args__ = (UniqueConstraint("round_id", "thread_id", name="uq_decision"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    thread_id: int = Field(foreign_key="thread.id")
    status: str = Field(max_length=30)  # resolved | third_reviewer | discuss
    category: str | None = Field(default=None, max_length=200)
    provenance: str | None = Field(default=None, max_length=30)  # adjudicated | third_reviewer
    rationale: str = Field(default="", sa_type=Text)
    decided_by: str | None = Field(default=None, max_length=100)
    third_reviewer_id: int | None = Field(default=None, foreign_key="account.id")
    definition_problem: bool = False
    definition_comment: str = Field(default="", sa_type=Text)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class ModelRun(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    backend: str = Field(max_length=20)  # openai | azure | local
    model: str = Field(max_length=200)
    base_url: str | None = Field(default=None, max_length=500)
    codebook_version_id: int = Field(foreign_key="codebookversion.id")
    prompt_template_version: str = Field(default="", max_length=50)
    codebook_hash: str = Field(default="", max_length=64)
    scope: str = Field(default="", max_length=200)  # "round:NAME" or "all"
    status: str = Field(default="running", max_length=20)  # running | done | failed | batch_pending
    batch_id: str | None = Field(default=None, max_length=200)
    params: dict | None = Field(default=None, sa_type=JSON)
    local_model: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    n_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    created_at: datetime = _ts()
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class Prediction(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("run_id", "thread_id", name="uq_prediction"),
        Index("ix_prediction_cache", "cache_key"),
        Index("ix_prediction_run_category", "run_id", "category"),
        Index("ix_prediction_dashboard", "run_id", "thread_id", "status", "category"),  # migration 0003
    )
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="modelrun.id", index=True)
    thread_id: int = Field(foreign_key="thread.id", index=True)
    category: str | None = Field(default=None, max_length=200)
    status: str = Field(default="ok", max_length=20)  # ok | failed
    rationale: str = Field(default="", sa_type=Text)
    confidence: float | None = None
    raw: str | None = Field(default=None, sa_type=Text)
    error: str | None = Field(default=None, max_length=500)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_key: str = Field(default="", max_length=64)
    cached: bool = False
    created_at: datetime = _ts()


class TrainingThread(SQLModel, table=True):
    """A thread whose final human label trained a model run (the local model), and the cross-fitting
    fold that held it out: the run's stored prediction for it came from the model of the other folds."""

    __table_args__ = (UniqueConstraint("run_id", "thread_id", name="uq_training_thread"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="modelrun.id", index=True)
    thread_id: int = Field(foreign_key="thread.id")
    round_id: int = Field(foreign_key="round.id")  # the round whose final label was used
    category: str = Field(max_length=200)  # that label, under the category names of the run's time
    fold: int | None = None  # 0-based fold that held the thread out (None: not cross-fitted)


class ErrorTag(SQLModel, table=True):
    """A lead's verdict on a thread where a model run and the consensus disagree."""

    __table_args__ = (UniqueConstraint("run_id", "thread_id", name="uq_error_tag"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="modelrun.id", index=True)
    thread_id: int = Field(foreign_key="thread.id")
    tag: str = Field(max_length=30)  # model_error | ambiguous_definition | consensus_error
    category: str | None = Field(default=None, max_length=200)  # the consensus category concerned
    comment: str = Field(default="", sa_type=Text)
    tagged_by: str = Field(default="", max_length=100)
    created_at: datetime = _ts()


class AlertRule(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    spec: dict = Field(sa_type=JSON)
    active: bool = True
    created_by: str = Field(default="", max_length=100)
    created_at: datetime = _ts()


class CandidateExample(SQLModel, table=True):
    """A proposed example message for a category (from the LLM, or a consensus thread near the centroid)."""

    id: int | None = Field(default=None, primary_key=True)
    codebook_version_id: int = Field(foreign_key="codebookversion.id", index=True)
    category: str = Field(max_length=200)
    text: str = Field(sa_type=Text)
    source: str = Field(default="llm", max_length=20)  # llm | local
    classified_as: str | None = Field(default=None, max_length=200)
    created_by: str = Field(default="", max_length=100)
    created_at: datetime = _ts()


class CandidateVote(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("candidate_id", "voter_id", name="uq_candidate_vote"),)
    id: int | None = Field(default=None, primary_key=True)
    candidate_id: int = Field(foreign_key="candidateexample.id", index=True)
    voter_id: int = Field(foreign_key="account.id")
    created_at: datetime = _ts()


class OtherSuggestion(SQLModel, table=True):
    """An LLM-suggested category name for a thread labeled Other."""

    __table_args__ = (UniqueConstraint("thread_id", "source", name="uq_other_suggestion"),)
    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="thread.id", index=True)
    source: str = Field(max_length=60)  # e.g. "consensus" or "run:12"
    suggested_name: str = Field(max_length=200)
    model: str = Field(default="", max_length=200)
    created_at: datetime = _ts()


class AuditEvent(SQLModel, table=True):
    """Append-only: rows are inserted, never updated or deleted."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(index=True)
    actor: str = Field(default="", max_length=100)
    action: str = Field(max_length=60, index=True)
    entity: str = Field(default="", max_length=60)
    entity_id: str = Field(default="", max_length=200)
    detail: dict | None = Field(default=None, sa_type=JSON)


class AggregateCache(SQLModel, table=True):
    """A stored aggregate (e.g. the dashboard's per-run cube), valid while `version` matches the data."""

    key: str = Field(primary_key=True, max_length=100)
    version: str = Field(max_length=500)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = _ts()


class Setting(SQLModel, table=True):
    """Small key/value facts about the database itself (e.g. demo mode)."""

    key: str = Field(primary_key=True, max_length=100)
    value: str = Field(default="", sa_type=Text)
