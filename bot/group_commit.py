"""Settling many sends in few transactions: the dispatcher's group commit.

A fan-out sends a thousand direct messages; settling each in a transaction of its own makes
the database, not Slack, the limit (on SQLite every commit takes the one write lock in turn:
about 20 settled rows a second on a busy machine). Instead each send hands its settlement (the
statements that mark its row) to `GroupCommit.run` and waits; one writer runs every
settlement waiting at that moment in one transaction and commits once. A send waits at most
for the commit under way and its own, so the window between Slack taking a message and its
row being marked sent stays as short as a commit.

A settlement that fails (a bug, a lost connection) must not undo the others: the group is
then committed again one settlement at a time, and only the failing one raises.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from storage.uow import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

T = TypeVar("T")
Settlement = Callable[[UnitOfWork], Awaitable[Any]]

#: At most this many settlements share a transaction (a statement or three each).
MOST = 200


class GroupCommit:
    def __init__(self, uow: UnitOfWorkFactory, most: int = MOST):
        self.uow = uow
        self.most = most
        self._waiting: list[tuple[Settlement, asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def run(self, settlement: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run `settlement` in a transaction shared with the others waiting; its result once
        committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((settlement, future))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write())
        result: T = await asyncio.shield(future)
        return result

    async def _write(self) -> None:
        while self._waiting:
            group: list[tuple[Settlement, asyncio.Future[Any]]] = []
            try:
                results = await self._commit(group)
            except Exception as exc:
                if not group:  # no transaction began (no turn to write in time): they hear why
                    for _, future in self._take():
                        if not future.done():
                            future.set_exception(exc)
                    continue
                log.warning("a group of %d settlements failed; committing them one by one", len(group))
                for one in group:
                    try:
                        [result] = await self._commit([one])
                    except Exception as exc:  # only the failing one hears of it
                        if not one[1].done():
                            one[1].set_exception(exc)
                    else:
                        if not one[1].done():
                            one[1].set_result(result)
                continue
            for (_, future), result in zip(group, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _commit(self, group: list[tuple[Settlement, asyncio.Future[Any]]]) -> list[Any]:
        """Commit `group`; when it is empty, fill it with what waits once the unit of work has
        begun: on SQLite, once this writer's turn has come, so that what queued while it
        waited for its turn joins this transaction instead of waiting for the next."""
        async with self.uow() as uow:
            if not group:
                group += self._take()
            results = [await settlement(uow) for settlement, _ in group]
            await uow.commit()
        return results

    def _take(self) -> list[tuple[Settlement, asyncio.Future[Any]]]:
        """The next group: the first `most` settlements waiting."""
        group = self._waiting[:self.most]
        del self._waiting[:self.most]
        return group
