"""the pipeline API: hashed tokens and idempotent requests

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

import storage.tables

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('models', sa.JSON(), nullable=True),
    sa.Column('may_freeze', sa.Boolean(), nullable=False),
    sa.Column('created_at', storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('api_requests',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('token_name', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('response', sa.JSON(), nullable=True),
    sa.Column('claimed_at', storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered_at', storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_name', 'idempotency_key', name='uq_api_requests_token_key')
    )


def downgrade() -> None:
    op.drop_table('api_requests')
    op.drop_table('api_tokens')
