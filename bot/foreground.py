"""People first: work nobody is waiting on this instant waits for a lull in Slack's requests.

A Slack request is acked while the person who typed or clicked waits, and Slack gives up after
three seconds. Everything else the process does in the same event loop (a command's answer
after its ack, the outbox dispatcher, the scheduled jobs) takes the CPU from those acks. Each
such piece of work therefore waits, before it starts, for a lull: no Slack request under way,
and none ended, for `LULL_SECONDS` (`lull`). It never waits longer than its patience, so under
a burst that does not let up it still runs, that much late.

Measured with bench/acks.py at 100,000 releases: the dispatcher and the approval reminders (two
thousand releases waiting, one of them coming due every few seconds) took 40–80 ms of CPU a
second of an otherwise idle process; a 0.3 s flood of commands that met one of their runs had
its ack p99 raised by about that much, up to twice the bare Bolt app's.

The count of requests under way is per event loop (tests run several loops, one after another).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

#: A lull: no Slack request under way, and none ended, for this long. Not just "none under
#: way": between two of a burst's requests there is always a moment with none, and work that
#: started there would slow every ack that arrives a moment later.
LULL_SECONDS = 0.005


class _Loop:
    def __init__(self) -> None:
        self.serving = 0
        self.last_served = float("-inf")


_loops: WeakKeyDictionary[asyncio.AbstractEventLoop, _Loop] = WeakKeyDictionary()


def _here() -> _Loop:
    loop = asyncio.get_running_loop()
    state = _loops.get(loop)
    if state is None:
        state = _loops[loop] = _Loop()
    return state


@contextmanager
def serving() -> Iterator[None]:
    """Around a request someone waits on, from its arrival until its response is ready."""
    state = _here()
    state.serving += 1
    try:
        yield
    finally:
        state.serving -= 1
        state.last_served = asyncio.get_running_loop().time()


async def lull(patience: float) -> None:
    """Return in the next lull of requests, or `patience` seconds from now, whichever is first."""
    state = _here()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while (now := loop.time()) < deadline:
        if state.serving == 0 and now - state.last_served >= LULL_SECONDS:
            return
        await asyncio.sleep(LULL_SECONDS)
