"""round due date and archive

A round may carry an optional due date shown to its reviewers, and a closed round may be archived:
hidden from reviewers' lists, kept for reports and exports.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 10:00:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401


revision: str = '0009'
down_revision: Union[str, None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


# Plain ALTER TABLE ADD/DROP COLUMN (SQLite 3.35+ has DROP COLUMN): a batch "move and copy" of the
# round table would fail its foreign keys once assignments, labels and decisions point at it.

def upgrade() -> None:
    op.add_column('round', sa.Column('due_on', sa.Date(), nullable=True))
    op.add_column('round', sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('round', 'archived_at')
    op.drop_column('round', 'due_on')
