"""the release plan: release notes, risk and impact, rollback plan

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

import storage.tables  # noqa: F401 - as every revision: autogenerate may name its column types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('releases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('release_notes', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('risk', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('impact', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('rollback_plan', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('releases', schema=None) as batch_op:
        batch_op.drop_column('rollback_plan')
        batch_op.drop_column('impact')
        batch_op.drop_column('risk')
        batch_op.drop_column('release_notes')
