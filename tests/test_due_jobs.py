"""Re-arming the due jobs after commits (bot/due_jobs.py): the first commit re-arms at once,
a busy stretch of commits re-arms once more after it, never once per commit. The jobs and the
outbox dispatch wait for a lull in Slack's requests (bot/foreground.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import due_jobs, foreground, heartbeat
from bot.due_jobs import REARM_GAP_SECONDS, DueJobs
from bot.heartbeat import Heartbeat
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


async def _at_least(asked: list[Any], count: int) -> bool:
    return len(asked) >= count


async def test_a_run_waits_for_a_lull_in_slacks_requests_and_no_longer_than_its_patience(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A job that comes due while a Slack request is being acked runs right after it; under
    requests that never let up, it runs once its patience is out."""
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    jobs = DueJobs(lambda: now)
    runs: list[float] = []

    async def run() -> None:
        runs.append(asyncio.get_running_loop().time())

    jobs.add("surveys", run)
    jobs.start()
    with foreground.serving():
        jobs.poll("surveys")
        await asyncio.sleep(0.2)
        assert runs == []
    await eventually(lambda: _at_least(runs, 1))

    monkeypatch.setattr(due_jobs, "PATIENCE_SECONDS", 0.1)
    with foreground.serving():
        jobs.poll("surveys")
        await eventually(lambda: _at_least(runs, 2))
    await jobs.shutdown()


async def test_the_outbox_dispatch_waits_for_a_lull_in_slacks_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    dispatched: list[float] = []

    class Outbox:
        claiming = False
        clock = staticmethod(lambda: datetime(2026, 12, 1, 9, tzinfo=UTC))

        async def dispatch_due(self) -> None:
            dispatched.append(asyncio.get_running_loop().time())

        async def next_wake(self) -> datetime | None:
            return None

    beat = Heartbeat(Outbox(), poll_seconds=3600)  # type: ignore[arg-type]
    with foreground.serving():
        beat.start()  # wakes a dispatch at once
        await asyncio.sleep(0.2)
        assert dispatched == []
    await eventually(lambda: _at_least(dispatched, 1))

    monkeypatch.setattr(heartbeat, "PATIENCE_SECONDS", 0.1)
    with foreground.serving():
        beat.wake()
        await eventually(lambda: _at_least(dispatched, 2))
    await beat.shutdown()
