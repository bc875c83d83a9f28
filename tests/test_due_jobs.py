"""Re-arming the due jobs after commits (bot/due_jobs.py): the first commit re-arms at once,
a busy stretch of commits re-arms once more after it, never once per commit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.due_jobs import REARM_GAP_SECONDS, DueJobs
from tests.conftest import eventually


async def test_a_hundred_commits_re_arm_twice_and_a_later_one_at_once() -> None:
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    jobs = DueJobs(lambda: now)
    asked: list[datetime] = []

    async def run() -> None:
        return None

    async def next_due(after: datetime) -> datetime | None:
        asked.append(after)
        return now + timedelta(hours=1)

    jobs.add("surveys", run, next_due)
    jobs.start()  # arms at once
    await eventually(lambda: _at_least(asked, 1))
    for _ in range(100):  # a busy stretch of commits right after
        jobs.rearm()
        await asyncio.sleep(0)
    await eventually(lambda: _at_least(asked, 2))  # the stretch's one re-arm, after the gap
    await asyncio.sleep(REARM_GAP_SECONDS * 2)
    assert len(asked) == 2
    jobs.rearm()  # quiet since: at once
    await eventually(lambda: _at_least(asked, 3))
    assert jobs.planned("surveys") == now + timedelta(hours=1)
    await jobs.shutdown()


async def _at_least(asked: list[datetime], count: int) -> bool:
    return len(asked) >= count
