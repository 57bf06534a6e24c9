"""server-side sessions and sign-in throttle

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-29 02:30:00

- ``websession``: one row per signed-in browser (the cookie holds a signed random token; only its
  SHA-256 is stored), so signing out ends exactly that browser and "sign out everywhere" ends every
  browser of an account in every app process.
- ``signinthrottle``: failed sign-ins per (username as typed, client address), counted atomically.
- ``account.session_epoch`` and ``account.locked_until`` are dropped: sessions replace the epoch, and
  a lockout is per name and address now, never of the whole account.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0008'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('websession',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('client', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('websession', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_websession_token_hash'), ['token_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_websession_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_websession_expires_at'), ['expires_at'], unique=False)

    op.create_table('signinthrottle',
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('client', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('lockouts', sa.Integer(), nullable=False),
    sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('username', 'client')
    )
    with op.batch_alter_table('signinthrottle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signinthrottle_updated_at'), ['updated_at'], unique=False)

    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('session_epoch')
        batch_op.drop_column('locked_until')


def downgrade() -> None:
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), nullable=False, server_default='0'))

    with op.batch_alter_table('signinthrottle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signinthrottle_updated_at'))
    op.drop_table('signinthrottle')

    with op.batch_alter_table('websession', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_websession_expires_at'))
        batch_op.drop_index(batch_op.f('ix_websession_account_id'))
        batch_op.drop_index(batch_op.f('ix_websession_token_hash'))
    op.drop_table('websession')
