"""incidents related to releases, model reviews, files of the outbox

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

import storage.tables

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('incidents',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('linked_by', sa.String(length=64), nullable=False),
    sa.Column('linked_at', storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('during_support', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['release_id'], ['releases.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('release_id', 'ref', name='uq_incidents_release_ref')
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_linked_at', ['linked_at'], unique=False)

    op.create_table('model_reviews',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('model_key', sa.String(length=64), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('asked_by', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('at', storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('model_reviews', schema=None) as batch_op:
        batch_op.create_index('ix_model_reviews_model_at', ['model_key', 'at'], unique=False)

    op.create_table('outbox_files',
    sa.Column('dedupe_key', sa.String(length=255), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('alt_text', sa.Text(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('dedupe_key')
    )


def downgrade() -> None:
    op.drop_table('outbox_files')
    with op.batch_alter_table('model_reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_model_reviews_model_at')
    op.drop_table('model_reviews')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_linked_at')
    op.drop_table('incidents')
