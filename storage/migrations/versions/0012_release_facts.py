"""release facts: what the key metrics count per release, kept beside the record; App Home indexes

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-02

The table is filled from the release record as it stands (the releases, their events and
surveys), by the same statement as `releasebot metrics rebuild`.
"""
import sqlalchemy as sa
from alembic import op

import storage.tables
from storage.facts import DAY_SUMS, rebuild_sync

revision = '0012'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('release_facts',
    sa.Column('release_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('model_key', sa.String(length=64), nullable=False),
    sa.Column('risk', sa.String(length=8), nullable=True),
    sa.Column('created_at', storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('started', sa.Integer(), nullable=False),
    sa.Column('in_window', sa.Integer(), nullable=False),
    sa.Column('start_delay', sa.Float(), nullable=True),
    sa.Column('delayed_by_freeze', sa.Integer(), nullable=False),
    sa.Column('lead_time', sa.Float(), nullable=True),
    sa.Column('ratings', sa.Integer(), nullable=False),
    sa.Column('rating_sum', sa.Integer(), nullable=False),
    sa.Column('invitations', sa.Integer(), nullable=False),
    sa.Column('respondents', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['release_id'], ['releases.id'], ),
    sa.PrimaryKeyConstraint('release_id')
    )
    with op.batch_alter_table('release_facts', schema=None) as batch_op:
        batch_op.create_index('ix_release_facts_created', ['created_at'], unique=False)
        batch_op.create_index('ix_release_facts_model_created', ['model_key', 'created_at'], unique=False)
        batch_op.create_index('ix_release_facts_lead', ['lead_time', 'created_at', 'model_key'], unique=False)
    op.create_table('metrics_days',
    sa.Column('day', storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('model_key', sa.String(length=64), nullable=False),
    sa.Column('risk', sa.String(length=8), nullable=False),
    *(sa.Column(name, sa.Float() if name == 'delay_sum' else sa.Integer(), nullable=False) for name in DAY_SUMS),
    sa.PrimaryKeyConstraint('day', 'model_key', 'risk')
    )
    with op.batch_alter_table('metrics_days', schema=None) as batch_op:
        batch_op.create_index('ix_metrics_days_model_day', ['model_key', 'day'], unique=False)
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.create_index('ix_approvals_approver_release', ['approver', 'release_id'], unique=False)
    with op.batch_alter_table('releases', schema=None) as batch_op:
        batch_op.create_index('ix_releases_state_model_owner', ['state', 'model_key', 'owner', 'id'], unique=False)
    rebuild_sync(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('releases', schema=None) as batch_op:
        batch_op.drop_index('ix_releases_state_model_owner')
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_index('ix_approvals_approver_release')
    with op.batch_alter_table('metrics_days', schema=None) as batch_op:
        batch_op.drop_index('ix_metrics_days_model_day')
    op.drop_table('metrics_days')
    with op.batch_alter_table('release_facts', schema=None) as batch_op:
        batch_op.drop_index('ix_release_facts_lead')
        batch_op.drop_index('ix_release_facts_model_created')
        batch_op.drop_index('ix_release_facts_created')
    op.drop_table('release_facts')
