"""training threads: which threads' human labels trained a model run, and the fold that held each out

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 02:03:38.839836
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('trainingthread',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('fold', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['modelrun.id'], ),
    sa.ForeignKeyConstraint(['thread_id'], ['thread.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'thread_id', name='uq_training_thread')
    )
    with op.batch_alter_table('trainingthread', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trainingthread_run_id'), ['run_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('trainingthread', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trainingthread_run_id'))

    op.drop_table('trainingthread')
