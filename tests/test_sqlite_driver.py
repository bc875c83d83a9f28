"""SQLite reads take one trip to aiosqlite's thread each, and write transactions none
(storage/sqlite_driver.py); both give what SQLAlchemy's own adapter gives: rows, row counts,
RETURNING, bulk inserts, the database's errors as SQLAlchemy's, and transactions that roll back."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import db
from storage.sqlite_driver import SLICE_SECONDS

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


async def test_a_read_is_one_trip(engine: AsyncEngine, trips: list[Any]) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(things), [{"name": "a"}, {"name": "b"}, {"name": "c"}])
    async with engine.connect() as conn:
        reading = await conn.execution_options(**{db.READ_ONLY: True})
        async with reading.begin():
            trips.clear()
            rows = (await reading.execute(select(things.c.name).order_by(things.c.name))).scalars().all()
            assert len(trips) == 1
        assert rows == ["a", "b", "c"]
    assert len(trips) == 1  # beginning and ending a read took none


async def test_a_write_transaction_takes_no_trip(engine: AsyncEngine, trips: list[Any]) -> None:
    """Its statements, its begin and its commit run on the event loop's thread: the write lock
    is not held while the busy loop gets round to each answer."""
    async with engine.connect() as conn:
        trips.clear()
        async with conn.begin():
            await conn.execute(insert(things), [{"name": "a"}, {"name": "b"}])
            await conn.execute(update(things).where(things.c.name == "a").values(name="z"))
            names = (await conn.execute(select(things.c.name).order_by(things.c.name))).scalars().all()
        assert trips == []
    assert names == ["b", "z"]


async def test_a_long_write_transaction_lets_the_event_loop_serve_in_between(engine: AsyncEngine) -> None:
    turns = 0
    done = asyncio.Event()

    async def others() -> None:  # whatever else the loop serves meanwhile
        nonlocal turns
        while not done.is_set():
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(others())
    await asyncio.sleep(0)
    async with engine.begin() as conn:
        before = turns
        began = time.monotonic()
        n = 0
        while time.monotonic() - began < 20 * SLICE_SECONDS:
            await conn.execute(insert(things).values(name=f"row {n}"))
            n += 1
        served = turns - before
    done.set()
    await task
    assert served >= 2


async def test_a_writer_in_another_process_is_waited_for_off_the_event_loop(engine: AsyncEngine,
                                                                            tmp_path: Path) -> None:
    """While another process (the CLI) holds the write lock, beginning a write waits on
    aiosqlite's thread: the loop goes on serving, and the write goes ahead once the lock is free."""
    other = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def write() -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(things).values(name="after"))

    task = asyncio.create_task(write())
    began = time.monotonic()
    for _ in range(20):
        await asyncio.sleep(0.01)
    # Waited on the loop's thread, the write would hold it for the whole busy timeout (30 s).
    assert time.monotonic() - began < db.SQLITE_BUSY_SECONDS / 3
    assert not task.done()
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(task, 30)
    async with engine.connect() as conn:
        assert (await conn.execute(select(things.c.name))).scalars().all() == ["after"]


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
