"""Jobs woken at their due time: surveys, approval and review reminders, the end of support.

A survey a person waits for must leave when it is due, not at the next poll. Each job says
when it next has something to do (`next_due(after)`: the first moment after its last run);
one timer per job wakes it then. A commit that queues messages (the unit of work's
on_commit: a release released, a release submitted) re-arms every job, because it may have
created an earlier due time; re-arms come at most every `REARM_GAP_SECONDS`, the first at
once (each reads every job's next due time: under a hundred commits a second they ran back
to back, and the pipelines' requests waited behind them, bench/api.py). The poll stays,
slow, as the safety net for facts another replica wrote and for anything refused on its turn.

Every run of a job goes through one task at a time per job, whatever woke it (its timer, the
poll, a re-arm), so a job never overlaps itself. Several replicas may run the same job at
the same moment: the unique keys of surveys, invitations and outbox rows keep each message
once, as before. `shutdown` cancels every timer and waits for the runs under way (cancelling
them after a grace period): nothing wakes after the engine is gone.

A run, and the reading of a job's next due time, wait for a lull in Slack's requests first,
`PATIENCE_SECONDS` at most (`bot.foreground`): reading two thousand waiting releases for the
approval reminders took tens of milliseconds from the acks of whatever burst it met.

The timers run on the event loop's clock; due times are in the bot's clock (a test's may be
moved). A timer that fires early finds nothing due and re-arms; one that a moved clock made
late is caught by the next re-arm or the poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot import foreground
from bot.clock import Clock

log = logging.getLogger(__name__)

NextDue = Callable[[datetime], Awaitable[datetime | None]]
#: Wake a little after the due time, so that the job's `now >= due` holds on arrival.
LATE_BY_SECONDS = 0.02
#: The least time between two re-arms after commits (by the event loop's clock).
REARM_GAP_SECONDS = 0.2
#: The longest a run or a re-arm waits for a lull in Slack's requests.
PATIENCE_SECONDS = 1.0


@dataclass
class _Job:
    name: str
    run: Callable[[], Awaitable[object]]
    next_due: NextDue | None
    #: When the last run started, by the bot's clock: everything due until then was handled.
    last_run: datetime | None = None
    timer: asyncio.TimerHandle | None = None
    due: datetime | None = None
    task: asyncio.Task[None] | None = None
    run_wanted: bool = False
    arm_wanted: bool = False
    runs: int = field(default=0)


class DueJobs:
    def __init__(self, clock: Clock):
        self.clock = clock
        self.jobs: dict[str, _Job] = {}
        self.running = False
        self._last_rearm = float("-inf")
        self._rearm_later: asyncio.TimerHandle | None = None

    def add(self, name: str, run: Callable[[], Awaitable[object]], next_due: NextDue | None = None) -> None:
        self.jobs[name] = _Job(name, run, next_due)

    def start(self) -> None:
        """Arm every job for its next due time (what came due while no replica ran is the
        poll's: its first turn comes `poll` seconds after start, as before)."""
        self.running = True
        self.rearm()

    def poll(self, name: str) -> None:
        """The slow safety net: run the job now."""
        job = self.jobs.get(name)
        if job is not None:
            self._kick(job, run=True)

    def rearm(self) -> None:
        """Something was committed that may come due before the planned wake-ups: ask again,
        now, or `REARM_GAP_SECONDS` after the last time (one re-arm for every commit between)."""
        if self._rearm_later is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        wait = self._last_rearm + REARM_GAP_SECONDS - loop.time()
        if wait <= 0:
            self._rearm_now()
        else:
            self._rearm_later = loop.call_later(wait, self._rearm_now)

    def _rearm_now(self) -> None:
        self._rearm_later = None
        self._last_rearm = asyncio.get_running_loop().time()
        for job in self.jobs.values():
            if job.next_due is not None:
                self._kick(job, run=False)

    def planned(self, name: str) -> datetime | None:
        """When the job is next woken (by the bot's clock); None when no timer is set."""
        job = self.jobs[name]
        return job.due if job.timer is not None else None

    async def shutdown(self, grace_seconds: float = 5.0) -> None:
        """Cancel every wake-up; let the step under way of each job (a run, or reading its next
        due time) finish, within `grace_seconds`, then cancel what is left and wait for it.

        Not cancelling at once matters: a query cancelled half way leaves the database driver's
        thread to answer a loop that may be closed by then."""
        self.running = False
        if self._rearm_later is not None:
            self._rearm_later.cancel()
            self._rearm_later = None
        tasks = []
        for job in self.jobs.values():
            if job.timer is not None:
                job.timer.cancel()
                job.timer = None
            job.run_wanted = job.arm_wanted = False
            if job.task is not None and not job.task.done():
                tasks.append(job.task)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
        if pending:
            log.warning("scheduled jobs still running at shutdown, cancelled: %s",
                        ", ".join(t.get_name() for t in pending))
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=grace_seconds)

    def _kick(self, job: _Job, *, run: bool) -> None:
        if not self.running:
            return
        job.run_wanted = job.run_wanted or run
        job.arm_wanted = True
        if job.task is not None and not job.task.done():
            return  # the task under way picks the wishes up when it is done
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        job.task = loop.create_task(self._work(job), name=f"due-job-{job.name}")

    async def _work(self, job: _Job) -> None:
        while self.running and (job.run_wanted or job.arm_wanted):
            await foreground.lull(PATIENCE_SECONDS)
            if not self.running:
                return
            if job.run_wanted:
                job.run_wanted = False
                job.last_run = self.clock()
                job.runs += 1
                try:
                    await job.run()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("scheduled job %s failed; it runs again on its next turn", job.name)
            if job.arm_wanted:
                job.arm_wanted = False
                await self._arm(job)

    async def _arm(self, job: _Job) -> None:
        if job.next_due is None or not self.running:
            return
        after = job.last_run or self.clock()
        try:
            due = await job.next_due(after)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not read when %s is next due; the poll will find it", job.name)
            return
        if job.timer is not None:
            job.timer.cancel()
            job.timer = None
        job.due = due
        if due is None or not self.running:
            return
        delay = max((due - self.clock()).total_seconds(), 0.0) + LATE_BY_SECONDS
        job.timer = asyncio.get_running_loop().call_later(delay, self._fire, job)

    def _fire(self, job: _Job) -> None:
        job.timer = None
        self._kick(job, run=True)
