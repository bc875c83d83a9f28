"""release model versions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

The table of release model versions, and the version a release was planned with. Existing
releases are given the version of their model as it is today by `serve`'s start
(`bot.model_versions.ModelVersions.sync`): the model files are the application's, which a
migration does not read.
"""
import sqlalchemy as sa
from alembic import op

import storage.tables

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('model_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('model_key', sa.String(length=64), nullable=False),
    sa.Column('version', sa.String(length=8), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('first_seen_at', storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('model_key', 'version', name='uq_model_versions_key_version')
    )
    with op.batch_alter_table('releases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model_version', sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('releases', schema=None) as batch_op:
        batch_op.drop_column('model_version')
    op.drop_table('model_versions')
