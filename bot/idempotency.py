"""`Idempotency-Key` on every POST of the pipeline API (DESIGN.md §7): a pipeline that retries
after a timeout gets the first answer, and nothing happens twice.

The key is claimed with a unique (token, key) row before the request runs, and answered with
its status and body after; a retry finds the row and gets the stored answer. A retry that
arrives while the first is still running waits for its answer (briefly, then 409). The use
cases are idempotent beneath that too (the key is the release's origin key and the results'
submission), so should the first attempt die between acting and answering, its claim is
taken over after `STALE` and acting again changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.clock import Clock
from storage.uow import UnitOfWorkFactory

#: A claim unanswered this long belongs to an attempt that died; a retry takes it over.
STALE = timedelta(seconds=60)
#: How long a retry waits for the first attempt's answer before it is told to come back.
PATIENCE = 5.0


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


@dataclass(frozen=True)
class Claimed:
    """This request runs; answer it with `IdempotentRequests.answer`."""


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


Claim = Claimed | Replay | Mismatch | InProgress


class IdempotentRequests:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock):
        self.uow = uow
        self.clock = clock

    async def claim(self, token: str, key: str, print_: str) -> Claim:
        deadline = time.monotonic() + PATIENCE
        while True:
            found = await self._claim_once(token, key, print_)
            if not isinstance(found, InProgress) or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.1)

    async def _claim_once(self, token: str, key: str, print_: str) -> Claim:
        now = self.clock()
        async with self.uow() as uow:  # a short transaction: SQLite writers queue behind it
            if await uow.api_requests.claim(token, key, print_, now):
                await uow.commit()
                return Claimed()
            row = await uow.api_requests.get(token, key)
            if row is None:  # released meanwhile: claim it next time round
                return InProgress()
            if row.fingerprint != print_:
                return Mismatch()
            if row.status is not None:
                return Replay(row.status, dict(row.response or {}))
            if now - row.claimed_at > STALE and await uow.api_requests.take_over(token, key, row.claimed_at, now):
                await uow.commit()
                return Claimed()
        return InProgress()

    async def answer(self, token: str, key: str, status: int, body: dict[str, Any]) -> None:
        async with self.uow() as uow:
            await uow.api_requests.answer(token, key, status, body, self.clock())
            await uow.commit()

    async def forget(self, token: str, key: str) -> None:
        """The request failed unexpectedly: a retry runs it again."""
        async with self.uow() as uow:
            await uow.api_requests.release(token, key)
            await uow.commit()
