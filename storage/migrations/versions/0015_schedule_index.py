"""releases (state, planned_end): the change schedule without the past

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_releases_state_planned_end', 'releases', ['state', 'planned_end'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_releases_state_planned_end', table_name='releases')
