"""The migrations build the schema `storage/tables.py` describes, indexes included: the key
metrics depend on their indexes, so a missing one would only show as slowness."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from storage import db, migrate
from storage.tables import Base


async def test_migrations_match_the_tables(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
            indexes: Any = await conn.run_sync(lambda c: {i["name"] for i in inspect(c).get_indexes("release_events")})
    finally:
        await engine.dispose()
    assert diff == []
    assert "ix_release_events_release_kind_at" in indexes and "ix_release_events_release_kind" not in indexes


async def test_the_metrics_indexes_migrate_down_and_up_again(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        await migrate.upgrade(engine)
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(migrate.alembic_config(c), "0005"))
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
    finally:
        await engine.dispose()
    assert diff == []


async def test_replicas_starting_at_once_on_an_empty_database_all_migrate(database_url: str) -> None:
    """Three `serve` processes started together: one applies the migrations, the others wait
    for it and find nothing to do; none fails on a table another just created."""
    engines = [db.create_engine(database_url) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(migrate.upgrade(engine) for engine in engines))
    finally:
        for engine in engines:
            await engine.dispose()
    assert sorted(len(a) for a in applied)[:2] == [0, 0] and max(len(a) for a in applied) >= 6
