"""APScheduler jobs: the outbox dispatcher, polled every second and woken on commit.

A commit that queues messages calls `wake()`, so a message caused by a click leaves at
once; the poll picks up messages that come due later and those left by a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.dispatcher import Dispatcher

log = logging.getLogger(__name__)

DISPATCH_JOB = "outbox-dispatch"


class Heartbeat:
    def __init__(self, dispatcher: Dispatcher, poll_seconds: float = 1.0):
        self.dispatcher = dispatcher
        self.poll_seconds = poll_seconds
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._running = asyncio.Lock()
        self._again = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._periodic: list[tuple[float, Callable[[], Awaitable[None]], str]] = []

    def every(self, seconds: float, job: Callable[[], Awaitable[None]], name: str) -> None:
        """A periodic job (surveys coming due, say); one run at a time, errors logged."""
        self._periodic.append((seconds, job, name))

    def start(self) -> None:
        self.scheduler.add_job(
            self.dispatch, "interval", seconds=self.poll_seconds, id=DISPATCH_JOB,
            replace_existing=True, max_instances=1, coalesce=True, misfire_grace_time=30,
        )
        for seconds, job, name in self._periodic:
            self.scheduler.add_job(_logged(job, name), "interval", seconds=seconds, id=name, replace_existing=True,
                                   max_instances=1, coalesce=True, misfire_grace_time=60)
        self.scheduler.start()
        self.wake()

    async def shutdown(self, grace_seconds: float = 10.0) -> None:
        """Stop polling, and let a dispatch under way settle its rows before the engine goes."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self._again = False
        try:
            async with asyncio.timeout(grace_seconds):
                async with self._running:
                    pass
        except TimeoutError:
            log.warning("outbox dispatch still running at shutdown; its leases will expire")
        for task in list(self._tasks):
            task.cancel()

    def wake(self) -> None:
        """Dispatch now (or right after the run under way), without waiting for the poll."""
        self._again = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if not self._running.locked():
            task = loop.create_task(self.dispatch())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def dispatch(self) -> None:
        if not self.scheduler.running:
            return
        if self._running.locked():
            self._again = True
            return
        async with self._running:
            self._again = True
            while self._again:
                self._again = False
                try:
                    await self.dispatcher.dispatch_due()
                except Exception:
                    log.exception("outbox dispatch failed; retrying on the next poll")
                    return


def _logged(job: Callable[[], Awaitable[None]], name: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await job()
        except Exception:
            log.exception("scheduled job %s failed; it runs again on its next turn", name)
    return run
