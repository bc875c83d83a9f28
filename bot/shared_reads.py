"""One reading of the records for everyone who asked the same question before it began.

When fifty people type `/release metrics` in the same minute, they ask one question. Reading
the year of records fifty times over makes the fiftieth answer wait for forty-nine readings
(bench/acks.py: answers 2–3 s late on a busy workspace). So a read command's answer is shared:

- a request is answered by a reading that **began after the request was made**, never by an
  older one, so a shared answer is as fresh as one read for that person alone: whoever asks
  after an approval sees it;
- if no such reading exists for the same question (the same key), the request begins one,
  and every request made before it began, still waiting for its turn, takes its answer.

Nothing is cached beyond that rule: a request made after the latest reading began always
reads again. The answers are kept per process, for the `KEEP` most recent questions.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

T = TypeVar("T")


@dataclass(frozen=True)
class _Reading:
    began: float
    answer: asyncio.Future[Any]


class SharedReads:
    """The latest reading per question, and who may take its answer."""

    KEEP = 256

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._latest: OrderedDict[Hashable, _Reading] = OrderedDict()

    def now(self) -> float:
        """The moment a request is made, on the clock readings are compared with."""
        return self._clock()

    async def read(self, key: Hashable, asked_at: float, compute: Callable[[], Awaitable[T]]) -> T:
        """The answer to `key` from a reading that began at or after `asked_at`: the latest
        one if it did (finished or still running), else a new one.

        A reading that failed fails everyone who took it (each is told, as if it had been
        their own); the next request made after it began reads again."""
        reading = self._latest.get(key)
        if reading is None or reading.began < asked_at:
            reading = _Reading(self._clock(), asyncio.ensure_future(compute()))
            self._latest[key] = reading
            while len(self._latest) > self.KEEP:
                self._latest.popitem(last=False)
        self._latest.move_to_end(key)
        # Shielded: one person's request being cancelled must not cancel the others' answer.
        return cast(T, await asyncio.shield(reading.answer))
