"""delivery: when an outbox row's current run of failed attempts began

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

`failing_since` is the row's due time when its first attempt failed: the dispatcher gives up
a set time after it (RELEASEBOT_DELIVERY_GIVE_UP_HOURS), and when Slack answers again the
rows held back by an outage are released in that order.
"""
import sqlalchemy as sa
from alembic import op

import storage.tables

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('failing_since', storage.tables.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('failing_since')
