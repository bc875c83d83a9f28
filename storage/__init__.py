"""Persistence: the async engine, the schema, repositories and Alembic migrations."""
