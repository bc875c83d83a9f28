"""SQLite statements take one trip to aiosqlite's thread each (storage/sqlite_driver.py), and
give what SQLAlchemy's own adapter gives: rows, row counts, RETURNING, bulk inserts, the
database's errors as SQLAlchemy's, and transactions that roll back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import db

metadata = MetaData()
things = Table("things", metadata, Column("id", Integer, primary_key=True), Column("name", String, unique=True))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = db.create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    async with made.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield made
    await made.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every function sent to an aiosqlite thread, from now on."""
    sent: list[Any] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(fn)
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return sent


async def test_a_query_is_one_trip(engine: AsyncEngine, trips: list[Any]) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(things), [{"name": "a"}, {"name": "b"}, {"name": "c"}])
        trips.clear()
        rows = (await conn.execute(select(things.c.name).order_by(things.c.name))).scalars().all()
        assert len(trips) == 1
        assert rows == ["a", "b", "c"]


async def test_row_counts_returning_and_rollback(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(things), [{"name": "a"}, {"name": "b"}])
        changed = await conn.execute(update(things).where(things.c.name == "a").values(name="z"))
        assert changed.rowcount == 1
        back = await conn.execute(insert(things).values(name="r").returning(things.c.id, things.c.name))
        assert back.one()[1] == "r"
        added = await conn.execute(insert(things).values(name="s"))
        assert added.inserted_primary_key is not None and added.inserted_primary_key[0] > 0
    async with engine.connect() as conn:
        await conn.begin()
        await conn.execute(insert(things).values(name="gone"))
        await conn.rollback()
    async with engine.connect() as conn:
        names = (await conn.execute(select(things.c.name).order_by(things.c.name))).scalars().all()
    assert names == ["b", "r", "s", "z"]


async def test_the_databases_errors_are_sqlalchemys(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(things).values(name="a"))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(things).values(name="a"))
    with pytest.raises(OperationalError):
        async with engine.connect() as conn:
            await conn.execute(text("SELECT nothing FROM nowhere"))
    async with engine.connect() as conn:  # the connection that failed still serves
        assert (await conn.execute(text("SELECT count(*) FROM things"))).scalar_one() == 1
