"""freezes of the change schedule

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

import storage.tables

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('freezes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('starts_at', storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('models', sa.JSON(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('freezes', schema=None) as batch_op:
        batch_op.create_index('ix_freezes_window', ['ends_at', 'starts_at'], unique=False)

    op.create_table('freeze_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('freeze_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('at', storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['freeze_id'], ['freezes.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('freeze_events', schema=None) as batch_op:
        batch_op.create_index('ix_freeze_events_freeze', ['freeze_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('freeze_events', schema=None) as batch_op:
        batch_op.drop_index('ix_freeze_events_freeze')
    op.drop_table('freeze_events')
    with op.batch_alter_table('freezes', schema=None) as batch_op:
        batch_op.drop_index('ix_freezes_window')
    op.drop_table('freezes')
