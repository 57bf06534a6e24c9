"""dashboard covering indexes

Covering indexes for the usage dashboard's model cube (annotator/services/dashboard.py): the
cube scans thread's dimension columns and probes each thread's prediction of the chosen run, so
with these two indexes the query never reads the thread table's text pages or prediction rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 17:40:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('thread', schema=None) as batch_op:
        batch_op.create_index('ix_thread_dashboard', ['department', 'role_group', 'created_at', 'user_id', 'role'],
                              unique=False)
    with op.batch_alter_table('prediction', schema=None) as batch_op:
        batch_op.create_index('ix_prediction_dashboard', ['run_id', 'thread_id', 'status', 'category'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('prediction', schema=None) as batch_op:
        batch_op.drop_index('ix_prediction_dashboard')
    with op.batch_alter_table('thread', schema=None) as batch_op:
        batch_op.drop_index('ix_thread_dashboard')
