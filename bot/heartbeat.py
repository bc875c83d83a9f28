"""APScheduler jobs that drive the outbox dispatcher.

The durable schedule is the outbox itself: every communication and reminder is a row with a
`due_at`, written in the transaction that planned it. APScheduler only decides *when to
look*, so nothing is lost when the process dies and nothing needs a job store:

- a commit that queues messages calls `wake(gather=True)`, so a message caused by a click
  leaves at once (`GATHER_SECONDS` later, with the others of that moment);
- after every run, a one-off date job is set for the moment the next row comes due (or its
  conversation's pace opens), so a scheduled message leaves within moments of its due time;
- a poll every `poll_seconds` is the safety net: rows queued by another replica, leases left
  by a process that died, and whatever is due at start.

The periodic jobs (surveys, reminders) are woken at their own due times too (bot/due_jobs.py);
their poll is the slow safety net.

The jobs only wake a dispatch task the Heartbeat owns: APScheduler cancels the jobs it is
running when it shuts down, and a send cancelled half way is a send that may be repeated.
At shutdown the dispatcher stops claiming and the sends under way are given time to settle.

Each dispatch waits for a lull in Slack's requests first, a second at most (`bot.foreground`):
a message leaves a moment later, and the acks of a burst of commands are not slowed by it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import foreground
from bot.dispatcher import Dispatcher
from bot.due_jobs import DueJobs, NextDue

log = logging.getLogger(__name__)

#: The longest a dispatch waits for a lull in Slack's requests.
PATIENCE_SECONDS = 1.0
#: A commit's wake-up waits this long before it claims, so that the messages queued by the
#: commits of that moment leave in one dispatch: every dispatch reads and claims the outbox in
#: three units of work and plans its next wake-up, whatever it finds, and woken at each of
#: fifty commits a second it found one or two rows each time (bench/api.py). A message coming
#: due (its timer, the poll) is not held back.
GATHER_SECONDS = 0.05
DISPATCH_JOB = "outbox-dispatch"
NEXT_DUE_JOB = "outbox-next-due"


class Heartbeat:
    def __init__(self, dispatcher: Dispatcher, poll_seconds: float = 1.0):
        self.dispatcher = dispatcher
        self.poll_seconds = poll_seconds
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._running = asyncio.Lock()
        self._again = False
        self._gather = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_due: datetime | None = None
        self._periodic: list[tuple[float, str]] = []
        self.due = DueJobs(dispatcher.clock)
        #: When set, every job's safety-net poll runs this often instead of its own period.
        self.job_poll_seconds: float | None = None

    def every(self, seconds: float, job: Callable[[], Awaitable[object]], name: str,
              next_due: NextDue | None = None) -> None:
        """A periodic job (surveys coming due, say); one run at a time, errors logged. With
        `next_due` it is also woken when its next due time comes, and the poll is a safety net."""
        self.due.add(name, job, next_due)
        self._periodic.append((seconds, name))

    def rearm(self) -> None:
        """A commit may have created an earlier due time: ask the jobs again (on_commit)."""
        self.due.rearm()

    def start(self) -> None:
        self.dispatcher.claiming = True
        self.scheduler.add_job(
            self._tick, "interval", seconds=self.poll_seconds, id=DISPATCH_JOB,
            replace_existing=True, max_instances=1, coalesce=True, misfire_grace_time=30,
        )
        for seconds, name in self._periodic:
            self.scheduler.add_job(self._poll, "interval", args=[name], seconds=self.job_poll_seconds or seconds,
                                   id=name, replace_existing=True, max_instances=1, coalesce=True,
                                   misfire_grace_time=60)
        self.scheduler.start()
        self.due.start()
        self.wake()

    async def _poll(self, name: str) -> None:
        self.due.poll(name)

    async def shutdown(self, grace_seconds: float = 10.0) -> None:
        """Stop polling, and let a dispatch under way settle its rows before the engine goes."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self._again = False
        self.dispatcher.claiming = False
        await self.due.shutdown()
        try:
            async with asyncio.timeout(grace_seconds):
                async with self._running:
                    pass
        except TimeoutError:
            log.warning("outbox dispatch still running at shutdown; its leases will expire")
        for task in list(self._tasks):
            task.cancel()

    async def _tick(self) -> None:
        """What the APScheduler jobs run: a wake-up, over at once (see the module's docstring)."""
        self.wake()

    def wake(self, gather: bool = False) -> None:
        """Dispatch now (or right after the run under way), without waiting for the poll;
        `gather`: `GATHER_SECONDS` from now, with what the next commits queue."""
        self._again = True
        self._gather = self._gather or gather
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
                if self._gather:
                    await asyncio.sleep(GATHER_SECONDS)
                self._again = self._gather = False
                await foreground.lull(PATIENCE_SECONDS)
                try:
                    await self.dispatcher.dispatch_due()
                except Exception:
                    log.exception("outbox dispatch failed; retrying on the next poll")
                    return
            await self._plan_next()

    async def _plan_next(self) -> None:
        """Set the one-off job for the next moment a row may leave."""
        try:
            wake = await self.dispatcher.next_wake()
        except Exception:
            log.exception("could not read when the next message is due; the poll will find it")
            return
        if not self.scheduler.running:
            return
        if wake == self._next_due and (wake is None or self.scheduler.get_job(NEXT_DUE_JOB)):
            return  # already planned
        self._next_due = wake
        if wake is None:
            try:
                self.scheduler.remove_job(NEXT_DUE_JOB)
            except JobLookupError:
                pass
            return
        # The dispatcher's clock may be a test's; APScheduler runs on the wall clock.
        delay = max((wake - self.dispatcher.clock()).total_seconds(), 0.0)
        self.scheduler.add_job(
            self._tick, "date", run_date=datetime.now(UTC) + timedelta(seconds=delay), id=NEXT_DUE_JOB,
            replace_existing=True, misfire_grace_time=None,
        )

