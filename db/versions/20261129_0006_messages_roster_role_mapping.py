"""message-level imports, staff roster, role mapping table, SOC group on threads

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 02:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_OLD_DASHBOARD = ["department", "role_group", "created_at", "user_id", "role"]


def upgrade() -> None:
    with op.batch_alter_table('thread') as batch:
        batch.add_column(sa.Column('soc_group', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True))
        batch.add_column(sa.Column('last_message_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('user_turns', sa.Integer(), nullable=True))
    op.drop_index('ix_thread_dashboard', table_name='thread')
    op.create_index('ix_thread_dashboard', 'thread', _OLD_DASHBOARD + ['soc_group'], unique=False)
    op.create_table('rolemapping',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('role_group', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('soc_group', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_rolemapping_title_key'), 'rolemapping', ['title_key'], unique=True)
    op.create_table('rosterentry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('job_title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('department', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'start_date', name='uq_roster_user_start')
    )
    op.create_index(op.f('ix_rosterentry_user_id'), 'rosterentry', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_rosterentry_user_id'), table_name='rosterentry')
    op.drop_table('rosterentry')
    op.drop_index(op.f('ix_rolemapping_title_key'), table_name='rolemapping')
    op.drop_table('rolemapping')
    op.drop_index('ix_thread_dashboard', table_name='thread')
    op.create_index('ix_thread_dashboard', 'thread', _OLD_DASHBOARD, unique=False)
    with op.batch_alter_table('thread') as batch:
        batch.drop_column('user_turns')
        batch.drop_column('last_message_at')
        batch.drop_column('soc_group')
