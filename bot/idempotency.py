"""`Idempotency-Key` on every POST of the pipeline API (DESIGN.md §7): a pipeline that retries
after a timeout gets the first answer, and nothing happens twice.

A request first looks its key up (a read: no write lock). A retry finds the row and gets the
stored answer; one that arrives while the first attempt is still running waits for its answer
(briefly, then 409). A new request runs with its key *pending*: the first unit of work of the
request to commit claims the key, with a unique (token, key) row, in the same transaction as
what it did (storage/api.py, `PENDING`). Two attempts racing with one key cannot both commit:
the second finds the row taken, rolls back, and gets the first's answer. The answer is stored
after the reply, in a transaction shared with the other answers waiting then (a group
commit), while the pipeline already reads it: on SQLite a POST takes the one write lock once,
not three times. The use cases are idempotent beneath that too (the key is the release's
origin key and the results' submission), so should an attempt die between acting and
answering, its claim is taken over after `STALE` and acting again changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.group_commit import GroupCommit
from storage.api import PENDING, KeyTaken, PendingClaim
from storage.uow import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

__all__ = ["KeyTaken", "IdempotentRequests", "Fresh", "Replay", "Mismatch", "InProgress", "fingerprint"]

#: A claim unanswered this long belongs to an attempt that died; a retry takes it over.
STALE = timedelta(seconds=60)
#: How long a retry waits for the first attempt's answer before it is told to come back.
PATIENCE = 5.0


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


@dataclass(frozen=True)
class Fresh:
    """This request runs (`IdempotentRequests.running`); `stale_since`: the claim of an attempt
    that died, taken over when this one commits."""

    token: str
    key: str
    fingerprint: str
    stale_since: datetime | None = None


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Mismatch:
    """The key was used for a different request (another path or body)."""


@dataclass(frozen=True)
class InProgress:
    """The first attempt is still running."""


Lookup = Fresh | Replay | Mismatch | InProgress


class IdempotentRequests:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock):
        self.uow = uow
        self.clock = clock
        self._answers = GroupCommit(uow)
        self._storing: set[asyncio.Task[None]] = set()

    async def look_up(self, token: str, key: str, print_: str) -> Lookup:
        deadline = time.monotonic() + PATIENCE
        while True:
            found = await self._look_up_once(token, key, print_)
            if not isinstance(found, InProgress) or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.1)

    async def _look_up_once(self, token: str, key: str, print_: str) -> Lookup:
        async with self.uow(read_only=True) as uow:
            row = await uow.api_requests.get(token, key)
        if row is None:
            return Fresh(token, key, print_)
        if row.fingerprint != print_:
            return Mismatch()
        if row.status is not None:
            return Replay(row.status, dict(row.response or {}))
        if self.clock() - row.claimed_at > STALE:
            return Fresh(token, key, print_, stale_since=row.claimed_at)
        return InProgress()

    def pending(self, fresh: Fresh) -> PendingClaim:
        """The claim of a fresh request, for the task serving it."""
        return PendingClaim(fresh.token, fresh.key, fresh.fingerprint, self.clock(), fresh.stale_since,
                            asyncio.current_task())

    @contextmanager
    def running(self, pending: PendingClaim) -> Iterator[None]:
        """Within: the request's first commit claims its key (or raises `KeyTaken`)."""
        reset = PENDING.set(pending)
        try:
            yield
        finally:
            PENDING.reset(reset)

    def answer(self, pending: PendingClaim, status: int, body: dict[str, Any]) -> None:
        """Store the answer for the retries to come, without keeping the reply waiting."""
        async def store(uow: UnitOfWork) -> None:
            await uow.api_requests.answer(pending, status, body, self.clock())

        async def settle() -> None:
            try:
                await self._answers.run(store)
            except Exception:  # a retry then runs again; the use cases are idempotent beneath
                log.exception("could not store the answer of %s's request %r", pending.token, pending.key)

        task = asyncio.get_running_loop().create_task(settle())
        self._storing.add(task)
        task.add_done_callback(self._storing.discard)

    async def settled(self) -> None:
        """Wait for the answers still being stored (at shutdown, before the engine goes)."""
        while self._storing:
            await asyncio.wait(set(self._storing))

    async def forget(self, pending: PendingClaim) -> None:
        """The request failed unexpectedly: a retry runs it again."""
        if not pending.claimed:
            return
        async with self.uow() as uow:
            await uow.api_requests.release(pending.token, pending.key)
            await uow.commit()
