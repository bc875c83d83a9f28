"""The group commit (bot/group_commit.py): settlements that queue while its writer waits for
SQLite's write lock share the writer's transaction; one that fails fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.group_commit import GroupCommit
from storage import db, migrate
from storage.uow import UnitOfWork, UnitOfWorkFactory


@pytest.fixture
async def uow(tmp_path: Path) -> AsyncIterator[UnitOfWorkFactory]:
    """On SQLite whatever the suite runs on: the write lock is what this is about."""
    engine = db.create_engine(f"sqlite:///{tmp_path / 'group.db'}")
    await migrate.upgrade(engine)
    yield UnitOfWorkFactory(db.sessionmaker(engine))
    await engine.dispose()


async def test_settlements_queued_while_the_writer_waits_for_its_turn_share_its_transaction(
        uow: UnitOfWorkFactory) -> None:
    group = GroupCommit(uow)
    seen: list[int] = []

    async def settlement(unit: UnitOfWork) -> int:
        seen.append(id(unit))
        return len(seen)

    async with uow():  # another writer holds the write lock
        first = asyncio.create_task(group.run(settlement))
        await asyncio.sleep(0.05)  # the group's writer now waits for its turn
        more = [asyncio.create_task(group.run(settlement)) for _ in range(4)]
        await asyncio.sleep(0.05)
    results = await asyncio.gather(first, *more)
    assert sorted(results) == [1, 2, 3, 4, 5]
    assert len(set(seen)) == 1  # one transaction for all five


async def test_a_failing_settlement_fails_alone(uow: UnitOfWorkFactory) -> None:
    group = GroupCommit(uow)

    async def fine(unit: UnitOfWork) -> str:
        return "settled"

    async def failing(unit: UnitOfWork) -> str:
        raise RuntimeError("a bug in one settlement")

    async with uow():
        tasks = [asyncio.create_task(group.run(s)) for s in (fine, failing, fine)]
        await asyncio.sleep(0.05)
    answers = await asyncio.gather(*tasks, return_exceptions=True)
    assert answers[0] == answers[2] == "settled"
    assert isinstance(answers[1], RuntimeError)


async def test_settlements_hear_it_when_no_transaction_can_begin(
        uow: UnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No turn to write within SQLite's busy timeout: those waiting fail, rather than waiting on."""
    monkeypatch.setattr(db, "SQLITE_BUSY_SECONDS", 0.05)
    group = GroupCommit(uow)

    async def fine(unit: UnitOfWork) -> str:
        return "settled"

    async with uow():  # held past the timeout
        tasks = [asyncio.create_task(group.run(fine)) for _ in range(3)]
        answers = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
    assert all(isinstance(a, TimeoutError) for a in answers), answers
